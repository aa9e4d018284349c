"""Settings: where the datastore is, the key prefix, and the signing secret.

Precedence: ``configure(...)`` in code, then the ``TASKS_URL`` / ``TASKS_PREFIX`` / ``TASKS_SECRET``
environment variables, then the defaults. With no URL at all the backend is the SQLite file ``tasks.db`` in
the current directory (``TASKS_URL`` may also be a bare path ending in ``.db``). Nothing connects at import
time: the backend is built the first time a job is dispatched or a worker starts, from the settings in force
then, and the worker's first log line names it. Eager mode (``configure(eager=True)`` or ``TASKS_EAGER=1``) is
read at that moment too: dispatches then run at once in the caller (docs/testing.md).
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus, urlsplit

from .errors import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from .backends.base import Backend
    from .observe.middleware import Middleware

#: The backend used when neither ``configure(url=...)`` nor ``TASKS_URL`` names one: a SQLite file in the
#: current directory, so a first run needs no server. Production and more than one machine: a ``redis://`` URL.
DEFAULT_URL = "sqlite:///tasks.db"
DEFAULT_PREFIX = "tasks"

_PREFIX_RE = re.compile(r"^[A-Za-z0-9_.\-]+$")


@dataclass(frozen=True)
class Settings:
    """The settings in force; ``secret`` signs every payload when set (and is required for dill); ``eager`` runs
    every dispatch at once in the caller instead of sending it (for tests and local runs: docs/testing.md)."""

    url: str = DEFAULT_URL
    prefix: str = DEFAULT_PREFIX
    secret: str | None = field(default=None, repr=False)  # a repr lands in logs and tracebacks
    eager: bool = False


_lock = threading.Lock()
_overrides: dict[str, Any] = {}
_backend: Backend | None = None


def configure(
    *,
    url: str | None = None,
    prefix: str | None = None,
    secret: str | None = None,
    eager: bool | None = None,
    middleware: Sequence[Middleware] | None = None,
) -> Settings:
    """Set any of ``url``, ``prefix``, ``secret``, ``eager`` for this process; drops the backend built from older
    settings (so the next dispatch reads them all again). ``middleware`` replaces the lifecycle hooks
    (``tasks.Middleware``, docs/observability.md) and alone keeps the backend."""
    global _backend
    if middleware is not None:
        from .observe import middleware as hooks

        hooks.install(middleware)
        if url is None and prefix is None and secret is None and eager is None:
            return settings()
    if prefix is not None and not _PREFIX_RE.fullmatch(prefix):
        raise ConfigurationError(f"prefix {prefix!r} may hold only letters, digits, '_', '.' and '-'")
    if url is not None:
        normalize_url(url)  # fail now, not at the first dispatch
    if eager is not None and not isinstance(eager, bool):
        raise ConfigurationError(f"eager must be True or False, got {eager!r}")
    with _lock:
        for key, value in (("url", url), ("prefix", prefix), ("secret", secret), ("eager", eager)):
            if value is not None:
                _overrides[key] = value
        if _backend is not None:
            _backend.close()
        _backend = None
    return settings()


def reset() -> None:
    """Forget ``configure()`` calls, the middleware and the cached backend (tests use this between cases)."""
    global _backend
    from .observe import middleware as hooks

    hooks.install(())
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
        eager=_flag("TASKS_EAGER"),
    )
    return replace(base, **_overrides)


def overrides() -> dict[str, Any]:
    """What ``configure()`` set, to put back later with ``reset()`` then ``configure(**saved)`` (test fixtures)."""
    with _lock:
        return dict(_overrides)


#: How an environment variable says yes or no (any case; unset or empty is no).
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")


def _flag(name: str) -> bool:
    """A yes/no environment variable; a value that is neither fails, rather than be read as a guess."""
    value = os.environ.get(name, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigurationError(f"{name}={os.environ[name]!r} is not understood: use 1 (on) or 0 (off)")


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
SCHEMES = ("sqlite://", "redis://", "rediss://", "unix://", "memory://", "redis+cluster://", "rediss+cluster://")


def normalize_url(url: str) -> str:
    """Check the scheme of ``url``; a bare path ending in ``.db`` becomes a ``sqlite:///`` URL.

    Raises ``ConfigurationError`` listing the schemes we speak, or saying how to write a Redis URL that
    redis-py would misread; the message shows the URL masked.
    """
    if "://" not in url and url.endswith(".db"):
        return "sqlite:///" + url  # an absolute path keeps its slash: sqlite:////var/lib/app/tasks.db
    if not url.startswith(SCHEMES):
        raise ConfigurationError(
            f"unsupported backend URL {mask_url(url)!r}: use sqlite:///path/to/tasks.db (or a bare path ending "
            "in .db), redis://host:6379/0, rediss:// (TLS), unix:///path/to/redis.sock, "
            "redis+cluster://host:7000 (Redis Cluster), or memory://"
        )
    if url.startswith("sqlite://"):
        from .backends.sqlite import path_from_url

        path_from_url(url)  # a URL naming no file fails here, not at the first dispatch
    if url.startswith(REDIS_SCHEMES):
        _check_redis_url(url)
    if url.startswith(CLUSTER_SCHEMES):
        from .backends.redis.slots import plain_url

        _check_redis_url(plain_url(url))
    return url


#: The URL schemes redis-py reads (``memory://`` is ours: it names a fakeredis server and is never parsed).
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
#: The URL schemes of a Redis Cluster (``backends/redis/cluster.py``).
CLUSTER_SCHEMES = ("redis+cluster://", "rediss+cluster://")


def _check_redis_url(url: str) -> None:
    """Refuse a Redis URL that redis-py cannot read, or would read with a password cut short.

    A reserved character in a password ends the part of the URL that holds it: ``redis://:pa/ss@host/0``
    reads as host ``""``, port ``pa``, and redis-py's own error (a bare ``ValueError``) quotes the pieces.
    So its error is dropped (``from None``: a chained traceback would show it) for one that names the fix.
    """
    from redis.connection import parse_url

    try:
        parse_url(url)  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
        misread = _password_cut_short(url)
    except ValueError:
        misread = True
    if misread:
        raise ConfigurationError(
            f"cannot read the backend URL {mask_url(url)!r}: percent-encode the reserved characters of the user "
            "name and password ('/' as %2F, '@' as %40, ':' as %3A, '?' as %3F, '#' as %23, '%' as %25; "
            "urllib.parse.quote(password, safe='') does it), and give the port, the db and numeric options as numbers"
        ) from None


def _password_cut_short(url: str) -> bool:
    """Whether an ``@`` after the host part of a Redis URL says a reserved character cut its userinfo short.

    ``redis://:12/34@host/0`` parses without error, as port 12 on localhost, with no password and the path
    ``/34@host/0``. A db is a number and a ``unix://`` URL's host part is empty or ends with ``@``, so an
    ``@`` in the path or fragment, in a query without a host, or after a unix URL's non-empty host part, is
    a password cut short. An ``@`` in a query value behind a real host (``?username=me@corp``) is allowed.
    """
    parts = urlsplit(url)
    if "@" in parts.netloc:
        return False  # the userinfo ends at its last "@", as redis-py reads it: a raw "@" in a password is fine
    if parts.scheme == "unix":
        return bool(parts.netloc) and "@" in parts.path + parts.query + parts.fragment
    return "@" in parts.path + parts.fragment or ("@" in parts.query and not parts.hostname)


def backend_from_url(url: str, *, prefix: str = DEFAULT_PREFIX) -> Backend:
    """Build the backend a URL names (no I/O happens until it is used)."""
    url = normalize_url(url)
    if url.startswith("sqlite://"):
        from .backends.sqlite import SQLiteBackend

        return SQLiteBackend.from_url(url, prefix=prefix)
    from .backends.redis import RedisBackend

    if url.startswith("memory://"):
        return RedisBackend.in_memory(url, prefix=prefix)
    if url.startswith(CLUSTER_SCHEMES):
        from .backends.redis.cluster import ClusterBackend

        return ClusterBackend.from_url(url, prefix=prefix)
    return RedisBackend.from_url(url, prefix=prefix)


def mask_url(url: str) -> str:
    """``url`` with every secret in it replaced by ``***``, fit for a log line, an error or a process title.

    Masked, whatever the form: the password of the userinfo (everything after its first ``:``; a userinfo
    with no ``:`` is masked whole, as old Redis URLs put the password there: ``redis://s3cret@host``), and the
    value of every query parameter whose name looks secret (``SECRET_PARAMETER_MARKS``). Percent-encoding
    changes nothing: the encoded text is masked as it stands. The host, port, db and other options stay
    readable.

    A malformed URL is masked conservatively: the userinfo runs up to the *last* ``@`` after the scheme, even
    one in the path or query, because a password holding a raw ``/``, ``?`` or ``#`` puts its ``@`` there (an
    ``@`` in a harmless query value masks more than it needs to); a secret parameter's value runs up to the
    next ``&name=`` or ``;name=``, so a raw ``&`` or ``#`` in it stays masked. The two masks may overlap;
    they are merged into one ``***``. A ``sqlite://`` URL holds a file path, never credentials: an ``@`` in it
    is part of a file name.
    """
    spans = [span for span in (_userinfo_secret(url), *_secret_parameters(url)) if span is not None]
    masked: list[str] = []
    end = 0
    for start, stop in _merged(spans):
        masked += [url[end:start], "***"]
        end = stop
    return "".join(masked) + url[end:]


#: A query parameter is secret when its name (percent-decoded, lower case) holds one of these. Beyond
#: ``password`` (redis-py's; ``ssl_password`` too), the usual names of credentials are masked as well, in case
#: a proxy or a wrapper reads them: masking a harmless option costs a log line its readability, missing a
#: secret costs the secret. ``key`` counts only as a whole word (``ssl_keyfile`` is a path, shown).
SECRET_PARAMETER_MARKS = ("pass", "pwd", "secret", "token", "auth", "credential")

_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://")
#: The start of a query parameter: its separator and its name, up to the ``=`` where its value starts.
_PARAMETER_RE = re.compile(r"[?&;]([^=&;?#]*)=")
#: Where a parameter's value ends: at the next ``&name=`` or ``;name=``, else at the end of the URL.
_NEXT_PARAMETER_RE = re.compile(r"[&;][^=&;?#]*=")


def _userinfo_secret(url: str) -> tuple[int, int] | None:
    """Where the password of ``url``'s userinfo lies, or None when there is none to mask."""
    scheme = _SCHEME_RE.match(url)
    if scheme is not None and scheme.group().lower() == "sqlite://":
        return None
    start = scheme.end() if scheme is not None else 0  # no scheme: malformed, the whole text is suspect
    at = url.rfind("@", start)
    if at <= start:
        return None
    colon = url.find(":", start, at)
    first = colon + 1 if colon >= 0 else start
    return (first, at) if first < at else None


def _secret_parameters(url: str) -> list[tuple[int, int]]:
    """Where the values of ``url``'s secret query parameters lie (searched in the whole URL: see ``mask_url``)."""
    spans = []
    for parameter in _PARAMETER_RE.finditer(url):
        if _secret_name(parameter.group(1)):
            following = _NEXT_PARAMETER_RE.search(url, parameter.end())
            stop = following.start() if following is not None else len(url)
            if stop > parameter.end():
                spans.append((parameter.end(), stop))
    return spans


def _secret_name(name: str) -> bool:
    lowered = unquote_plus(name).lower()
    return any(mark in lowered for mark in SECRET_PARAMETER_MARKS) or "key" in re.split(r"[^a-z0-9]+", lowered)


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """``spans`` sorted, with those that overlap or touch joined, so one secret gets one ``***``."""
    merged: list[tuple[int, int]] = []
    for start, stop in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], stop))
        else:
            merged.append((start, stop))
    return merged
