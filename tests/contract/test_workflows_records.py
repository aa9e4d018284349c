"""Workflow records on every backend: they expire a configurable time after they finish (never while they run),
listings show only the live ones, and a workflow id is refused twice."""

from __future__ import annotations

import pytest

import tasks
from tasks.workflows.records import DEFAULT_RECORD_TTL_S, WorkflowSpec
from tests import jobs
from tests.contract.conftest import Target
from tests.contract.workflow_support import backend, drain, take
from tests.support.waiting import wait_until


def test_records_expire_after_they_finish_and_leave_the_listing(app: Target) -> None:
    # Given a batch kept 0.2 s after it ends, a chain kept for the default time, and a batch still running
    short = tasks.batch([jobs.wf_step.prepare("a")]).keep_for(0.2).delay()
    kept = tasks.chain(jobs.wf_step.prepare("b")).delay()
    drain()
    running = tasks.batch([jobs.wf_step.prepare("c")]).keep_for(0.2).delay()
    assert {info.ref for info in backend().workflows()} == {short.ref, kept.ref, running.ref}

    # Then the finished short one goes, and the others stay
    wait_until(lambda: tasks.find_batch(short.id) is None, timeout=10, message="the record to expire")
    assert tasks.find_chain(kept.id) is not None
    assert tasks.find_batch(running.id) is not None
    assert {info.ref for info in backend().workflows()} == {kept.ref, running.ref}
    assert DEFAULT_RECORD_TTL_S == 7 * 86400


def test_a_cancelled_members_record_expires_with_its_batch(app: Target) -> None:
    handle = tasks.batch([jobs.wf_step.prepare("a")]).keep_for(0.2).delay()
    [(queue, job_id)] = backend().workflow_members(handle.ref)
    assert handle.cancel()
    assert backend().status(queue, job_id).state == "cancelled"  # type: ignore[union-attr]
    wait_until(lambda: backend().status(queue, job_id) is None, timeout=10, message="the cancelled job to expire")


def test_keep_for_refuses_nonsense(app: Target) -> None:
    for bad in (0, -1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="keep_for"):
            tasks.batch([jobs.wf_step.prepare("a")]).keep_for(bad)
    assert take() == []


def test_a_workflow_id_is_written_once(app: Target) -> None:
    handle = tasks.batch([jobs.wf_step.prepare("a")]).delay()
    again = WorkflowSpec(ref=handle.ref, kind="batch", name="again", members=(("default", "zzz"),))
    assert not backend().enqueue_workflow([again], [], now=1.0)
    assert handle.progress().total == 1


def test_a_member_lost_with_its_attempts_spent_fails_its_workflow_once(app: Target) -> None:
    # Given a chain whose first step (one attempt) was taken by a worker that vanished
    handle = (
        tasks.chain(jobs.wf_boom.prepare(), jobs.wf_step.prepare("never"))
        .on_failure(jobs.wf_seen.prepare("alert"))
        .delay()
    )
    [lease] = take()
    assert lease.max_attempts == 1

    # When maintenance finds its lease expired (twice: many workers run it)
    later = lease.started_at + 3600
    assert backend().requeue_expired(["default"], now=later) == (0, 1)
    assert backend().requeue_expired(["default"], now=later) == (0, 0)

    # Then the chain failed in the same step, and on_failure is enqueued once
    progress = handle.progress()
    assert (progress.state, progress.failed, progress.cancelled) == ("failed", 1, 1)
    assert drain() == ["tests.wf_seen"]
    assert backend().status("default", lease.job_id).error.type == "LeaseExpired"  # type: ignore[union-attr]
