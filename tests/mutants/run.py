"""``make mutants``: plant each bug of ``catalog.MUTANTS`` in a copy of the repository, run its tests, report.

For each mutant: copy the repository (``git ls-files`` plus untracked files git does not ignore) into a temporary
directory, apply that one mutant there (the working tree is never touched), and run
``python -m pytest -x -q -p no:rerunfailures <its tests>`` in the copy, with ``PYTHONPATH`` at the copy (worker
processes the tests start import the copy too), within the mutant's time bound. One line per mutant:

- ``killed``: a test failed, as it must;
- ``SURVIVED``: every test passed with the bug in place (a hole in the tests);
- ``not applicable``: the snippet is not in the file exactly once (the code changed: re-target the entry);
- ``error``: the tests could not run (collection error, time bound exceeded, ...).

Exit status 1 if any mutant survived or erred, else 0.

    .venv/bin/python -m tests.mutants.run                     # every mutant, one at a time
    .venv/bin/python -m tests.mutants.run --list
    .venv/bin/python -m tests.mutants.run --only heartbeat-never-renews --only keeper-never-extends
    .venv/bin/python -m tests.mutants.run -j 2 --baseline     # two at once; first check the tests pass unmutated
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tests.mutants.catalog import MUTANTS, Mutant

ROOT = Path(__file__).resolve().parents[2]
#: Lines of a test run's output shown under a mutant that survived or erred, with ``--verbose``.
TAIL_LINES = 25


@dataclass(frozen=True)
class Result:
    mutant: Mutant
    status: str  # killed, SURVIVED, not applicable, error
    detail: str
    seconds: float
    output: str = ""


def repository_files(root: Path) -> list[str]:
    """Tracked files, and untracked ones git does not ignore (work in progress is mutated and tested too)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=root,
        capture_output=True,
        check=True,
    ).stdout
    return sorted({name for name in listed.decode().split("\0") if name and (root / name).is_file()})


def copy_repository(root: Path, files: Sequence[str], into: Path) -> None:
    for name in files:
        target = into / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / name, target)


def apply(mutant: Mutant, copy: Path) -> str | None:
    """Plant ``mutant`` in ``copy``; returns why it cannot be planted, or ``None``."""
    path = copy / mutant.file
    if not path.is_file():
        return f"{mutant.file} does not exist"
    text = path.read_text(encoding="utf-8")
    found = text.count(mutant.find)
    if found != 1:
        return f"snippet found {found} times in {mutant.file} (must be exactly once)"
    path.write_text(text.replace(mutant.find, mutant.replace), encoding="utf-8")
    return None


def run_tests(tests: Sequence[str], copy: Path, time_bound_s: float) -> tuple[int | None, str]:
    """pytest on ``tests`` in ``copy`` without reruns; (exit status, output), status ``None`` past the time bound."""
    env = dict(os.environ, PYTHONPATH=str(copy), PYTHONDONTWRITEBYTECODE="1")
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:rerunfailures", "-p", "no:cacheprovider", *tests]
    process = subprocess.Popen(
        command, cwd=copy, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        out, _ = process.communicate(timeout=time_bound_s)
        return process.returncode, out.decode(errors="replace")
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGINT)  # pytest tears its fixtures down (and the pools they started)
        try:
            out, _ = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            out, _ = process.communicate()
        return None, out.decode(errors="replace")


def judge(mutant: Mutant, files: Sequence[str], workdir: Path) -> Result:
    began = time.monotonic()
    copy = Path(tempfile.mkdtemp(prefix="mutant-", dir=workdir))
    try:
        copy_repository(ROOT, files, copy)
        problem = apply(mutant, copy)
        if problem is not None:
            return Result(mutant, "not applicable", problem, time.monotonic() - began)
        status, output = run_tests(mutant.tests, copy, mutant.time_bound_s)
    finally:
        shutil.rmtree(copy, ignore_errors=True)
    seconds = time.monotonic() - began
    if status is None:
        return Result(mutant, "error", f"time bound of {mutant.time_bound_s:g} s exceeded", seconds, output)
    if status == 0:
        return Result(mutant, "SURVIVED", "every test passed", seconds, output)
    if status == 1:
        failed = [line.split(" ", 1)[1] for line in output.splitlines() if line.startswith("FAILED ")]
        return Result(mutant, "killed", failed[0] if failed else "a test failed", seconds, output)
    return Result(mutant, "error", f"pytest exited with status {status}", seconds, output)


def baseline(mutants: Sequence[Mutant], files: Sequence[str], workdir: Path) -> bool:
    """The selected tests pass on an unmutated copy (else every "killed" below would mean nothing)."""
    tests = list(dict.fromkeys(test for mutant in mutants for test in mutant.tests))
    copy = Path(tempfile.mkdtemp(prefix="baseline-", dir=workdir))
    try:
        copy_repository(ROOT, files, copy)
        status, output = run_tests(tests, copy, sum(m.time_bound_s for m in mutants))
    finally:
        shutil.rmtree(copy, ignore_errors=True)
    if status != 0:
        print(output[-4000:])
        print(f"baseline: the tests fail without any mutant (status {status}); fix them first")
        return False
    print(f"baseline: {len(tests)} test selection(s) pass unmutated")
    return True


def report(result: Result, verbose: bool) -> None:
    name = result.mutant.name
    print(f"{name:<44} {result.mutant.layer:<11} {result.status:<15} {result.seconds:6.1f} s  {result.detail}")
    if verbose and result.status in ("SURVIVED", "error"):
        for line in result.output.splitlines()[-TAIL_LINES:]:
            print(f"    | {line}")
    sys.stdout.flush()


def select(only: Sequence[str]) -> list[Mutant]:
    if not only:
        return list(MUTANTS)
    names = {name.strip() for item in only for name in item.split(",") if name.strip()}
    unknown = names - {m.name for m in MUTANTS}
    if unknown:
        raise SystemExit(f"unknown mutant(s): {', '.join(sorted(unknown))} (see --list)")
    return [m for m in MUTANTS if m.name in names]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make mutants", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", default=[], metavar="NAME", help="run only these (repeatable)")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("-j", "--jobs", type=int, default=1, help="mutants tested at once (default 1)")
    parser.add_argument("--baseline", action="store_true", help="first check the selected tests pass unmutated")
    parser.add_argument("-v", "--verbose", action="store_true", help="show the end of a survivor's test output")
    args = parser.parse_args(argv)
    mutants = select(args.only)
    if args.list:
        for m in mutants:
            print(f"{m.name:<44} {m.layer:<11} {m.file}")
        return 0
    files = repository_files(ROOT)
    with tempfile.TemporaryDirectory(prefix="tasks-mutants-") as work:
        workdir = Path(work)
        if args.baseline and not baseline(mutants, files, workdir):
            return 2
        began = time.monotonic()
        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            results = []
            for result in pool.map(lambda m: judge(m, files, workdir), mutants):
                report(result, args.verbose)
                results.append(result)
    counts = Counter(r.status for r in results)
    summary = ", ".join(f"{counts[s]} {s}" for s in ("killed", "SURVIVED", "not applicable", "error") if counts[s])
    print(f"\n{len(results)} mutant(s) in {time.monotonic() - began:.0f} s: {summary}")
    return 1 if counts["SURVIVED"] or counts["error"] else 0


if __name__ == "__main__":
    sys.exit(main())
