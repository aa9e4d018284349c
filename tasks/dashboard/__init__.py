"""A web dashboard for queues, jobs, failures, workers and schedules: an ASGI app (``tasks[dashboard]``).

``app()`` returns the app, to serve with uvicorn or to mount in FastAPI, Starlette or Django (ASGI);
``python -m tasks dashboard`` serves it. Every read and write goes through the ``Backend`` contract, so it
works alike on Redis and SQLite. See docs/dashboard.md.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from ..backends.base import Backend
from ..errors import ConfigurationError

#: The environment variable holding the access token (``--token`` without a value reads it too).
TOKEN_ENV = "TASKS_DASHBOARD_TOKEN"

__all__ = ["TOKEN_ENV", "app"]


def app(
    backend: Backend | None = None,
    *,
    token: str | None = None,
    read_only: bool = False,
    secret: bytes | None = None,
    allowed_hosts: Sequence[str] | None = None,
) -> Any:
    """The dashboard as an ASGI app.

    ``backend``: the one to show (default: the configured one, ``tasks.configure``/``TASKS_URL``, opened on
    first use). ``token``: when given (or set in ``TASKS_DASHBOARD_TOKEN``), every request must carry it; give
    one whenever the app is reachable from another machine. ``read_only``: hide and refuse every action.
    ``secret``: the key of the CSRF tokens (default: random per process; give the same one to every process
    serving the app behind one address). ``allowed_hosts``: the only host names requests may be addressed to
    (default: any; ``python -m tasks dashboard`` without a token allows only loopback names, so that a page of
    another site cannot reach it through DNS rebinding).
    """
    try:
        from .web import build_app
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ConfigurationError(f"the dashboard needs its extra: pip install 'tasks[dashboard]' ({exc})") from exc
    token = token or os.environ.get(TOKEN_ENV) or None
    if token is not None and len(token) < 16:
        raise ConfigurationError(
            "a dashboard token must be at least 16 characters (e.g. python -c "
            "'import secrets; print(secrets.token_urlsafe(24))')"
        )
    return build_app(
        _backend_source(backend), read_only=read_only, token=token, secret=secret, allowed_hosts=allowed_hosts
    )


def _backend_source(backend: Backend | None) -> Any:
    if backend is not None:
        return lambda: backend
    from .. import config

    return config.get_backend
