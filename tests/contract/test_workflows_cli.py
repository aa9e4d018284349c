"""``python -m tasks batches`` and ``python -m tasks batch ID`` as real processes, on Redis and on SQLite."""

from __future__ import annotations

import pytest

import tasks
from tests import jobs
from tests.contract.conftest import Target
from tests.contract.workflow_support import run, take
from tests.support.processes import run_tasks

pytestmark = pytest.mark.timeout(90)


def cli(target: Target, *args: str) -> tuple[int, str, str]:
    done = run_tasks(args, url=target.url, prefix=target.prefix)
    return done.returncode, done.stdout, done.stderr


def test_batches_lists_progress_and_batch_shows_one(shared_target: Target) -> None:
    tasks.config.configure(url=shared_target.url, prefix=shared_target.prefix)
    # Given an empty store, then a batch of three with one member run
    assert cli(shared_target, "batches")[1].startswith("no batches")
    b = tasks.batch([jobs.wf_step.prepare(str(i)) for i in range(3)], name="thumbs").delay()
    [lease] = take()
    run(lease)

    # When the listing and one batch are asked for
    code, out, err = cli(shared_target, "batches")
    assert code == 0, err
    [row] = [line for line in out.splitlines() if line.startswith(b.id)]
    assert "thumbs" in row and "batch" in row and "33%" in row and "1/3" in row

    code, out, err = cli(shared_target, "batch", b.id)
    assert code == 0, err
    assert "state      running" in out and "succeeded 1, failed 0, cancelled 0" in out
    assert "members    queued 2, succeeded 1" in out

    # Then a wrong or unknown id is a clear error
    code, _, err = cli(shared_target, "batch", "nope")
    assert code != 0 and "not a batch or chain id" in err
    code, _, err = cli(shared_target, "batch", "0" * 32 + ".default")
    assert code != 0 and "no batch or chain" in err
