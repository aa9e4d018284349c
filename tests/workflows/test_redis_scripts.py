"""The Redis workflow scripts on a server that lost its script cache (a restart): the burial of an expired
member still reaches its workflow, never left to ``requeue_expired``'s plain burial."""

from __future__ import annotations

import uuid

import pytest
import redis

import tasks
import tasks.config
from tests import jobs
from tests.contract.workflow_support import backend, take


def test_an_expired_member_is_buried_with_its_workflow_after_the_scripts_were_lost() -> None:
    tasks.config.configure(url=f"memory://{uuid.uuid4().hex}", prefix="t")
    handle = tasks.batch([jobs.wf_boom.prepare()]).delay()
    [lease] = take()
    backend().client.script_flush()  # type: ignore[attr-defined]
    assert backend().requeue_expired(["default"], now=lease.started_at + 3600) == (0, 1)
    progress = handle.progress()
    assert (progress.failed, progress.pending, progress.state) == (1, 0, "failed")


def test_batched_member_completions_reload_lost_scripts_and_move_the_batch() -> None:
    tasks.config.configure(url=f"memory://{uuid.uuid4().hex}", prefix="t")
    handle = tasks.batch([jobs.wf_step.prepare(str(i)) for i in range(3)]).then(jobs.wf_step.prepare("then")).delay()
    leases = take(count=3)
    backend().client.script_flush()  # type: ignore[attr-defined]
    from tasks.workflows.records import workflow_member

    items = [(lease, '"x"', 60.0, workflow_member(lease.payload)) for lease in leases]
    assert backend().complete_members(items, now=leases[0].started_at) == [True, True, True]  # type: ignore[arg-type]
    assert backend().complete_members(items, now=leases[0].started_at) == [False, False, False]  # type: ignore[arg-type]
    assert handle.progress().state == "succeeded"
    assert len(take(count=10)) == 1  # then, once


def test_a_member_completion_with_malformed_metric_arguments_changes_nothing() -> None:
    # Given a running member, and a completion whose minute is not whole seconds (a bug in a caller)
    tasks.config.configure(url=f"memory://{uuid.uuid4().hex}", prefix="t")
    handle = tasks.batch([jobs.wf_step.prepare("a")]).delay()
    [lease] = take()
    me = backend()
    qk = me.queue_keys(lease.queue)  # type: ignore[attr-defined]
    keys = [qk.job(lease.job_id), qk.leases, me.keys.workflow(handle.ref.home, handle.ref.id)]  # type: ignore[attr-defined]
    keys += [me.keys.metrics(lease.queue, 60), me.keys.metric_minutes(lease.queue)]  # type: ignore[attr-defined]
    args = [lease.job_id, lease.token, "1.0", '"x"', "60000", me.keys.prefix, handle.ref.home]  # type: ignore[attr-defined]
    args += ["tests.wf_step", "5", "5", "0", "a minute", "86400"]

    # When the script is called, Then it refuses before its first write: the member still runs, the batch waits
    with pytest.raises(redis.ResponseError, match="minute and retention_s"):
        me._wf_run("complete_member", keys, args)  # type: ignore[attr-defined]
    assert me.status(lease.queue, lease.job_id).state == "running"  # type: ignore[union-attr]
    assert handle.progress().pending == 1
