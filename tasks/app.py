"""The application the commands load: its job modules, and its settings under ``[tool.tasks]`` in pyproject.toml.

The job modules come from the command line, else ``TASKS_APP`` (comma-separated), else ``app`` under
``[tool.tasks]`` in ./pyproject.toml. Every mistake gets an error that names the fix: a file path given as a
module, an unknown key in the table (with a "did you mean"), modules that define no job at all.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import os
import pkgutil
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import registry
from .errors import ConfigurationError
from .retry import UNKNOWN_JOB_GRACE_S

#: The keys ``[tool.tasks]`` may hold, and what each one means.
PROJECT_KEYS = {
    "app": "the job modules to import: a module name or a list of them",
    "unknown_job_grace": "seconds a job whose name a worker does not know is put back before it fails (600)",
}

#: Modules a package's jobs are usually in, most likely first: named when a package defines no job itself.
LIKELY_JOB_MODULES = ("jobs", "tasks", "workers", "background")
#: Source text that says a module defines jobs.
_DEFINES_JOBS = re.compile(r"@(?:tasks\.)?(?:job|scheduled)\b")


@dataclass(frozen=True)
class ProjectSettings:
    """What ``[tool.tasks]`` in pyproject.toml says (the defaults when there is no such file or table)."""

    app: tuple[str, ...] = ()
    unknown_job_grace_s: float = UNKNOWN_JOB_GRACE_S


def project_settings(path: Path | None = None) -> ProjectSettings:
    """``[tool.tasks]`` of ``path`` (default ./pyproject.toml), checked: an unknown key is an error."""
    path = path or Path.cwd() / "pyproject.toml"
    if not path.exists():
        return ProjectSettings()
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 only
        import tomli as tomllib  # type: ignore[import-not-found,no-redef,unused-ignore]
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8")).get("tool", {}).get("tasks", {})
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"cannot read {path}: {exc}") from None
    if not isinstance(table, dict):
        raise ConfigurationError(f"[tool.tasks] in {path} must be a table")
    _check_keys(table, path)
    return ProjectSettings(app=_app(table.get("app", ()), path), unknown_job_grace_s=_grace(table, path))


def _check_keys(table: dict[str, Any], path: Path) -> None:
    for key in table:
        if key not in PROJECT_KEYS:
            close = difflib.get_close_matches(key, PROJECT_KEYS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            known = "; ".join(f"{name}: {meaning}" for name, meaning in PROJECT_KEYS.items())
            raise ConfigurationError(f"unknown key {key!r} under [tool.tasks] in {path}{hint}. Known keys: {known}")


def _app(value: object, path: Path) -> tuple[str, ...]:
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, (list, tuple)) or not all(isinstance(name, str) for name in names):
        raise ConfigurationError(
            f'app under [tool.tasks] in {path} must be a module name or a list: app = ["myapp.jobs"]'
        )
    return tuple(names)


def _grace(table: dict[str, Any], path: Path) -> float:
    value = table.get("unknown_job_grace", UNKNOWN_JOB_GRACE_S)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < float("inf"):
        raise ConfigurationError(
            f"unknown_job_grace under [tool.tasks] in {path} must be a number of seconds >= 0, got {value!r}"
        )
    return float(value)


def app_modules(explicit: Sequence[str]) -> list[str]:
    """Modules to import: ``explicit``, else ``TASKS_APP``, else ``[tool.tasks] app`` in ./pyproject.toml."""
    if explicit:
        return list(explicit)
    env = os.environ.get("TASKS_APP", "")
    if env.strip():
        return [m.strip() for m in env.split(",") if m.strip()]
    return list(project_settings().app)


def load_app(explicit: Sequence[str], *, required: bool) -> list[str]:
    """Import the application's modules (which fills the registry); returns their names."""
    modules = app_modules(explicit)
    if not modules and required:
        raise ConfigurationError(
            "no job modules named: pass them (python -m tasks worker myapp.jobs), set TASKS_APP=myapp.jobs, "
            'or add app = ["myapp.jobs"] under [tool.tasks] in pyproject.toml'
        )
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    for name in modules:
        dotted = dotted_name(name)
        if dotted != name:
            raise ConfigurationError(f"job module {name!r} is a file path: name the module instead, {dotted}")
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise ConfigurationError(f"cannot import job module {name!r}: {exc}") from exc
    return modules


def dotted_name(name: str) -> str:
    """The module a file path names (``myapp/jobs.py`` and ``myapp/jobs`` -> ``myapp.jobs``); a module name as it is."""
    if not ("/" in name or "\\" in name or name.endswith(".py")):
        return name
    path = name.replace("\\", "/").removesuffix(".py").strip("/")
    parts = [part for part in path.split("/") if part not in ("", ".")]
    if parts and parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def require_jobs(modules: Sequence[str]) -> None:
    """Refuse to run a worker that knows no job: every job it took would fail. Names where the jobs may be."""
    if registry.names():
        return
    likely = [candidate for name in modules for candidate in likely_job_modules(name)]
    where = (
        f"; the jobs may be in {' or '.join(likely)}: python -m tasks worker {likely[0]}"
        if likely
        else ": name the modules that define @job functions (python -m tasks worker myapp.jobs)"
    )
    raise ConfigurationError(
        f"no job is registered after importing {', '.join(modules)}, so a worker has nothing to run{where}"
    )


def likely_job_modules(package: str) -> list[str]:
    """Submodules of ``package`` that define jobs (their source has ``@job`` or ``@scheduled``), else those named
    like job modules (``jobs``, ``tasks``, ...); nothing for a plain module."""
    module = sys.modules.get(package)
    search = getattr(module, "__path__", None)
    if search is None:
        return []
    found = sorted(info.name for info in pkgutil.iter_modules(search))
    defining = [f"{package}.{name}" for name in found if _defines_jobs(f"{package}.{name}")]
    if defining:
        return defining
    return [f"{package}.{name}" for name in LIKELY_JOB_MODULES if name in found]


def _defines_jobs(name: str) -> bool:
    """Whether the source of module ``name`` (read, not imported) declares jobs."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return False
    origin = spec.origin if spec is not None else None
    if not origin or not origin.endswith(".py"):
        return False
    try:
        return _DEFINES_JOBS.search(Path(origin).read_text(encoding="utf-8", errors="replace")) is not None
    except OSError:
        return False
