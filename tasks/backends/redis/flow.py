"""Flow control on Redis: paused queues (and the limits' transitions), as a mixin of ``RedisBackend``.

Kept apart from ``backend.py`` so that the hot paths there stay as they are: a job that uses no limit runs
exactly the scripts it ran before. Every script called here touches the keys of one queue only (one Redis
Cluster slot); the index of paused queue names is written beside it, by a separate command.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

from ...limits.options import JobFlow
from ...limits.policy import HELD_AT
from ...model import NewJob
from .keys import Keys, QueueKeys
from .scripts import Scripts


class RedisFlowControl:
    """``pause``/``resume``/``paused_queues`` of the Redis backend (see ``Backend``)."""

    client: Any
    keys: Keys
    scripts: Scripts
    queue_keys: Callable[[str], QueueKeys]
    _errors: Callable[[], AbstractContextManager[None]]
    _commands: Callable[[Sequence[tuple[Any, ...]]], list[Any]]
    _known_queues: set[str]

    def pause(self, queue: str) -> None:
        """Set the queue's own ``paused`` key (what the reserve reads), then list the queue in the index."""
        qk = self.queue_keys(queue)
        with self._errors():
            self.client.set(qk.paused, "1")
            self.client.sadd(self.keys.paused_queues, queue)

    def resume(self, queue: str) -> None:
        """Drop the ``paused`` key and wake a worker when jobs wait (one script), then unlist the queue."""
        qk = self.queue_keys(queue)
        with self._errors():
            self.scripts.run("resume", [qk.paused, qk.ready, qk.wake], [])
            self.client.srem(self.keys.paused_queues, queue)

    def enqueue_flow(self, job: NewJob, flow: JobFlow, *, now: float) -> tuple[str, bool]:
        """One ``enqueue_flow`` script call: the unique check and the store in one step (see ``Backend``)."""
        qk = self.queue_keys(job.queue)
        lock = qk.unique(flow.unique) if flow.unique is not None else qk.job(job.id)
        args = (
            now,
            job.id,
            job.payload,
            job.max_attempts,
            job.enqueued_at,
            "" if job.run_at is None else job.run_at,
            job.signature,
            flow_field(qk, flow),
            lock_ttl_ms(flow, job, now) if flow.unique is not None else "",
            qk.job_prefix,
            "1" if flow.debounce_s is not None else "",
            HELD_AT,
        )
        call = self.scripts.command("enqueue_flow", [qk.ready, qk.scheduled, qk.wake, qk.job(job.id), lock], args)
        if job.queue in self._known_queues:
            job_id, stored = self._commands([call])[0]
        else:  # as ``enqueue`` does: the queue is listed once per process, in the same round trip
            job_id, stored = self._commands([("SADD", self.keys.queues, job.queue), call])[1]
            self._known_queues.add(job.queue)
        return str(job_id), bool(int(stored))

    def limit_use(
        self, queue: str, *, rates: Sequence[tuple[str, float]], slots: Sequence[str], now: float
    ) -> tuple[list[int], list[tuple[int, int]]]:
        """One pipeline: ``ZCOUNT`` of each rate's recent starts, ``SCARD``/``LLEN`` of each key's slots and waiters
        (a waiter taken off since may still be listed: the figure is an upper bound)."""
        qk = self.queue_keys(queue)
        with self._errors():
            pipe = self.client.pipeline(transaction=False)
            for bucket, per in rates:
                pipe.zcount(qk.rate(bucket), f"({now - per!r}", "+inf")
            for key in slots:
                pipe.scard(qk.slots(key)).llen(qk.held(key))
            replies = pipe.execute()
        counted = [int(x) for x in replies[: len(rates)]]
        rest = replies[len(rates) :]
        return counted, [(int(rest[i]), int(rest[i + 1])) for i in range(0, len(rest), 2)]

    def paused_queues(self) -> set[str]:
        """The listed queues whose ``paused`` key is set: the key decides, should the index have drifted."""
        with self._errors():
            listed = sorted(self.client.smembers(self.keys.paused_queues))
            if not listed:
                return set()
            pipe = self.client.pipeline(transaction=False)
            for queue in listed:
                pipe.exists(self.queue_keys(queue).paused)
            found = pipe.execute()
        return {queue for queue, flag in zip(listed, found) if flag}


def flow_field(qk: QueueKeys, flow: JobFlow) -> str:
    """The ``flow`` field of a job hash: the keys and numbers the reserve and the end of a run apply.

    ``u``/``uu``: the unique lock and when it ends (``s`` at start, ``f`` at finish); ``c``/``h``/``m``: the
    concurrency slots, the list of jobs held for one, and how many may run; ``s``/``w``: the queue's scheduled
    set and wake list (where a held job is made due); ``r``: per rate limit, its key, n and period in seconds.
    """
    field: dict[str, Any] = {}
    if flow.unique is not None:
        field["u"] = qk.unique(flow.unique)
        field["uu"] = "s" if flow.unique_until == "start" or flow.debounce_s is not None else "f"
    if flow.concurrency is not None:
        field.update(c=qk.slots(flow.concurrency_key), h=qk.held(flow.concurrency_key), m=flow.concurrency)
        field.update(s=qk.scheduled, w=qk.wake)
    if flow.rates:
        field["r"] = [[qk.rate(bucket), n, per] for bucket, n, per in flow.rates]
        field.update(s=qk.scheduled, w=qk.wake)
    return json.dumps(field, separators=(",", ":"))


def lock_ttl_ms(flow: JobFlow, job: NewJob, now: float) -> int:
    """How long a unique lock lasts at most: ``unique_for``; with debounce, until a day after the run is due."""
    if flow.debounce_s is not None and not flow.unique_for_s:
        seconds = max(job.run_at or now, now) - now + 86400.0
    else:
        seconds = flow.unique_for_s
    return max(1, math.ceil(seconds * 1000))
