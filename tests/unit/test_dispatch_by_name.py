"""Workers announce the jobs they run; code that cannot import a job sends it where it belongs, with its options."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tasks import JobHandle, call, deployment, dispatch, queue
from tasks.config import get_backend
from tasks.model import PublishedJob, WorkerInfo
from tasks.worker import Worker, WorkerSettings

CHARGE = PublishedJob("billing.charge", "billing", 7, 30.0, 600.0, "json")


@pytest.fixture(autouse=True)
def _nothing_read_yet() -> Iterator[None]:
    deployment.forget()
    yield
    deployment.forget()


def announce(*jobs: PublishedJob, queues: tuple[str, ...] = ("billing",), started_at: float | None = None) -> None:
    """A live worker elsewhere, which runs ``jobs`` (this process imports none of them)."""
    started = time.time() if started_at is None else started_at
    info = WorkerInfo(id=f"elsewhere-{started}", host="box", pid=1, queues=queues, started_at=started, jobs=jobs)
    get_backend().register_worker(info, ttl_s=60, now=time.time())


def payload_of(handle: JobHandle[Any]) -> dict[str, Any]:
    status = get_backend().status(handle.queue, handle.id)
    assert status is not None and status.payload is not None
    body: dict[str, Any] = json.loads(status.payload)
    return body


def test_a_worker_announces_the_jobs_it_runs_with_their_options(app: str) -> None:
    # When a worker that imported tests.jobs beats its heart
    worker = Worker(get_backend(), WorkerSettings(queues=["default"]))
    worker.heartbeat()

    # Then the worker list shows every job it runs, with its queue and options
    [info] = [w for w in get_backend().workers(now=time.time()) if w.id == worker.settings.worker_id]
    published = {job.name: job for job in info.jobs}
    assert published["tests.add"] == PublishedJob("tests.add", "default", 3, None, 86400.0, "json")
    assert published["tests.sleeper"].timeout_s == 1.0
    assert published["tests.dill_apply"].serializer == "dill"


def test_dispatch_by_name_goes_to_the_queue_a_live_worker_announces(app: str) -> None:
    # Given a live worker elsewhere that runs billing.charge on the billing queue
    announce(CHARGE)

    # When code that cannot import the job dispatches it by name, naming no queue
    handle = dispatch("billing.charge", 42, currency="EUR")

    # Then it is queued on the job's own queue with the job's own options
    assert handle.queue == "billing"
    assert queue("billing").size() == 1
    body = payload_of(handle)
    assert (body["args"], body["kwargs"]) == ([42], {"currency": "EUR"})
    assert (body["max_attempts"], body["timeout"], body["result_ttl"]) == (7, 30.0, 600.0)


def test_call_takes_a_queue_a_delay_an_id_and_options_without_touching_the_arguments(app: str) -> None:
    # Given the job announced by a live worker
    announce(CHARGE)

    # When it is sent through call(): later, under an id, on another queue, with fewer attempts
    view = call("billing.charge").with_options(queue="urgent", job_id="charge-42", max_attempts=2)
    handle = view.later(60, 42, queue="a job argument", delay=5)

    # Then those options apply, and the job's own keyword arguments (even named queue or delay) go to the job
    assert (handle.id, handle.queue, handle.status()) == ("charge-42", "urgent", "scheduled")
    body = payload_of(handle)
    assert body["kwargs"] == {"queue": "a job argument", "delay": 5}
    assert (body["max_attempts"], body["timeout"]) == (2, 30.0)
    assert body["run_at"] >= time.time() + 55
    assert call("billing.charge").on("urgent").delay(1).queue == "urgent"


def test_when_workers_disagree_the_newest_one_wins(app: str) -> None:
    # Given a rolling deploy: an old worker runs the job on billing, a newer one on payments
    announce(CHARGE, started_at=time.time() - 60)
    announce(PublishedJob("billing.charge", "payments", 7, 30.0, 600.0, "json"), queues=("payments",))

    # Then a dispatch by name follows the newest code
    assert dispatch("billing.charge", 1).queue == "payments"


def test_a_job_no_live_worker_runs_goes_to_default_with_a_warning(app: str, caplog: pytest.LogCaptureFixture) -> None:
    handle = dispatch("nobody.runs.this", 1)
    assert handle.queue == "default"
    assert "no live worker runs it" in caplog.text


def test_a_job_known_here_keeps_its_own_options_and_its_arguments_are_checked(app: str) -> None:
    announce(PublishedJob("tests.add", "elsewhere", 1, None, 1.0, "json"))  # stale news of a job known here
    assert call("tests.add").delay(1, 2).queue == "default"
    with pytest.raises(TypeError, match=r"cannot dispatch tests\.add"):
        call("tests.add").delay(1, 2, 3)


def test_what_was_read_of_the_workers_is_kept_a_while(app: str) -> None:
    # Given the worker list read once (nobody ran the job then)
    assert dispatch("billing.charge", 1).queue == "default"

    # When a worker announces it, the next dispatches use what was read, until it is older than the cache
    announce(CHARGE)
    assert dispatch("billing.charge", 2).queue == "default"
    assert deployment.published_job("billing.charge", get_backend(), now=time.time() + 11) == CHARGE
