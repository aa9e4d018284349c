"""Job functions used by the tests (one module, imported by test processes and worker processes alike).

Jobs that must leave a trace outside the worker write to the file named by ``TASKS_TEST_RECORD`` or to a
Redis list, so a test can observe them from another process.
"""

from __future__ import annotations

import asyncio
import logging
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
    return {
        "id": ctx.id,
        "name": ctx.name,
        "queue": ctx.queue,
        "attempt": ctx.attempt,
        "max_attempts": ctx.max_attempts,
        "enqueued_at": ctx.enqueued_at,
        "started_at": ctx.started_at,
    }


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


@job(name="tests.on_emails", queue="emails", max_attempts=2, timeout=20)
def on_emails(to: str) -> str:
    """A job of its own queue: a producer that cannot import it still sends it there (``dispatch``)."""
    return f"sent to {to}"


@job(name="tests.named_like_options")
def named_like_options(delay: int, timeout: int, queue: str, when: str) -> list[object]:
    return [delay, timeout, queue, when]


# --- jobs of the core specification suite (tests/unit, tests/cli) ---------------------------------------------


@job(name="tests.own_status")
def own_status() -> str:
    """The job's own state as a ``JobHandle`` reads it while the job runs."""
    from tasks import JobHandle

    ctx = current_job()
    return JobHandle(ctx.id, ctx.queue).status()


@job(name="tests.fails_with_attempt", max_attempts=3, backoff=0)
def fails_with_attempt() -> None:
    """Fails every time, naming the attempt, so the last error is recognisable."""
    raise ValueError(f"failed on attempt {current_job().attempt}")


@job(name="tests.exponential", max_attempts=5, backoff=2, max_backoff=5)
def exponential() -> None:
    raise RuntimeError("again")


@job(name="tests.stepped", max_attempts=4, backoff=[1, 7])
def stepped() -> None:
    raise RuntimeError("again")


def tenfold(attempt: int) -> float:
    return 10.0 * attempt


@job(name="tests.computed", max_attempts=3, backoff=tenfold)
def computed() -> None:
    raise RuntimeError("again")


@job(name="tests.jittered", max_attempts=2, backoff=10, jitter=True)
def jittered() -> None:
    raise RuntimeError("again")


@job(name="tests.retry_in", max_attempts=3)
def retry_in(seconds: float) -> int:
    """Asks for a retry in ``seconds`` on the first attempt; returns the attempt number afterwards."""
    attempt = current_job().attempt
    if attempt == 1:
        raise Retry(delay=seconds)
    return attempt


@job(name="tests.slow_then_fast", timeout=0.5, max_attempts=2, backoff=0)
def slow_then_fast() -> int:
    """Runs past its timeout on the first attempt, returns at once on the second."""
    attempt = current_job().attempt
    if attempt == 1:
        time.sleep(60)
    return attempt


@job(name="tests.returns_a_set")
def returns_a_set() -> set[int]:
    return {1, 2}


class Point:
    """A user-defined class: JSON cannot carry it, dill can."""

    def __init__(self, x: int, y: int) -> None:
        self.x, self.y = x, y

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Point) and (self.x, self.y) == (other.x, other.y)

    def __hash__(self) -> int:
        return hash((self.x, self.y))

    def __repr__(self) -> str:
        return f"Point({self.x}, {self.y})"


@job(name="tests.dill_apply", serializer="dill")
def dill_apply(fn: object, value: object) -> object:
    """``fn(value)``, where ``fn`` is any callable dill can carry (a lambda, say)."""
    assert callable(fn)
    return fn(value)


@job(name="tests.async_context")
async def async_context() -> list[object]:
    await asyncio.sleep(0)
    ctx = current_job()
    return [ctx.id, ctx.name, ctx.attempt]


# --- jobs of the production-worker suite (tests/worker) -----------------------------------------------------------


@job(name="tests.chaos_record", max_attempts=10, backoff=0)
def chaos_record(key: str, pause_s: float = 0.01) -> str:
    """Record ``key`` between two short pauses, so a kill may land before or after the record (both happen)."""
    time.sleep(pause_s / 2)
    record(key)
    time.sleep(pause_s / 2)
    return key


