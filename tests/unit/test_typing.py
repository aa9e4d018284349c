"""Signatures stay typed through @job: mypy sees the function's own parameters on delay, later and on()."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.support.processes import ROOT

MYPY = Path(sys.executable).with_name("mypy")


def run_mypy(tmp_path: Path, name: str, source: str) -> subprocess.CompletedProcess[str]:
    """``mypy --strict`` on ``source`` written to ``tmp_path/name``, with the project's mypy settings."""
    snippet = tmp_path / name
    snippet.write_text(source)
    return subprocess.run(
        [str(MYPY), "--strict", "--no-error-summary", "--cache-dir", str(tmp_path / "cache"), str(snippet)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=80,
    )

SNIPPET = """
    from datetime import timedelta

    from tasks import JobHandle, job


    @job(queue="emails")
    def send_email(to: str, subject: str = "") -> bool:
        return True


    @job
    def ping() -> str:
        return "pong"


    good: JobHandle[bool] = send_email.delay("a@example.com", subject="hi")
    later: JobHandle[bool] = send_email.later(timedelta(minutes=5), to="a@example.com")
    moved: JobHandle[bool] = send_email.on("high").delay(to="a@example.com")
    pong: JobHandle[str] = ping.delay()
    inline: bool = send_email("a@example.com")

    send_email.delay(to=1)  # ERROR wrong-type
    send_email.delay()  # ERROR missing
    send_email.delay("a@example.com", cc="b@example.com")  # ERROR unknown-keyword
    send_email.later(10, to=1)  # ERROR later-wrong-type
    send_email.on("high").delay(to=1)  # ERROR on-wrong-type
    wrong: JobHandle[str] = send_email.delay("a@example.com")  # ERROR wrong-result
    ping.delay(1)  # ERROR too-many
"""


@pytest.mark.timeout(90)
def test_mypy_checks_dispatch_calls_against_the_job_signature(tmp_path: Path) -> None:
    # Given a snippet with correct dispatches and lines marked "# ERROR <tag>"
    source = textwrap.dedent(SNIPPET).lstrip()
    expected = {
        number: line.split("# ERROR ")[1]
        for number, line in enumerate(source.splitlines(), start=1)
        if "# ERROR " in line
    }

    # When mypy --strict checks it
    done = run_mypy(tmp_path, "snippet.py", source)

    # Then exactly the marked lines are errors, and the correct calls pass
    flagged = {int(m.group(1)) for m in re.finditer(r"snippet\.py:(\d+): error:", done.stdout)}
    assert flagged == set(expected), f"mypy flagged lines {sorted(flagged)}, expected {expected}\n{done.stdout}"
    assert done.returncode == 1, done.stdout + done.stderr
    assert 'incompatible type "int"; expected "str"' in done.stdout


ASYNC_SNIPPET = """
    from tasks import JobHandle, job


    @job(name="snippet.fetch")
    async def fetch(url: str) -> int:
        return 200


    handle: JobHandle[int] = fetch.delay("https://example.com")
    status: int = handle.result()
"""


@pytest.mark.timeout(90)
def test_mypy_types_the_handle_of_an_async_job_by_its_awaited_result(tmp_path: Path) -> None:
    # Given an async job whose handle is annotated with the value the worker stores
    # When mypy --strict checks it, Then it passes
    done = run_mypy(tmp_path, "async_snippet.py", textwrap.dedent(ASYNC_SNIPPET).lstrip())
    assert done.returncode == 0, done.stdout
