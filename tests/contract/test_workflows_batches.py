"""Batches on every backend: members sent in one step, counters moved by the member transitions, then / catch /
finally_ exactly once, cancellation of the members not yet started, add(), and a chain as a member."""

from __future__ import annotations

import pytest

import tasks
from tasks.model import Lease
from tasks.workflows.records import member_of
from tests import jobs
from tests.contract.conftest import Target
from tests.contract.workflow_support import backend, drain, run, take


def callbacks_run(names: list[str]) -> list[str]:
    return [n for n in names if n == "tests.wf_seen"]


def test_the_members_are_sent_together_and_counted(app: Target) -> None:
    handle = (
        tasks.batch([jobs.wf_step.prepare(str(i)) for i in range(5)], name="five")
        .then(jobs.wf_seen.prepare("then"))
        .catch(jobs.wf_seen.prepare("catch"))
        .finally_(jobs.wf_seen.prepare("finally"))
        .delay()
    )
    # All members are ready at once (one bulk send)
    assert len(take(count=100)) == 5
    progress = handle.progress()
    assert (progress.total, progress.pending, progress.name, progress.percent) == (5, 5, "five", 0.0)


def test_counters_callbacks_and_results(app: Target) -> None:
    handle = (
        tasks.batch([jobs.wf_step.prepare(str(i)) for i in range(5)])
        .then(jobs.wf_seen.prepare("then"))
        .catch(jobs.wf_seen.prepare("catch"))
        .finally_(jobs.wf_seen.prepare("finally"))
        .delay()
    )
    names = drain()
    assert names.count("tests.wf_step") == 5
    assert len(callbacks_run(names)) == 2  # then and finally, not catch
    progress = handle.wait(timeout=5)
    assert (progress.succeeded, progress.failed, progress.pending, progress.percent) == (5, 0, 0, 100.0)
    assert progress.state == "succeeded" and progress.finished_at is not None
    assert sorted(handle.results().values()) == ["0", "1", "2", "3", "4"]
    assert tasks.find_batch(handle.id) == handle
    assert tasks.find_batch("0" * 32 + ".default") is None


def test_the_first_failure_fires_catch_and_cancels_the_members_not_yet_started(app: Target) -> None:
    # Given a batch of a failing member and four others, with callbacks
    handle = (
        tasks.batch([jobs.wf_boom.prepare(), *(jobs.wf_step.prepare(str(i)) for i in range(4))])
        .then(jobs.wf_seen.prepare("then"))
        .catch(jobs.wf_seen.prepare("catch"))
        .finally_(jobs.wf_seen.prepare("finally"))
        .delay()
    )
    # When the failing member and one other are taken, and the failure is written first
    boom, running = take(count=2)
    assert run(boom)

    # Then the three members not yet started are cancelled and never run (only catch is ready); the running one
    # finishes, and its success makes the batch end: finally_ fires, then does not
    [catch] = take(count=100)
    assert '"catch"' in catch.payload
    progress = handle.progress()
    assert (progress.failed, progress.cancelled, progress.pending, progress.state) == (1, 3, 1, "cancelled")
    assert run(running)
    [final_callback] = take(count=100)
    assert '"finally"' in final_callback.payload
    final = handle.progress()
    assert (final.succeeded, final.failed, final.cancelled, final.state) == (1, 1, 3, "failed")


def test_catch_fires_once_and_then_is_skipped(app: Target) -> None:
    handle = (
        tasks.batch([jobs.wf_boom.prepare(), jobs.wf_boom.prepare()])
        .then(jobs.wf_seen.prepare("then"))
        .catch(jobs.wf_seen.prepare("catch"))
        .finally_(jobs.wf_seen.prepare("finally"))
        .allow_failures()
        .delay()
    )
    names = drain()
    seen = [n for n in names if n == "tests.wf_seen"]
    assert len(seen) == 3  # catch once, then (failures allowed), finally
    assert handle.progress().failed == 2


