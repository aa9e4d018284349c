"""Job functions used by the tests (one module, imported by test processes and worker processes alike).

Jobs that must leave a trace outside the worker write to the file named by ``TASKS_TEST_RECORD`` or to a
Redis list, so a test can observe them from another process.
"""

from __future__ import annotations

import asyncio
import os
import time

from tasks import Fail, Retry, current_job, job


@job(name="tests.add", queue="default")
def add(a: int, b: int) -> int:
    return a + b


@job(name="tests.echo_context")
def echo_context() -> dict[str, object]:
    ctx = current_job()
    ctx.log("echoing context")
    return {"id": ctx.id, "name": ctx.name, "queue": ctx.queue, "attempt": ctx.attempt,
            "max_attempts": ctx.max_attempts, "enqueued_at": ctx.enqueued_at, "started_at": ctx.started_at}


@job(name="tests.always_fails", max_attempts=3, backoff=0)
def always_fails(message: str = "boom") -> None:
    raise ValueError(message)


@job(name="tests.fail_for_good", max_attempts=5, backoff=0)
def fail_for_good() -> None:
    raise Fail("card declined")


@job(name="tests.retry_then_succeed", max_attempts=3, backoff=0)
def retry_then_succeed() -> int:
    attempt = current_job().attempt
    if attempt < 2:
        raise Retry(delay=0)
    return attempt


@job(name="tests.sleeper", timeout=1, max_attempts=1)
def sleeper(seconds: float = 60) -> None:
    time.sleep(seconds)


@job(name="tests.async_add")
async def async_add(a: int, b: int) -> int:
    await asyncio.sleep(0)
    return a + b


@job(name="tests.async_sleeper", timeout=1, max_attempts=1)
async def async_sleeper(seconds: float = 60) -> None:
    await asyncio.sleep(seconds)


@job(name="tests.record", max_attempts=5, backoff=0)
def record(key: str) -> str:
    """Append ``key`` to the file ``TASKS_TEST_RECORD`` names (one line per run: duplicates are visible)."""
    path = os.environ["TASKS_TEST_RECORD"]
    with open(path, "a", encoding="utf-8") as f:
        f.write(key + "\n")
    return key


@job(name="tests.named_like_options")
def named_like_options(delay: int, timeout: int, queue: str, when: str) -> list[object]:
    return [delay, timeout, queue, when]