@job(name="tests.poison_pill", max_attempts=3, backoff=0)
def poison_pill() -> None:
    """Kills its own worker process, every time, without any exception or cleanup."""
    os._exit(3)


@job(name="tests.busy_loop", timeout=1, max_attempts=1)
def busy_loop(seconds: float = 60) -> None:
    """Pure Python work with no I/O: the soft timeout interrupts it between bytecodes."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


@job(name="tests.stubborn_loop", timeout=1, max_attempts=1)
def stubborn_loop(seconds: float = 60) -> None:
    """A busy loop that swallows ``JobTimeout`` (as careless code does): only killing its process stops it."""
    from tasks import JobTimeout

    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            while time.monotonic() < end:
                pass
        except JobTimeout:
            pass


@job(name="tests.async_blocker", timeout=1, max_attempts=1)
async def async_blocker(seconds: float = 60) -> None:
    """An async job that blocks its event loop (a sync call inside it): cancellation cannot reach it."""
    time.sleep(seconds)


@job(name="tests.sleep_then_record", max_attempts=3, backoff=0)
def sleep_then_record(key: str, seconds: float = 2.0) -> str:
    """Record ``key`` only once ``seconds`` have passed: a job stopped earlier leaves no trace."""
    time.sleep(seconds)
    return record(key)


@job(name="tests.async_nap", max_attempts=1)
async def async_nap(key: str, seconds: float = 1.0) -> str:
    await asyncio.sleep(seconds)
    return record(key)


@job(name="tests.outage_job", max_attempts=2, backoff=0)
def outage_job(key: str, seconds: float, fail_attempts: int = 0) -> int:
    """Sleep, record ``key:attempt``, then fail on the first ``fail_attempts`` attempts (ValueError)."""
    time.sleep(seconds)
    attempt = current_job().attempt
    record(f"{key}:{attempt}")
    if attempt <= fail_attempts:
        raise ValueError(f"{key} fails on attempt {attempt}")
    return attempt


@job(name="tests.gil_hog", timeout=1, max_attempts=1)
def gil_hog(n: int = 2_000_000_000) -> int:
    """One long C call that holds the GIL: no signal handler and no other thread runs until it returns."""
    return sum(range(n))


@job(name="tests.gil_hog_then_record", max_attempts=3, backoff=0)
def gil_hog_then_record(key: str, n: int) -> str:
    """Hold the GIL in C for a while (starving this process's heartbeat thread), then record ``key``."""
    sum(range(n))
    return record(key)


@job(name="tests.record_start_and_end", max_attempts=3, backoff=0)
def record_start_and_end(key: str, seconds: float) -> str:
    """Record ``key:start``, sleep, record ``key:end``: a test can tell a job begun from one merely reserved."""
    record(f"{key}:start")
    time.sleep(seconds)
    return record(f"{key}:end")


# --- jobs of the hostile-record and crash suites ----------------------------------------------------------------


@job(name="tests.raises_huge", max_attempts=1)
def raises_huge(size: int) -> None:
    """Fail with a message of ``size`` characters (an exception carrying a whole response body, say)."""
    raise ValueError("x" * size)


@job(name="tests.die_once", max_attempts=1)
def die_once(key: str) -> None:
    """Record ``key`` and end this worker process at once, with no cleanup (a crash, the OOM killer)."""
    record(key)
    os._exit(1)


@job(name="tests.spawn_then_hang", timeout=1, max_attempts=1)
def spawn_then_hang(pid_file: str) -> None:
    """Start a child process (``sleep 300``), note its pid, then hang swallowing ``JobTimeout``: only a hard kill
    stops this job, and only a kill of the whole process tree stops its child."""
    import subprocess

    from tasks import JobTimeout

    child = subprocess.Popen(["sleep", "300"])
    with open(pid_file, "w", encoding="utf-8") as f:
        f.write(str(child.pid))
    end = time.monotonic() + 60
    while time.monotonic() < end:
        try:
            while time.monotonic() < end:
                pass
        except JobTimeout:
            pass


class KillsOnLoad:
    """An argument whose unpickling ends the process: a payload that kills every worker decoding it."""

    def __reduce__(self) -> tuple[object, tuple[int]]:
        return (os._exit, (7,))


class RaisesOnLoad:
    """An argument whose unpickling raises: loading it where it must not be loaded is seen, not survived."""

    def __reduce__(self) -> tuple[object, tuple[int, int]]:
        import operator

        return (operator.truediv, (1, 0))


@job(name="tests.dies_after", max_attempts=1)
def dies_after(key: str, seconds: float) -> None:
    """Record ``key``, then kill its own worker process ``seconds`` later (``os._exit(1)``): a crash mid-job."""
    record(key)
    time.sleep(seconds)
    os._exit(1)


@job(name="tests.dies_once", max_attempts=2, backoff=0)
def dies_once(key: str) -> str:
    """Kill its own worker process on the first attempt (``os._exit(1)``); record ``key`` on the second."""
    if current_job().attempt == 1:
        os._exit(1)
    return record(key)


@job(name="tests.record_pid_then_sleep", max_attempts=3, backoff=0)
def record_pid_then_sleep(key: str, seconds: float) -> str:
    """Record ``key:<pid of the worker process>``, then sleep: a test learns which process runs the job."""
    record(f"{key}:{os.getpid()}")
    time.sleep(seconds)
    return key


# --- jobs of the suite of the testing helpers (tests/testing) ---------------------------------------------------


@job(name="tests.notify", queue="notices")
def notify(user_id: int, message: str = "hello", *, channel: str = "email") -> str:
    return f"{channel}:{user_id}:{message}"


@job(name="tests.collect")
def collect(items: list[object]) -> str:
    """The type the job received its argument as (a tuple dispatched arrives as a list, through JSON)."""
    return type(items).__name__


@job(name="tests.sign_up")
def sign_up(user_id: int) -> list[str]:
    """Dispatches a notice for the new user; returns the notice's id and its state as seen from inside this job."""
    notice = notify.delay(user_id, "welcome")
    return [notice.id, notice.status()]


@job(name="tests.again_and_again", max_attempts=1)
def again_and_again(n: int) -> int:
    """Dispatches itself with ``n + 1``, forever."""
    again_and_again.delay(n + 1)
    return n


@job(name="tests.calls_echo_context_directly")
def calls_echo_context_directly() -> list[object]:
    """Its own id, and the id ``echo_context`` sees when called directly from inside it."""
    return [current_job().id, echo_context()["id"]]


# --- job control and observability (tasks/observe) ---


@job(name="tests.reports_progress")
def reports_progress(steps: int) -> str:
    """Says how far it is after each step; returns its own id."""
    for step in range(1, steps + 1):
        current_job().progress(step / steps, f"step {step} of {steps}")
    return current_job().id


@job(name="tests.async_reports_progress")
async def async_reports_progress(steps: int) -> str:
    for step in range(1, steps + 1):
        current_job().progress(step / steps, f"step {step} of {steps}")
        await asyncio.sleep(0)
    return current_job().id


@job(name="tests.until_aborted", max_attempts=3)
def until_aborted(seconds: float = 60) -> str:
    """Runs until an abort is asked (then returns early, as a well-behaved long job does) or ``seconds`` pass."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if current_job().cancelled():
            return "stopped early"
        time.sleep(0.02)
    return "ran out"


@job(name="tests.stuck_in_c", max_attempts=3)
def stuck_in_c(seconds: float = 60) -> None:
    """Blocks in C code (one long ``time.sleep``) and never looks at ``cancelled()``: only a stop ends it."""
    time.sleep(seconds)


@job(name="tests.async_until_aborted", max_attempts=3)
async def async_until_aborted(seconds: float = 60) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if current_job().cancelled():
            return "stopped early"
        await asyncio.sleep(0.02)
    return "ran out"


@job(name="tests.metric_ok")
def metric_ok() -> None:
    """Succeeds at once."""


@job(name="tests.metric_flaky", max_attempts=2, backoff=0)
def metric_flaky() -> None:
    """Fails its first attempt, succeeds on the second."""
    if current_job().attempt == 1:
        raise ValueError("first attempt fails")


@job(name="tests.metric_doomed", max_attempts=2, backoff=0)
def metric_doomed() -> None:
    """Fails both its attempts."""
    raise ValueError("always fails")


@job(name="tests.logs_plainly")
def logs_plainly() -> None:
    """Logs through a logger of its own, knowing nothing of tasks: a filter adds the job's fields."""
    logging.getLogger("myapp").info("logged inside a job")
# --- flow control (tasks.limits) ---------------------------------------------------------------------------------


def _timed_record(kind: str, key: str, seconds: float) -> str:
    """Append ``kind key start end`` (epoch seconds) to the record file: the runs' overlaps can be read back."""
    began = time.time()
    time.sleep(seconds)
    with open(os.environ["TASKS_TEST_RECORD"], "a", encoding="utf-8") as f:
        f.write(f"{kind}|{key}|{began!r}|{time.time()!r}\n")
    return key


@job(name="tests.unique_invoice", unique_for=3600, unique_key=lambda order_id, **_: order_id)
def unique_invoice(order_id: int, sender: str = "") -> str:
    return _timed_record("invoice", f"{order_id}:{sender}", 0)


@job(name="tests.per_user", concurrency=2, concurrency_key=lambda user_id, *_, **__: user_id, max_attempts=10)
def per_user(user_id: int, n: int, seconds: float = 0.02) -> str:
    return _timed_record("user", str(user_id), seconds)


@job(name="tests.rate_limited", rate_limit="50/s", max_attempts=10)
def rate_limited(n: int) -> str:
    return _timed_record("rate", str(n), 0)


@job(name="tests.reindex", debounce=1, unique_key=lambda doc_id, **_: doc_id)
def reindex(doc_id: int, version: int) -> str:
    return _timed_record("reindex", f"{doc_id}:{version}", 0)
# --- jobs of the workflow suites (tests/contract/test_workflows_*.py, tests/worker/test_workflows*.py) ---------


@job(name="tests.wf_step", max_attempts=5, backoff=0)
def wf_step(key: str, pause_s: float = 0.0) -> str:
    """Record ``key`` (when ``TASKS_TEST_RECORD`` is set) after an optional pause; returns ``key``."""
    if pause_s:
        time.sleep(pause_s)
    if "TASKS_TEST_RECORD" in os.environ:
        record(key)
    return key


@job(name="tests.wf_double", max_attempts=2, backoff=0)
def wf_double(value: int, plus: int = 0) -> int:
    return value * 2 + plus


@job(name="tests.wf_boom", max_attempts=1)
def wf_boom(message: str = "boom") -> None:
    raise Fail(message)


@job(name="tests.wf_seen", max_attempts=3, backoff=0)
def wf_seen(tag: str) -> list[object]:
    """What the job sees of its workflow: its batch's id and its chain's id (``None`` when it has none)."""
    ctx = current_job()
    batch, chain = ctx.batch, ctx.chain
    return [tag, batch.id if batch else None, chain.id if chain else None]


@job(name="tests.wf_grow", max_attempts=3, backoff=0)
def wf_grow(n: int) -> int:
    """Adds ``n`` more members to its own batch, from inside it."""
    batch = current_job().batch
    assert batch is not None
    batch.add([wf_step.prepare(f"grown-{i}") for i in range(n)])
    return n


@job(name="tests.wf_chaos", max_attempts=25, backoff=0)
def wf_chaos(key: str, pause_s: float = 0.004) -> str:
    """``chaos_record`` for workflow members: enough attempts to outlive every kill of the chaos test."""
    time.sleep(pause_s / 2)
    record(key)
    time.sleep(pause_s / 2)
    return key


@job(name="tests.wf_cancelled", max_attempts=1)
def wf_cancelled() -> bool:
    """Whether this member's batch was cancelled, as it sees it while it runs."""
    return current_job().cancelled()
