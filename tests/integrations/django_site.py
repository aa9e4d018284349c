"""A real Django project, written into a test's own folder: settings on SQLite, one app with a model and jobs.

The ``shop`` app has an ``Order`` model and a ``jobs`` module whose jobs use the ORM; ``settings.TASKS`` points
tasks at a SQLite file beside Django's own database. Tests run its ``manage.py`` in subprocesses, as a user would.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

MANAGE_PY = """\
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "site_config.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
"""

SETTINGS_PY = """\
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = "not-a-secret: a test project"
DEBUG = True
USE_TZ = True
INSTALLED_APPS = ["tasks.contrib.django", "shop"]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "site.sqlite3"}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
TASKS = {"URL": f"sqlite:///{BASE_DIR / 'tasks.db'}", "PREFIX": "shop"}
"""

MODELS_PY = """\
from django.db import models


class Order(models.Model):
    email = models.EmailField()
    receipt_sent = models.BooleanField(default=False)
"""

MIGRATION_PY = """\
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [
        migrations.CreateModel(
            name="Order",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("email", models.EmailField(max_length=254)),
                ("receipt_sent", models.BooleanField(default=False)),
            ],
        ),
    ]
"""

JOBS_PY = """\
from django.db import connection

from tasks import Fail, job

from shop.models import Order


@job(queue="receipts")
def send_receipt(order_id: int) -> str:
    order = Order.objects.get(pk=order_id)
    order.receipt_sent = True
    order.save(update_fields=["receipt_sent"])
    return f"receipt for order {order_id} sent to {order.email}"


@job(queue="refunds", max_attempts=1)
def refund(order_id: int) -> None:
    raise Fail(f"order {order_id} was never paid")


@job(queue="checks")
def connection_state() -> str:
    opened = connection.connection is not None
    Order.objects.count()  # uses the connection (opens one if none is open)
    return "inherited an open connection" if opened else "started without a connection"
"""

FILES = {
    "manage.py": MANAGE_PY,
    "site_config/__init__.py": "",
    "site_config/settings.py": SETTINGS_PY,
    "shop/__init__.py": "",
    "shop/models.py": MODELS_PY,
    "shop/jobs.py": JOBS_PY,
    "shop/migrations/__init__.py": "",
    "shop/migrations/0001_initial.py": MIGRATION_PY,
}


def write_project(root: Path) -> Path:
    """Write the project into ``root``; returns ``root``."""
    for name, text in FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def manage(root: Path, *args: str, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
    """``python manage.py ARGS`` in the project, to the end; fails the test when it does not exit in time."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=root,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def shell(root: Path, code: str, **env: str) -> str:
    """Run ``code`` in ``manage.py shell`` (Django set up, the project's settings in force); returns what it printed."""
    done = manage(root, "shell", "-c", code, **env)
    assert done.returncode == 0, f"manage.py shell failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout
