"""Prometheus exposition of the job metrics (needs ``pip install 'tasks[metrics]'``): ``asgi_app()`` to mount in a
web app, ``wsgi_app()``, and the collector behind ``python -m tasks metrics``. See docs/observability.md."""

from __future__ import annotations

from .observe.prometheus import TasksCollector, asgi_app, registry_for, wsgi_app

__all__ = ["TasksCollector", "asgi_app", "registry_for", "wsgi_app"]
