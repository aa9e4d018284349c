"""Start ``python -m tasks ...`` as a real process, with the test's backend and prefix."""

from __future__ import annotations

import contextlib
import os
import signal
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


def session_members(session: int) -> list[int]:
    """Pids of every live process of ``session`` (a pool started by ``start_tasks`` leads its own session).

    A worker process leads a process group of its own, so a pool is not one process group; it stays one
    session, which also holds worker processes whose supervisor died (their parent is then init).
    """
    members = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) == session and fields[0] != "Z":
                members.append(int(entry))
    return members


def signal_session(session: int, signum: int) -> None:
    """Send ``signum`` to every process of ``session`` (the supervisor and every worker process)."""
    for pid in session_members(session):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)


def kill_session(session: int) -> None:
    """SIGKILL every process of ``session`` at once, as a machine losing power: all are frozen first, so none
    sees another die and reacts."""
    signal_session(session, signal.SIGSTOP)
    signal_session(session, signal.SIGKILL)
