"""The pure policy of batches and chains, without I/O: what one outcome does to the counters, which callbacks
fire (each once), and when a batch cancels the members left."""

from __future__ import annotations

from tasks.workflows import policy
from tasks.workflows.policy import Counters
from tasks.workflows.records import WorkflowRef, add_marker, member_of, workflow_member


def test_the_last_success_fires_then_and_finally() -> None:
    c = Counters(total=2, pending=2)
    first = policy.batch_outcome(c, "succeeded")
    assert first.fire == () and first.counters.pending == 1 and not first.counters.finished
    last = policy.batch_outcome(first.counters, "succeeded")
    assert last.fire == ("then", "finally")
    assert (last.counters.state, last.counters.succeeded, last.counters.finished) == ("succeeded", 2, True)


def test_the_first_failure_fires_catch_once_and_cancels_the_rest() -> None:
    c = Counters(total=4, pending=4)
    failed = policy.batch_outcome(c, "failed", cancelled_now=2)
    assert failed.fire == ("catch",) and failed.cancel_rest
    assert (failed.counters.pending, failed.counters.cancelled, failed.counters.state) == (1, 2, "cancelled")
    again = policy.batch_outcome(failed.counters, "failed")
    assert again.fire == ("finally",) and not again.cancel_rest  # no second catch, no then
    assert (again.counters.state, again.counters.failed) == ("failed", 2)


def test_allowed_failures_keep_going_and_still_fire_then() -> None:
    c = Counters(total=2, pending=2, allow_failures=True)
    one = policy.batch_outcome(c, "failed")
    assert one.fire == ("catch",) and not one.cancel_rest and one.counters.state == "running"
    two = policy.batch_outcome(one.counters, "succeeded")
    assert two.fire == ("then", "finally") and two.counters.state == "failed"


def test_a_cancelled_batch_fires_only_finally_and_a_duplicate_report_changes_nothing() -> None:
    c = policy.add_cancelled(policy.cancel_batch(Counters(total=3, pending=3)), 2)
    last = policy.batch_outcome(c, "succeeded")
    assert last.fire == ("finally",) and last.counters.state == "cancelled"
    assert policy.batch_outcome(last.counters, "succeeded").counters == last.counters
    assert policy.settle(last.counters).fire == ()
    assert policy.cancel_batch(last.counters) == last.counters


def test_a_chain_moves_on_ends_or_stops() -> None:
    assert policy.chain_outcome("running", "succeeded", steps_left=2) == "next"
    assert policy.chain_outcome("running", "succeeded", steps_left=0) == "succeeded"
    assert policy.chain_outcome("running", "failed", steps_left=2) == "failed"
    assert policy.chain_outcome("cancelled", "succeeded", steps_left=2) == "cancelled"
    assert policy.chain_outcome("cancelled", "failed", steps_left=2) == "failed"


def test_the_member_marker_round_trips_and_plain_payloads_have_none() -> None:
    ref = WorkflowRef("default", "ab" * 16)
    payload = add_marker('{"v":1,"id":"x","args":[]}', ref, "m")
    assert member_of(payload) is not None and workflow_member(payload) == ref
    assert workflow_member(add_marker('{"v":1}', ref, "c")) is None  # a callback moves nothing
    assert workflow_member('{"v":1,"args":["x\\",\\"wf\\":[1]}"]}') is None
    assert workflow_member('{"v":1,"args":[[1]]}') is None
