"""Settings: where the datastore is, the key prefix, and the signing secret.

Precedence: ``configure(...)`` in code, then the ``TASKS_URL`` / ``TASKS_PREFIX`` / ``TASKS_SECRET``
environment variables, then the defaults. With no URL at all the backend is the SQLite file ``tasks.db`` in
the current directory (``TASKS_URL`` may also be a bare path ending in ``.db``). Nothing connects at import
time: the backend is built the first time a job is dispatched or a worker starts, from the settings in force
then, and the worker's first log line names it.
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from .errors import ConfigurationError

if TYPE_CHECKING:
    from .backends.base import Backend

#: The backend used when neither ``configure(url=...)`` nor ``TASKS_URL`` names one: a SQLite file in the
#: current directory, so a first run needs no server. Production and more than one machine: a ``redis://`` URL.
DEFAULT_URL = "sqlite:///tasks.db"
DEFAULT_PREFIX = "tasks"

_PREFIX_RE = re.compile(r"^[A-Za-z0-9_.\-]+$")


@dataclass(frozen=True)
class Settings:
    """The settings in force; ``secret`` signs every payload when set (and is required for dill)."""

    url: str = DEFAULT_URL
    prefix: str = DEFAULT_PREFIX
    secret: str | None = None


_lock = threading.Lock()
_overrides: dict[str, str | None] = {}
_backend: Backend | None = None


def configure(*, url: str | None = None, prefix: str | None = None, secret: str | None = None) -> Settings:
    """Set any of ``url``, ``prefix``, ``secret`` for this process; drops the backend built from older settings."""
    global _backend
    if prefix is not None and not _PREFIX_RE.fullmatch(prefix):
        raise ConfigurationError(f"prefix {prefix!r} may hold only letters, digits, '_', '.' and '-'")
    if url is not None:
        normalize_url(url)  # fail now, not at the first dispatch
    with _lock:
        for key, value in (("url", url), ("prefix", prefix), ("secret", secret)):
            if value is not None:
                _overrides[key] = value
        if _backend is not None:
            _backend.close()
        _backend = None
    return settings()


def reset() -> None:
    """Forget ``configure()`` calls and the cached backend (tests use this between cases)."""
    global _backend
    with _lock:
        _overrides.clear()
        if _backend is not None:
            _backend.close()
        _backend = None


def settings() -> Settings:
    """The settings in force now: overrides, then environment, then defaults."""
    base = Settings(
        url=os.environ.get("TASKS_URL") or DEFAULT_URL,
        prefix=os.environ.get("TASKS_PREFIX") or DEFAULT_PREFIX,
        secret=os.environ.get("TASKS_SECRET") or None,
    )
    return replace(base, **_overrides)  # type: ignore[arg-type]


def get_backend() -> Backend:
    """The process-wide backend for the settings in force, built on first use."""
    global _backend
    with _lock:
        if _backend is None:
            current = settings()
            if not _PREFIX_RE.fullmatch(current.prefix):  # TASKS_PREFIX did not go through configure()'s check
                raise ConfigurationError(f"prefix {current.prefix!r} may hold only letters, digits, '_', '.' and '-'")
            _backend = backend_from_url(current.url, prefix=current.prefix)
        return _backend


#: The URL schemes ``backend_from_url`` builds a backend for.
SCHEMES = ("sqlite://", "redis://", "rediss://", "unix://", "memory://")


def normalize_url(url: str) -> str:
    """Check the scheme of ``url``; a bare path ending in ``.db`` becomes a ``sqlite:///`` URL.

    Raises ``ConfigurationError`` listing the schemes we speak.
    """
    if "://" not in url and url.endswith(".db"):
        return "sqlite:///" + url  # an absolute path keeps its slash: sqlite:////var/lib/app/tasks.db
    if not url.startswith(SCHEMES):
        raise ConfigurationError(
            f"unsupported backend URL {mask_url(url)!r}: use sqlite:///path/to/tasks.db (or a bare path ending "
            "in .db), redis://host:6379/0, rediss:// (TLS), unix:///path/to/redis.sock, or memory://"
        )
    if url.startswith("sqlite://"):
        from .backends.sqlite import path_from_url

        path_from_url(url)  # a URL naming no file fails here, not at the first dispatch
    return url


def backend_from_url(url: str, *, prefix: str = DEFAULT_PREFIX) -> Backend:
    """Build the backend a URL names (no I/O happens until it is used)."""
    url = normalize_url(url)
    if url.startswith("sqlite://"):
        from .backends.sqlite import SQLiteBackend

        return SQLiteBackend.from_url(url, prefix=prefix)
    from .backends.redis import RedisBackend

    if url.startswith("memory://"):
        return RedisBackend.in_memory(url, prefix=prefix)
    return RedisBackend.from_url(url, prefix=prefix)


def mask_url(url: str) -> str:
    """``url`` with any password replaced by ``***``, fit for a log line."""
    return re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", url)
