"""``tasks.testing.memory()`` and ``BurstWorker``: a datastore of the test's own, drained in the test's process."""

from __future__ import annotations

import time

import pytest

import tasks.testing
from tasks import configure, queue
from tasks.config import get_backend, settings
from tests import jobs


@pytest.mark.timeout(10)
def test_memory_gives_each_block_a_fresh_backend_and_puts_the_settings_back() -> None:
    # Given settings made in code
    configure(prefix="mine", secret="s3cret")

    # When two memory() blocks run one after the other
    with tasks.testing.memory() as first:
        jobs.add.delay(1, 2)
        assert (settings().url, settings().prefix) == (first.url, first.prefix)
        assert first.url.startswith("memory://") and first.secret == "s3cret"
        assert queue("default").size() == 1
    with tasks.testing.memory() as second:
        # Then the second starts empty, under a URL and prefix of its own
        assert (second.url, second.prefix) != (first.url, first.prefix)
        assert queue("default").size() == 0

    # And the settings made in code are back
    assert (settings().url, settings().prefix, settings().secret) == ("sqlite:///tasks.db", "mine", "s3cret")


@pytest.mark.timeout(20)
def test_a_burst_worker_runs_retries_due_later_without_waiting_for_them() -> None:
    with tasks.testing.memory():
        # Given a job that asks to run again in an hour, and another on a queue no job is declared on
        handle = jobs.retry_in.delay(3600)
        elsewhere = jobs.add.on("elsewhere").delay(1, 2)
        worker = tasks.testing.BurstWorker()

        # When the worker drains the backend
        began = time.monotonic()
        attempts = worker()

        # Then both jobs ran, the retry without waiting an hour
        assert time.monotonic() - began < 10
        assert (handle.result(timeout=1), elsewhere.result(timeout=1)) == (2, 3)
        assert attempts == 3
        assert worker.clock.skipped_s == pytest.approx(3600, abs=10)


@pytest.mark.timeout(20)
def test_a_burst_worker_told_not_to_wait_runs_only_what_is_ready() -> None:
    with tasks.testing.memory():
        handle = jobs.retry_in.delay(3600)
        later = jobs.add.later(60, 1, 2)
        assert tasks.testing.BurstWorker()("default", scheduled=False) == 1
        assert (handle.status(), later.status()) == ("retrying", "scheduled")
        assert get_backend().next_due(["default"]) is not None
