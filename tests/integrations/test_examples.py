"""Every example runs with its one command (examples/README.md), so none can rot.

Each runs on a copy of its folder, so a run leaves nothing in the repository and never meets a developer's own.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"

#: Each example's script, and lines its walk-through prints when everything worked.
COMMANDS = {
    "quickstart": (
        "run_demo.py",
        ["charge_card    -> failed for good", "queue    ready  scheduled", "worker exited with status 0"],
    ),
    "fastapi_app": ("run.py", ["the report: {'day': '2026-11-29'", "worker exited with status 0"]),
    "django_shop": ("run.py", ['"confirmed": true', "'not-an-address'} -> 400", "worker exited with status 0"]),
}


def test_every_example_has_its_command_here_and_in_the_readme() -> None:
    folders = {path.name for path in EXAMPLES.iterdir() if path.is_dir() and not path.name.startswith((".", "_"))}
    readme = (EXAMPLES / "README.md").read_text(encoding="utf-8")

    assert folders == set(COMMANDS)
    for name, (script, _) in COMMANDS.items():
        assert f"examples/{name}/{script}" in readme


@pytest.mark.timeout(120)
@pytest.mark.rerun_once("runs a worker pool and a web server in subprocesses; a stall can miss their bounds")
@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_the_example_runs_with_one_command(name: str, tmp_path: Path) -> None:
    script, expected = COMMANDS[name]
    copy = shutil.copytree(EXAMPLES / name, tmp_path / name, ignore=shutil.ignore_patterns("*.db*", "*.sqlite3*"))

    done = subprocess.run(
        [sys.executable, str(copy / script)],
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        capture_output=True,
        text=True,
        timeout=90,
    )

    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    for line in expected:
        assert line in done.stdout, f"{line!r} not in:\n{done.stdout}\n{done.stderr}"
