"""``prepare`` is typed by the job's signature: a chain or batch member with a wrong argument is a mypy error,
as a wrong ``delay()`` is."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from tests.unit.test_typing import run_mypy

SNIPPET = """
    from tasks import BatchHandle, ChainHandle, batch, chain, job
    from tasks.workflows.calls import Call


    @job
    def fetch(url: str) -> str:
        return url


    @job
    def resize(image_id: int, width: int = 100) -> int:
        return image_id


    ok: Call[str] = fetch.prepare("https://x")
    c: ChainHandle = chain(fetch.prepare("https://x"), resize.prepare(1, width=2)).delay()
    b: BatchHandle = batch([resize.prepare(i) for i in range(3)]).then(fetch.prepare("done")).delay()

    chain(fetch.prepare(1))  # ERROR wrong-type
    batch([resize.prepare("x")])  # ERROR wrong-member
    resize.prepare(1, height=2)  # ERROR unknown-keyword
    wrong: Call[int] = fetch.prepare("x")  # ERROR wrong-result
"""


@pytest.mark.timeout(90)
def test_mypy_checks_prepared_calls_against_the_job_signature(tmp_path: Path) -> None:
    source = textwrap.dedent(SNIPPET).lstrip()
    expected = {n: line.split("# ERROR ")[1] for n, line in enumerate(source.splitlines(), 1) if "# ERROR " in line}
    done = run_mypy(tmp_path, "snippet.py", source)
    flagged = {int(m.group(1)) for m in re.finditer(r"snippet\.py:(\d+): error:", done.stdout)}
    assert flagged == set(expected), f"mypy flagged lines {sorted(flagged)}, expected {expected}\n{done.stdout}"
