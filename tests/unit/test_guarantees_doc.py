"""docs/guarantees.md names, for every documented promise, the tests that prove it: each id must name a test."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.support.processes import ROOT

DOC = ROOT / "docs" / "guarantees.md"
SHORT = {"W/": "tests/worker/", "C/": "tests/contract/", "S/": "tests/scheduler/"}


def node_ids(text: str) -> list[str]:
    """Every test id of the doc's tables, with its shorthands expanded (see the doc's introduction)."""
    ids: list[str] = []
    for line in text.splitlines():
        if not line.startswith("| ") or line.startswith(("| promise", "|---")):
            continue
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        redis = [_full(code) for code in re.findall(r"`([^`]+)`", cells[1])]
        parametrized = [r for r in redis if "[" in r] or redis
        for cell in cells[1:]:
            for code in map(_full, re.findall(r"`([^`]+)`", cell)):
                if code.startswith("…"):
                    code = parametrized[-1].split("[")[0] + code[1:]
                if code.startswith("tests"):
                    ids.append(code.split("[")[0] if "*" in code else code)
            if "(both)" in cell or "(the same three)" in cell:
                ids += [r.replace("[redis]", "[sqlite]") for r in redis if "[redis]" in r]
    return sorted(set(ids))


def _full(code: str) -> str:
    for short, path in SHORT.items():
        code = code.replace(short, path)
    return code


@pytest.mark.timeout(60)
def test_every_test_the_guarantees_table_names_exists() -> None:
    ids = node_ids(DOC.read_text(encoding="utf-8"))
    assert len(ids) > 50
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *ids],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=50,
    )
    missing = [line for line in (done.stdout + done.stderr).splitlines() if "not found" in line]
    assert missing == [], "\n".join(missing)
