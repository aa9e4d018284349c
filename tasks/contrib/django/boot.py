"""The first job module of a worker or scheduler in a Django project: importing it sets Django up.

The pool's worker processes start fresh (spawned, not forked), and each imports the job modules it is given.
``manage.py tasks worker`` names this module first, so each process runs ``django.setup()`` before anything
else: the apps load, ``settings.TASKS`` is read and the apps' ``jobs`` modules are imported (``apps.TasksConfig``).
Then each job found so far is wrapped to open and close its database connections as a request does
(``connections``). Where Django is already set up (the ``manage.py`` process itself) only the wrapping
happens. Without ``manage.py``, the same works as ``DJANGO_SETTINGS_MODULE=mysite.settings python -m tasks
worker tasks.contrib.django.boot``.
"""

from __future__ import annotations

import django
from django.apps import apps
from django.core.exceptions import ImproperlyConfigured

from .connections import manage_registered_jobs

if not apps.ready:
    django.setup()

if not apps.is_installed("tasks.contrib.django"):
    raise ImproperlyConfigured(
        'add "tasks.contrib.django" to INSTALLED_APPS: it reads settings.TASKS and imports the apps\' jobs modules'
    )

manage_registered_jobs()
