"""Settings of the example shop: SQLite for Django, and tasks configured with settings.TASKS."""

from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = "example-only: set your own from the environment"
DEBUG = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
USE_TZ = True
ROOT_URLCONF = "shop_site.urls"
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "shop.sqlite3"}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"  # the worker prints the mails it sends

INSTALLED_APPS = [
    "tasks.contrib.django",  # reads TASKS, finds each app's jobs.py, adds `manage.py tasks`
    "orders",
]

# Defaults for TASKS_URL / TASKS_PREFIX / TASKS_SECRET: a variable set in the environment wins.
TASKS = {
    "URL": f"sqlite:///{BASE_DIR / 'tasks.db'}",
}
