"""Eager mode: ``delay()`` runs the job at once, through the executor, and returns a finished handle."""

from __future__ import annotations

import time

import pytest

import tasks.testing
from tasks import ConfigurationError, JobFailed, JobHandle, SerializationError, bulk, configure, dispatch, queue
from tests import jobs


@pytest.mark.timeout(10)
def test_configure_eager_runs_delay_inline_and_returns_a_finished_handle(memory_app: str) -> None:
    # Given a process configured for eager mode (and for a datastore, which must stay untouched)
    configure(eager=True)

    # When jobs are dispatched
    added = jobs.add.delay(1, 2)
    seen = jobs.echo_context.on("elsewhere").delay()

    # Then they have run by the time delay() returns, and their handles answer without a datastore
    assert (added.status(), added.result(timeout=1)) == ("succeeded", 3)
    context = seen.result(timeout=1)
    assert (context["id"], context["queue"], context["attempt"]) == (seen.id, "elsewhere", 1)
    assert queue("default").size() == queue("elsewhere").size() == 0


@pytest.mark.timeout(10)
def test_tasks_eager_in_the_environment_turns_eager_mode_on(monkeypatch: pytest.MonkeyPatch, memory_app: str) -> None:
    monkeypatch.setenv("TASKS_EAGER", "1")
    assert jobs.add.delay(2, 3).result(timeout=1) == 5
    assert queue("default").size() == 0


@pytest.mark.timeout(10)
def test_configure_eager_false_sends_to_the_datastore_again(monkeypatch: pytest.MonkeyPatch, memory_app: str) -> None:
    # Given eager mode from the environment, turned off in code (configure() comes first)
    monkeypatch.setenv("TASKS_EAGER", "yes")
    configure(eager=False)

    # When a job is dispatched, Then it is queued in the datastore
    assert jobs.add.delay(1, 2).status() == "queued"
    assert queue("default").size() == 1


@pytest.mark.timeout(10)
def test_a_tasks_eager_value_that_means_neither_yes_nor_no_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TASKS_EAGER", "eager")
    with pytest.raises(ConfigurationError, match="TASKS_EAGER='eager' is not understood: use 1 \\(on\\) or 0"):
        jobs.add.delay(1, 2)


@pytest.mark.timeout(10)
def test_eager_arguments_make_the_serializers_round_trip_as_in_production() -> None:
    with tasks.testing.eager():
        # A tuple reaches the job as a list, as it would through a worker
        assert jobs.collect.delay((1, 2)).result() == "list"
        # A value JSON cannot carry fails at delay(), naming the argument, and nothing runs
        with pytest.raises(SerializationError, match="positional argument 0"):
            jobs.collect.delay(object())  # type: ignore[arg-type]


@pytest.mark.timeout(10)
def test_eager_retries_follow_the_jobs_policy_without_waiting() -> None:
    with tasks.testing.eager() as runner:
        began = time.monotonic()
        handle = jobs.retry_in.delay(3600)
        assert time.monotonic() - began < 5
        assert handle.result() == 2
        assert runner.runner.clock.skipped_s == pytest.approx(3600, abs=5)


@pytest.mark.timeout(10)
def test_a_job_failing_for_good_is_reported_by_its_handle_not_by_delay() -> None:
    with tasks.testing.eager():
        handle = jobs.fails_with_attempt.delay()
        assert handle.status() == "failed"
        with pytest.raises(JobFailed, match="failed on attempt 3"):
            handle.result()


@pytest.mark.timeout(10)
def test_raise_errors_makes_delay_raise_the_jobs_own_exception() -> None:
    with tasks.testing.eager(raise_errors=True), pytest.raises(ValueError, match="failed on attempt 3"):
        jobs.fails_with_attempt.delay()


@pytest.mark.timeout(10)
def test_a_job_dispatched_by_a_running_job_runs_after_it_not_inside_it() -> None:
    with tasks.testing.eager():
        # When a job dispatches another
        notice_id, state_seen_inside = jobs.sign_up.delay(7).result()

        # Then the other was still queued while the first ran, and has run by the time delay() returned
        assert state_seen_inside == "queued"
        assert JobHandle(notice_id, "notices").result() == "email:7:welcome"


@pytest.mark.timeout(10)
def test_every_way_of_dispatching_runs_eagerly() -> None:
    with tasks.testing.eager():
        handles = [
            jobs.add.later(3600, 1, 1),
            jobs.add.with_options(job_id="add-2").delay(2, 2),
            dispatch("tests.add", 3, 3),
        ]
        with bulk():
            handles.append(jobs.add.delay(4, 4))
            with pytest.raises(LookupError):  # a bulk block sends (here: runs) its jobs when it exits
                handles[-1].status()
        assert [h.result() for h in handles] == [2, 4, 6, 8]
