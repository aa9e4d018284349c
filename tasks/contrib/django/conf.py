"""``settings.TASKS``: the Django project's defaults for the ``TASKS_*`` environment variables.

Precedence, highest first: ``tasks.configure()`` (and ``--url`` on the command line), the ``TASKS_URL`` /
``TASKS_PREFIX`` / ``TASKS_SECRET`` environment variables, ``settings.TASKS``, the defaults of ``tasks.config``.
``settings.TASKS`` fills each variable that the environment leaves unset, when Django starts. So one
settings.py serves every environment (a deployment overrides a value with its variable, as for any twelve-factor
app), and every process the project starts, the worker pool's processes among them, sees the same values
without reading settings.py again.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field

from django.core.exceptions import ImproperlyConfigured

from ...config import normalize_url
from ...errors import ConfigurationError

#: The keys of ``settings.TASKS`` that stand for an environment variable, and the variable each fills.
ENVIRONMENT_KEYS = {"URL": "TASKS_URL", "PREFIX": "TASKS_PREFIX", "SECRET": "TASKS_SECRET"}
#: Every key ``settings.TASKS`` may hold: ``APP`` lists job modules to import besides the apps' own ``jobs``
#: modules; ``AUTODISCOVER`` (default True) says whether to import those.
KEYS = (*ENVIRONMENT_KEYS, "APP", "AUTODISCOVER")


@dataclass(frozen=True)
class DjangoTasksSettings:
    """``settings.TASKS``, checked."""

    #: Environment variable -> the value ``settings.TASKS`` gives it (only the keys it names).
    environment: dict[str, str] = field(default_factory=dict, repr=False)  # holds the secret
    app: tuple[str, ...] = ()
    autodiscover: bool = True


def read(value: object) -> DjangoTasksSettings:
    """Check ``settings.TASKS`` (``None`` when the project has none); raises ``ImproperlyConfigured`` naming the fix."""
    if value is None:
        return DjangoTasksSettings()
    if not isinstance(value, Mapping):
        raise ImproperlyConfigured(
            f"settings.TASKS must be a dict, e.g. {{'URL': 'redis://localhost:6379/0'}}; got {value!r}"
        )
    for key in value:
        if key not in KEYS:
            close = difflib.get_close_matches(str(key), KEYS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ImproperlyConfigured(
                f"settings.TASKS has an unknown key {key!r}{hint}: the keys are {', '.join(KEYS)}"
            )
    environment = {ENVIRONMENT_KEYS[key]: _text(value, key) for key in ENVIRONMENT_KEYS if value.get(key) is not None}
    if "TASKS_URL" in environment:
        try:
            normalize_url(environment["TASKS_URL"])  # fail when Django starts, not at the first dispatch
        except ConfigurationError as exc:
            raise ImproperlyConfigured(f"settings.TASKS['URL']: {exc}") from None
    return DjangoTasksSettings(environment=environment, app=_modules(value.get("APP")), autodiscover=_flag(value))


def fill_environment(values: Mapping[str, str], environ: MutableMapping[str, str]) -> list[str]:
    """Set each variable of ``values`` that ``environ`` leaves unset (or empty); returns the names it set."""
    filled = [name for name in values if not environ.get(name)]
    for name in filled:
        environ[name] = values[name]
    return filled


def _text(value: Mapping[str, object], key: str) -> str:
    text = value[key]
    if not isinstance(text, str) or not text:
        shown = "a value" if key == "SECRET" else repr(text)  # never a secret in an error message
        raise ImproperlyConfigured(f"settings.TASKS[{key!r}] must be a non-empty string, got {shown}")
    return text


def _modules(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    modules = [value] if isinstance(value, str) else value
    if not isinstance(modules, (list, tuple)) or not all(isinstance(name, str) and name for name in modules):
        raise ImproperlyConfigured(
            f"settings.TASKS['APP'] must be a list of module names, e.g. ['myproject.jobs']; got {value!r}"
        )
    return tuple(modules)


def _flag(value: Mapping[str, object]) -> bool:
    flag = value.get("AUTODISCOVER", True)
    if not isinstance(flag, bool):
        raise ImproperlyConfigured(f"settings.TASKS['AUTODISCOVER'] must be True or False, got {flag!r}")
    return flag
