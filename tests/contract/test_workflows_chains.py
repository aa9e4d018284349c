"""Chains on every backend: the next step is enqueued by the transition that records the current step's success,
a stale completion enqueues nothing, and ``on_failure`` fires exactly once."""

from __future__ import annotations

import pytest

import tasks
from tasks.model import ErrorInfo, Lease
from tasks.workflows.records import WorkflowRef, member_of
from tests import jobs
from tests.contract.conftest import Target
from tests.contract.workflow_support import backend, drain, run, take


def test_a_chain_runs_its_steps_in_order_one_at_a_time(app: Target) -> None:
    # Given a chain of three steps
    handle = tasks.chain(jobs.wf_step.prepare("a"), jobs.wf_step.prepare("b"), jobs.wf_step.prepare("c")).delay()

    # Then only the first step is ready; each success enqueues the next, in the same transition
    for key in ("a", "b", "c"):
        [lease] = take(count=10)
        assert f'"args":["{key}"]' in lease.payload
        assert take() == []  # nothing else until this step ends
        assert run(lease)
    assert take() == []
    progress = handle.wait(timeout=5)
    assert (progress.total, progress.succeeded, progress.pending, progress.state) == (3, 3, 0, "succeeded")
    assert handle.result() == "c"
    assert tasks.find_chain(handle.id) == handle


def test_pipe_passes_each_result_as_the_next_first_argument(app: Target) -> None:
    handle = tasks.chain(
        jobs.wf_double.prepare(3), jobs.wf_double.prepare_piped(), jobs.wf_double.prepare_piped(plus=1), pipe=True
    ).delay()
    drain()
    assert handle.result() == (3 * 2 * 2) * 2 + 1


def test_a_stale_completion_enqueues_nothing_and_counts_nothing(app: Target) -> None:
    handle = tasks.chain(jobs.wf_step.prepare("a"), jobs.wf_step.prepare("b")).delay()
    [lease] = take()
    stale = Lease(**{**lease.__dict__, "token": "stale"})
    ref = member_of(lease.payload)
    assert ref is not None
    assert not backend().complete_member(stale, '"a"', now=1.0, result_ttl_s=60, workflow=ref.workflow)
    assert take() == []
    assert handle.progress().pending == 2
    assert run(lease)  # the real holder still completes, once
    assert drain() == ["tests.wf_step"]


def test_a_step_that_fails_for_good_ends_the_chain_and_fires_on_failure_once(app: Target) -> None:
    # Given a chain whose second step fails, with an on_failure callback
    handle = (
        tasks.chain(jobs.wf_step.prepare("a"), jobs.wf_boom.prepare("bad"), jobs.wf_step.prepare("never"))
        .on_failure(jobs.wf_seen.prepare("alert"))
        .delay()
    )
    # When it runs
    names = drain()

    # Then the third step never ran, the callback ran once, and it saw the chain
    assert names == ["tests.wf_step", "tests.wf_boom", "tests.wf_seen"]
    progress = handle.progress()
    assert (progress.state, progress.succeeded, progress.failed, progress.cancelled) == ("failed", 1, 1, 1)
    error = handle.error()
    assert error is not None and error["message"] == "bad"
    with pytest.raises(tasks.JobFailed):
        handle.result()


def test_a_member_retry_changes_nothing_in_its_chain(app: Target) -> None:
    handle = tasks.chain(jobs.wf_step.prepare("a"), jobs.wf_step.prepare("b")).delay()
    [lease] = take()
    assert backend().retry(lease, run_at=0.0, error=ErrorInfo("E", "x"), now=1.0)
    assert handle.progress().pending == 2
    assert drain() == ["tests.wf_step", "tests.wf_step"]
    assert handle.progress().state == "succeeded"


def test_later_schedules_the_first_step(app: Target) -> None:
    handle = tasks.chain(jobs.wf_step.prepare("a")).later(3600)
    assert take() == []
    info = backend().job_info("default", handle.info().current[1])  # type: ignore[index]
    assert info is not None and info.state == "scheduled"


def test_wrong_arguments_are_refused_before_anything_is_sent(app: Target) -> None:
    with pytest.raises(TypeError, match=r"cannot prepare tests\.wf_double"):
        tasks.chain(jobs.wf_double.prepare("x", nope=1))  # type: ignore[call-arg]
    with pytest.raises(ValueError):
        tasks.chain()
    assert take() == []


def test_cancel_stops_a_chain_and_its_batch_counts_it(app: Target) -> None:
    # Given a lone chain, and a batch of a chain and a plain member
    lone = tasks.chain(jobs.wf_step.prepare("a"), jobs.wf_step.prepare("b")).delay()
    inner = tasks.chain(jobs.wf_step.prepare("c"), jobs.wf_step.prepare("d"))
    outer = tasks.batch([inner, jobs.wf_step.prepare("e")]).finally_(jobs.wf_seen.prepare("f")).delay()
    [chain_id] = [member for queue, member in backend().workflow_members(outer.ref) if not queue]
    inner_handle = tasks.ChainHandle(WorkflowRef(outer.ref.home, chain_id))

    # When the lone chain is cancelled before it starts, and the inner one while its step runs
    assert lone.cancel() and not lone.cancel()
    [first, *_] = take(count=1)
    assert '"args":["c"]' in first.payload
    assert inner_handle.cancel()
    assert run(first)

    # Then no later step ran; the lone chain ended at once; the batch counted the inner chain cancelled
    assert lone.progress().state == "cancelled"
    assert inner_handle.progress().state == "cancelled"
    assert drain() == ["tests.wf_step", "tests.wf_seen"]  # the plain member, then finally_
    progress = outer.progress()
    assert (progress.succeeded, progress.cancelled, progress.state) == (1, 1, "cancelled")

