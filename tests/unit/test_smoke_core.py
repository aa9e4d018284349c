"""A first end-to-end pass through the core on both Redis flavours."""

from __future__ import annotations

import pytest

from tasks import queue
from tasks.config import get_backend
from tasks.worker import Worker, WorkerSettings
from tests import jobs


@pytest.mark.parametrize("app", ["memory_app", "redis_app"])
def test_a_dispatched_job_runs_and_returns_its_value(app: str, request: pytest.FixtureRequest) -> None:
    # Given a configured backend and a queued job
    request.getfixturevalue(app)
    handle = jobs.add.delay(2, 3)
    assert handle.status() == "queued"
    assert queue("default").size() == 1

    # When a burst worker drains the queue
    Worker(get_backend(), WorkerSettings(queues=["default"], burst=True)).run()

    # Then the job succeeded with its value
    assert handle.status() == "succeeded"
    assert handle.result(timeout=1) == 5
    assert queue("default").size() == 0