def test_a_cancelled_member_never_runs_and_its_result_raises(app: Target) -> None:
    handle = (
        tasks.batch([jobs.wf_step.prepare("a"), jobs.wf_step.prepare("b")]).finally_(jobs.wf_seen.prepare("f")).delay()
    )
    assert handle.cancel()
    assert not handle.cancel()  # once
    assert drain() == ["tests.wf_seen"]  # only finally_
    progress = handle.progress()
    assert (progress.cancelled, progress.state) == (2, "cancelled")
    assert handle.cancelled()
    [queue, job_id] = backend().workflow_members(handle.ref)[0]
    with pytest.raises(tasks.JobCancelled):
        tasks.JobHandle(job_id, queue).result(timeout=1)


def test_a_stale_member_completion_moves_no_counter(app: Target) -> None:
    handle = tasks.batch([jobs.wf_step.prepare("a")]).then(jobs.wf_seen.prepare("then")).delay()
    [lease] = take()
    stale = Lease(**{**lease.__dict__, "token": "stale"})
    ref = member_of(lease.payload)
    assert ref is not None
    assert not backend().complete_member(stale, '"a"', now=1.0, result_ttl_s=60, workflow=ref.workflow)
    assert handle.progress().pending == 1
    assert run(lease)
    assert not run(lease)  # a second write of the same outcome is refused: then fires once
    assert drain() == ["tests.wf_seen"]


def test_add_grows_a_running_batch_also_from_inside_a_member(app: Target) -> None:
    handle = tasks.batch([jobs.wf_grow.prepare(2)]).then(jobs.wf_seen.prepare("then")).delay()
    handle.add([jobs.wf_step.prepare("x")])
    names = drain()
    assert names.count("tests.wf_step") == 3 and names[-1] == "tests.wf_seen"
    progress = handle.progress()
    assert (progress.total, progress.succeeded, progress.state) == (4, 4, "succeeded")
    with pytest.raises(RuntimeError, match="not running"):
        handle.add([jobs.wf_step.prepare("late")])


def test_a_chain_is_a_member_and_members_see_their_workflow(app: Target) -> None:
    inner = tasks.chain(jobs.wf_double.prepare(1), jobs.wf_double.prepare_piped(), pipe=True)
    handle = tasks.batch([inner, jobs.wf_seen.prepare("plain")]).then(jobs.wf_seen.prepare("then")).delay()
    names = drain()
    assert names.count("tests.wf_double") == 2
    progress = handle.progress()
    assert (progress.total, progress.succeeded, progress.state) == (2, 2, "succeeded")
    results = handle.results()
    assert 4 in results.values()
    seen = [v for v in results.values() if isinstance(v, list)]
    assert seen == [["plain", handle.id, None]]


def test_a_failing_chain_member_cancels_the_batch(app: Target) -> None:
    inner = tasks.chain(jobs.wf_boom.prepare(), jobs.wf_step.prepare("never"))
    handle = tasks.batch([inner, tasks.chain(jobs.wf_step.prepare("x"), jobs.wf_step.prepare("y"))]).delay()
    [first] = take()
    assert run(first)  # fails: the other chain's first step was not started
    assert drain() == []
    progress = handle.progress()
    assert (progress.failed, progress.cancelled, progress.state) == (1, 1, "failed")


def test_a_running_member_sees_its_batch_cancelled_and_chain_steps_see_their_chain(app: Target) -> None:
    # Given a batch whose first member is taken, then cancelled while it "runs"
    handle = tasks.batch([jobs.wf_cancelled.prepare(), jobs.wf_step.prepare("never")]).delay()
    [lease] = take()
    assert handle.cancel()
    assert run(lease)
    assert handle.results() == {lease.job_id: True}

    # And a chain's step sees its chain (and no batch)
    chain = tasks.chain(jobs.wf_seen.prepare("step")).delay()
    drain()
    assert chain.result() == ["step", None, chain.id]
