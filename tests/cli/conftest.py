"""Helpers of the CLI tests: ``python -m tasks`` as a real process, from any working directory."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from tests.support.processes import ROOT, tasks_env


def tasks_cli(
    args: Sequence[str], *, url: str, prefix: str, cwd: Path = ROOT, timeout: float = 60, **env: str
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


def start_line(output: str) -> str:
    """The worker's first log line: the one that names the backend, the queues and the jobs."""
    lines = [line for line in output.splitlines() if "starting" in line and "backend" in line]
    assert lines, f"no start line in:\n{output}"
    return lines[0]


def table(output: str) -> list[list[str]]:
    """The rows of a table the CLI printed, header first, cells split on runs of spaces."""
    return [line.split() for line in output.splitlines() if line.strip()]
