"""tasks in a Django project: add ``"tasks.contrib.django"`` to ``INSTALLED_APPS``.

- ``settings.TASKS`` configures tasks (``URL``, ``PREFIX``, ``SECRET``, ``APP``, ``AUTODISCOVER``; see ``conf``),
  and each installed app's ``jobs`` module is imported when Django starts;
- ``python manage.py tasks worker|queues|failed|retry|...`` is ``python -m tasks`` inside the project;
- ``after_commit(job).delay(...)`` sends the job once the current database transaction commits, and never
  if it rolls back.

Needs the ``django`` extra: ``pip install 'tasks[django]'``. See docs/integrations.md.
"""

from .transaction import AfterCommit, after_commit

__all__ = ["AfterCommit", "after_commit"]
