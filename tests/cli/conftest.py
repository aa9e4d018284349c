"""Helpers of the CLI tests: ``python -m tasks`` as a real process, from any working directory."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

from tests.support.processes import ROOT, run_tasks


def tasks_cli(
    args: Sequence[str], *, url: str, prefix: str, cwd: Path = ROOT, timeout: float = 60, **env: str
) -> subprocess.CompletedProcess[str]:
    """``run_tasks`` with the longer time bound the CLI tests allow."""
    return run_tasks(args, url=url, prefix=prefix, cwd=cwd, timeout=timeout, **env)


def start_line(output: str) -> str:
    """The worker's first log line: the one that names the backend, the queues and the jobs."""
    lines = [line for line in output.splitlines() if "starting" in line and "backend" in line]
    assert lines, f"no start line in:\n{output}"
    return lines[0]


def table(output: str) -> list[list[str]]:
    """The rows of a table the CLI printed, header first, cells split on runs of spaces."""
    return [line.split() for line in output.splitlines() if line.strip()]
