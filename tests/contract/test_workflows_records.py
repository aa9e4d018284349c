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
