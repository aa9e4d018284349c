"""The Django app: when Django starts, read ``settings.TASKS`` and import the project's job modules."""

from __future__ import annotations

import importlib
import os

from django.apps import AppConfig
from django.conf import settings
from django.utils.module_loading import autodiscover_modules

from . import conf


class TasksConfig(AppConfig):
    """``"tasks.contrib.django"`` in ``INSTALLED_APPS``.

    ``ready()`` fills the ``TASKS_*`` variables ``settings.TASKS`` gives and the environment leaves unset (see
    ``conf``), then imports every installed app's ``jobs`` module and each module of ``TASKS['APP']``, so that
    the registry knows every job in any process of the project: a web process, a shell, a worker process.
    Nothing connects here: the backend is built at the first dispatch, as anywhere else.
    """

    name = "tasks.contrib.django"
    label = "tasks_django"  # "tasks" is a likely name for a project's own app
    verbose_name = "tasks"

    def ready(self) -> None:
        options = conf.read(getattr(settings, "TASKS", None))
        conf.fill_environment(options.environment, os.environ)
        if options.autodiscover:
            autodiscover_modules("jobs")
        for module in options.app:
            importlib.import_module(module)
