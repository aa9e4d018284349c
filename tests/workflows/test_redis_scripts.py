"""The Redis workflow scripts on a server that lost its script cache (a restart): the burial of an expired
member still reaches its workflow, never left to ``requeue_expired``'s plain burial."""

from __future__ import annotations

import uuid

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
