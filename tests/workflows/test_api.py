"""What the workflow API refuses before anything is sent, with an error that says why."""

from __future__ import annotations

import pytest

import tasks
from tasks.errors import ConfigurationError
from tasks.testing import fake
from tasks.workflows import api
from tasks.workflows.handles import parse_id, public_id
from tests import jobs


def test_workflows_need_a_datastore_not_the_fake() -> None:
    with fake(), pytest.raises(ConfigurationError, match="need a backend"):
        tasks.batch([jobs.wf_step.prepare("a")]).delay()


def test_members_must_be_prepared_calls_or_chains() -> None:
    with pytest.raises(TypeError, match="prepared calls"):
        tasks.batch([jobs.wf_step])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="prepared calls"):
        tasks.chain(jobs.wf_step.prepare("a"), "b")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least one"):
        tasks.batch([])
    with pytest.raises(TypeError, match=r"cannot prepare tests\.wf_step"):
        tasks.batch([jobs.wf_step.prepare()])  # type: ignore[call-arg]


def test_piping_needs_json_and_no_secret() -> None:
    tasks.configure(secret="s3cret")
    try:
        with pytest.raises(ConfigurationError, match="signing secret"):
            tasks.chain(jobs.wf_double.prepare(1), jobs.wf_double.prepare_piped(), pipe=True)
    finally:
        tasks.configure(secret="")


def test_on_redis_cluster_a_workflow_on_two_queues_is_refused() -> None:
    class Cluster:
        cluster = True

    api._check_slots(Cluster(), "default", {"default"})  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="one queue"):
        api._check_slots(Cluster(), "default", {"default", "emails"})  # type: ignore[arg-type]


def test_public_ids_round_trip() -> None:
    ref = api.WorkflowRef("my.queue-1", "ab" * 16)
    assert parse_id(public_id(ref)) == ref
    for bad in ("", "x", "ab" * 16, "zz" * 16 + ".q", "ab" * 16 + "-q"):
        assert parse_id(bad) is None
