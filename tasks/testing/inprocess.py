"""A datastore of the test's own, and a worker that drains it in the test's process.

``memory()`` configures a fresh ``memory://`` backend (fakeredis: the same Lua scripts as Redis, in this process)
under a prefix of its own, and puts the settings back afterwards. ``BurstWorker`` runs burst workers on the
configured backend until its queues are empty; jobs due later (retries, ``later()``) run too, on a clock that
jumps to them, so a test never waits for a backoff.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from .. import config
from ..backends.base import Backend
from ..worker import Worker, WorkerSettings, default_queues
from .runner import SkippingClock

#: Rounds (a burst, then a jump of the clock to the next job due) before ``BurstWorker`` gives up.
MAX_ROUNDS = 1000


@contextmanager
def memory() -> Iterator[config.Settings]:
    """Configure this process for a fresh ``memory://`` backend with a prefix of its own, for the block.

    The settings ``configure()`` had set before are put back afterwards, and the in-process server is emptied
    (it belongs to this block alone). Needs fakeredis: ``pip install 'tasks[testing]'``.
    """
    name = uuid.uuid4().hex[:12]
    saved = config.overrides()
    url = f"memory://tasks-testing-{name}"
    current = config.configure(url=url, prefix=f"test-{name}")
    try:
        yield current
    finally:
        from ..backends.redis import RedisBackend

        server = RedisBackend.in_memory(url)  # the same in-process server: every in_memory call shares it
        server.client.flushall()
        server.close()
        config.reset()
        config.configure(**saved)


class BurstWorker:
    """Runs every job of the configured backend's queues in this process, then returns how many attempts ran."""

    def __init__(self) -> None:
        #: The workers' clock: the real time, plus every wait skipped to reach a job due later.
        self.clock = SkippingClock()

    def __call__(self, *queues: str, scheduled: bool = True, max_rounds: int = MAX_ROUNDS) -> int:
        """Drain ``queues`` (default: every queue the registry names and every queue the backend knows).

        With ``scheduled`` (the default), jobs due later run too: between bursts the clock jumps to the next one
        due. With ``scheduled=False``, only what is ready now runs, as one burst worker would.
        """
        backend = config.get_backend()
        names = list(queues) or _all_queues(backend)
        secret = config.settings().secret
        attempts = 0
        for _ in range(max_rounds):
            worker = Worker(backend, WorkerSettings(queues=names, burst=True, secret=secret), clock=self.clock)
            worker.run()
            attempts += worker.jobs_done
            due = backend.next_due(names) if scheduled else None
            if due is None:
                return attempts
            self.clock.skip_to(due)
        raise RuntimeError(f"jobs still due after {max_rounds} rounds: a job that keeps rescheduling itself?")


def _all_queues(backend: Backend) -> list[str]:
    """The registry's queues in the worker's default order, then any other queue the backend has seen."""
    named = default_queues()
    return named + sorted(set(backend.known_queues()) - set(named))
