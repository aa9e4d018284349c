"""Lifecycle middleware on every backend: order, changes and refusals at dispatch, hooks around each attempt, and
hooks that raise (logged; the job and the worker go on). Log records carry the job's id, name, queue, attempt."""

from __future__ import annotations

import logging

import pytest

from tasks import Dispatch, Middleware, RunOutcome, configure, current_job
from tasks.config import get_backend
from tasks.context import JobContext
from tasks.observe.middleware import JobContextFilter
from tasks.worker import Worker, WorkerSettings
from tests import jobs
from tests.contract.conftest import Target


def burst() -> int:
    return Worker(get_backend(), WorkerSettings(queues=["default", "audited"], burst=True)).run()


class Recorder(Middleware):
    def __init__(self, name: str, seen: list[str]) -> None:
        self.name, self.seen = name, seen

    def before_enqueue(self, call: Dispatch) -> Dispatch | None:
        self.seen.append(f"{self.name}.before_enqueue {call.name}")
        return None

    def before_run(self, ctx: JobContext) -> None:
        assert current_job().id == ctx.id  # the job's own context is set
        self.seen.append(f"{self.name}.before_run {ctx.name} attempt {ctx.attempt}")

    def after_run(self, ctx: JobContext, outcome: RunOutcome) -> None:
        self.seen.append(f"{self.name}.after_run {ctx.name} {outcome.status}")


def test_hooks_run_in_order_around_each_attempt(app: Target) -> None:
    # Given two middleware
    seen: list[str] = []
    configure(middleware=[Recorder("a", seen), Recorder("b", seen)])

    # When a job that retries once is dispatched and run
    handle = jobs.retry_then_succeed.delay()
    burst()

    # Then each hook ran in order, the attempts seen with their outcomes
    assert handle.result(timeout=5) == 2
    assert seen == [
        "a.before_enqueue tests.retry_then_succeed",
        "b.before_enqueue tests.retry_then_succeed",
        "a.before_run tests.retry_then_succeed attempt 1",
        "b.before_run tests.retry_then_succeed attempt 1",
        "a.after_run tests.retry_then_succeed retrying",
        "b.after_run tests.retry_then_succeed retrying",
        "a.before_run tests.retry_then_succeed attempt 2",
        "b.before_run tests.retry_then_succeed attempt 2",
        "a.after_run tests.retry_then_succeed succeeded",
        "b.after_run tests.retry_then_succeed succeeded",
    ]


class Reroute(Middleware):
    def before_enqueue(self, call: Dispatch) -> Dispatch | None:
        return call.with_options(queue="audited") if call.name == "tests.add" else None


class Refuse(Middleware):
    def before_enqueue(self, call: Dispatch) -> Dispatch | None:
        if call.args and call.args[0] == "forbidden":
            raise PermissionError("refused by policy")
        return None


def test_before_enqueue_may_change_or_refuse_a_dispatch(app: Target) -> None:
    configure(middleware=[Reroute(), Refuse()])

    moved = jobs.add.delay(1, 2)
    with pytest.raises(PermissionError, match="refused by policy"):
        jobs.record.delay("forbidden")

    assert moved.queue == "audited"
    assert get_backend().queue_stats("audited").ready == 1
    assert get_backend().queue_stats("default").ready == 0  # the refused one was never sent
    burst()
    assert moved.result(timeout=5) == 3


class Broken(Middleware):
    def before_run(self, ctx: JobContext) -> None:
        raise RuntimeError("before_run is broken")

    def after_run(self, ctx: JobContext, outcome: RunOutcome) -> None:
        raise RuntimeError("after_run is broken")


def test_a_hook_that_raises_is_logged_and_nothing_stops(app: Target, caplog: pytest.LogCaptureFixture) -> None:
    seen: list[str] = []
    configure(middleware=[Broken(), Recorder("after", seen)])
    handles = [jobs.add.delay(i, i) for i in range(3)]

    with caplog.at_level(logging.ERROR, logger="tasks.middleware"):
        assert burst() == 0

    assert [h.result(timeout=5) for h in handles] == [0, 2, 4]
    assert sum("Broken.before_run raised" in r.getMessage() for r in caplog.records) == 3
    assert sum("Broken.after_run raised" in r.getMessage() for r in caplog.records) == 3
    assert seen.count("after.after_run tests.add succeeded") == 3  # the next middleware still ran


def test_outcome_log_records_carry_the_job_fields(app: Target, caplog: pytest.LogCaptureFixture) -> None:
    handle = jobs.always_fails.delay("x")
    with caplog.at_level(logging.INFO, logger="tasks.worker"):
        burst()
    about = [r for r in caplog.records if getattr(r, "job_id", None) == handle.id]
    assert [(r.job_name, r.queue, r.attempt) for r in about] == [  # type: ignore[attr-defined]
        ("tests.always_fails", "default", 1),
        ("tests.always_fails", "default", 2),
        ("tests.always_fails", "default", 3),
    ]


def test_the_filter_tags_any_record_logged_inside_a_job(app: Target, caplog: pytest.LogCaptureFixture) -> None:
    caplog.handler.addFilter(JobContextFilter())
    handle = jobs.logs_plainly.delay()
    with caplog.at_level(logging.INFO):
        burst()
        logging.getLogger("elsewhere").info("outside any job")
    inside = [r for r in caplog.records if r.getMessage() == "logged inside a job"]
    outside = [r for r in caplog.records if r.getMessage() == "outside any job"]
    assert [(r.job_id, r.job_name) for r in inside] == [(handle.id, "tests.logs_plainly")]  # type: ignore[attr-defined]
    assert not hasattr(outside[0], "job_id")
