"""Start ``python -m tasks ...`` as a real process, with the test's backend and prefix."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def tasks_env(url: str, prefix: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"TASKS_URL": url, "TASKS_PREFIX": prefix, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"})
    env.update(extra)
    return env


def start_tasks(
    args: Sequence[str], *, url: str, prefix: str, log: Path | None = None, **env: str
) -> subprocess.Popen[bytes]:
    """``python -m tasks ARGS`` in its own process group, output to ``log`` (or discarded)."""
    out = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115 - owned by the child
    return subprocess.Popen(
        [sys.executable, "-m", "tasks", *args],
        cwd=ROOT,
        env=tasks_env(url, prefix, **env),
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def run_tasks(
    args: Sequence[str], *, url: str, prefix: str, cwd: Path = ROOT, timeout: float = 30, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m tasks ARGS`` to the end in ``cwd``; ``tests`` stays importable through PYTHONPATH."""
    return subprocess.run(
        [sys.executable, "-m", "tasks", *args],
        cwd=cwd,
        env=tasks_env(url, prefix, **env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
