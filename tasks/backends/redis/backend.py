"""The Redis backend: each transition of ``Backend`` is one Lua script call (see ``lua/``).

``memory://`` URLs get the same class over fakeredis, so the very same Lua runs in tests and demos.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, cast

import redis
from redis.exceptions import NoScriptError

from ...errors import BackendUnavailable, ConfigurationError
from ...model import ErrorInfo, FailedJob, JobInfo, JobState, JobStatus, Lease, NewJob, QueueStats, WorkerInfo
from ..base import Backend
from . import calls, listing, reads
from .flow import RedisFlowControl
from .keys import Keys, QueueKeys
from .observe import RedisObserve, metric_keys, sample_args
from .reads import JOB_INFO_FIELDS, job_info_from_fields
from .scripts import Scripts
from .wire import Wire, pooled_round_trip
from .workflows import RedisWorkflows

#: How replies are decoded: bytes that are not UTF-8 become surrogate escapes (and are encoded back the same way).
TOLERANT = "surrogateescape"
#: Jobs per enqueue script call: a bulk dispatch goes out in one round trip but as several calls, so that
#: Redis serves other clients between them instead of running one script for the whole batch.
ENQUEUE_CHUNK = 1000

log = logging.getLogger("tasks.backends")

_memory_servers: dict[str, Any] = {}
_memory_lock = threading.Lock()


class RedisBackend(RedisObserve, RedisFlowControl, RedisWorkflows, Backend):
    """Backend over one ``redis.Redis`` client (thread-safe: redis-py pools its connections)."""

    def __init__(
        self, client: redis.Redis, *, prefix: str = "tasks", description: str = "redis", fake: bool = False
    ) -> None:
        #: Typed ``Any`` on purpose: redis-py annotates every reply as a union of sync and async, bytes and str,
        #: whatever the client; ours decodes responses, so replies are the str, int and list values they are.
        self.client: Any = client
        self._fake = fake  # fakeredis: blocking commands only through its own client methods
        self.pads_wait_leases = not fake  # see ``wait_and_reserve``
        self.keys = Keys(prefix)
        self.scripts = Scripts(client)
        self._wire = Wire(getattr(client, "connection_pool", None))  # a cluster client has none: it never uses it
        self.description = description
        self._known_queues: set[str] = set()
        self._queue_keys: dict[str, QueueKeys] = {}
        self._damage_reported: dict[str, float] = {}

    @classmethod
    def from_url(cls, url: str, *, prefix: str = "tasks") -> RedisBackend:
        """A backend on the server ``url`` names; replies that are not UTF-8 (a damaged record) are read as
        surrogate escapes and written back as the same bytes, so no read fails on them."""
        from ...config import mask_url, normalize_url

        client = redis.Redis.from_url(
            normalize_url(url), decode_responses=True, encoding_errors=TOLERANT, health_check_interval=30
        )
        return cls(client, prefix=prefix, description=mask_url(url))

    @classmethod
    def in_memory(cls, url: str = "memory://", *, prefix: str = "tasks") -> RedisBackend:
        """A backend over fakeredis; every ``in_memory`` call with the same URL shares one server in this process."""
        try:
            import fakeredis
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ConfigurationError("memory:// needs fakeredis with Lua: pip install 'tasks[testing]'") from exc
        with _memory_lock:
            server = _memory_servers.setdefault(url, fakeredis.FakeServer())
        from ...config import mask_url

        client = fakeredis.FakeRedis(server=server, decode_responses=True, encoding_errors=TOLERANT)
        return cls(client, prefix=prefix, description=f"{mask_url(url)} (fakeredis, this process only)", fake=True)

    def queue_keys(self, queue: str) -> QueueKeys:
        """The keys of ``queue``, built once per queue name (the hot paths ask for them on every call)."""
        keys = self._queue_keys.get(queue)
        if keys is None:
            if len(self._queue_keys) >= 4096:  # queues named on the fly: keep the cache bounded
                self._queue_keys.clear()
            keys = self._queue_keys[queue] = self.keys.queue(queue)
        return keys

    # --- producing -------------------------------------------------------------------------------------------

    def enqueue(self, job: NewJob, *, now: float) -> bool:
        """One ``enqueue`` call: the job's hash key among KEYS and its fields as plain arguments."""
        qk = self.queue_keys(job.queue)
        run_at = "" if job.run_at is None else job.run_at
        args = (now, job.id, job.payload, job.max_attempts, job.enqueued_at, run_at, job.signature)
        enqueue = self.scripts.command("enqueue", (qk.ready, qk.scheduled, qk.wake, qk.job(job.id)), args)
        if job.queue in self._known_queues:
            return bool(self._commands([enqueue])[0][0])
        replies = self._commands([("SADD", self.keys.queues, job.queue), enqueue])
        self._known_queues.add(job.queue)
        return bool(replies[1][0])

    def enqueue_many(self, jobs: Sequence[NewJob], *, now: float) -> list[bool]:
        """One ``enqueue_packed`` call per queue and ``ENQUEUE_CHUNK`` jobs, all in one round trip.

        Each call's argument is encoded as the round trip reaches it, so Redis stores the first chunks while
        later ones are still being encoded.
        """
        by_queue: dict[str, list[int]] = {}
        for index, job in enumerate(jobs):
            by_queue.setdefault(job.queue, []).append(index)
        chunks = [
            (queue, indexes[start : start + ENQUEUE_CHUNK])
            for queue, indexes in by_queue.items()
            for start in range(0, len(indexes), ENQUEUE_CHUNK)
        ]
        new = [q for q in by_queue if q not in self._known_queues]

        def commands() -> Iterator[tuple[Any, ...]]:
            if new:
                yield ("SADD", self.keys.queues, *new)
            for queue, chunk in chunks:
                qk = self.queue_keys(queue)
                args = [now, qk.job_prefix, calls.pack_jobs([jobs[i] for i in chunk])]
                yield self.scripts.command("enqueue_packed", [qk.ready, qk.scheduled, qk.wake], args)

        replies = self._streamed(commands)[-len(chunks) :] if chunks else []
        self._known_queues.update(by_queue)
        stored = [False] * len(jobs)
        for (_, chunk), reply in zip(chunks, replies):
            for i, flag in zip(chunk, reply):
                stored[i] = flag == "1"
        return stored

    # --- working ---------------------------------------------------------------------------------------------

    def reserve(
        self, queues: Sequence[str], *, worker_id: str, now: float, lease_s: float, count: int = 1
    ) -> list[Lease]:
        return self.complete_and_reserve([], queues, worker_id=worker_id, now=now, lease_s=lease_s, count=count)[1]

    def complete_and_reserve(
        self,
        completions: Sequence[tuple[Lease, str, float]],
        queues: Sequence[str],
        *,
        worker_id: str,
        now: float,
        lease_s: float,
        count: int,
    ) -> tuple[list[bool], list[Lease]]:
        """Acknowledgements and the next reserve in one round trip (the worker's hot path)."""
        commands = calls.complete(self.scripts, self.queue_keys, completions, now=now, metrics_of=self._metrics_of(now))
        reserve = self._reserve_call(queues, worker_id=worker_id, now=now, lease_s=lease_s, count=count)
        replies = self._commands([*commands, reserve])
        done = [flag == "1" for reply in replies[:-1] for flag in reply]
        return done, calls.parse_reserve(queues, replies[-1], now)

    def _reserve_call(
        self, queues: Sequence[str], *, worker_id: str, now: float, lease_s: float, count: int
    ) -> tuple[Any, ...]:
        keys = [self.queue_keys(queue) for queue in queues]
        return calls.reserve(self.scripts, keys, worker_id=worker_id, now=now, lease_s=lease_s, count=count)

    def wait_and_reserve(
        self,
        queues: Sequence[str],
        *,
        worker_id: str,
        clock: Callable[[], float],
        lease_s: float,
        count: int,
        timeout_s: float,
    ) -> list[Lease]:
        """``BLPOP`` on the wake lists and the reserve script in ONE round trip: Redis runs the reserve the
        moment the wait ends, so a woken worker holds its job without a second trip.

        The reserve's ``now`` is the time the wait began (due scheduled jobs are promoted by the next call, never
        early); its leases run ``lease_s`` past the longest the wait can take, and heartbeats renew them.
        """
        if self._fake or timeout_s <= 0:  # fakeredis cannot block inside a hand-written round trip
            return super().wait_and_reserve(
                queues, worker_id=worker_id, clock=clock, lease_s=lease_s, count=count, timeout_s=timeout_s
            )
        now = clock()
        wake = ("BLPOP", *(self.queue_keys(q).wake for q in queues), max(timeout_s, 0.001))
        reserve = self._reserve_call(queues, worker_id=worker_id, now=now, lease_s=timeout_s + lease_s, count=count)
        replies = self._commands([wake, reserve])
        return calls.parse_reserve(queues, replies[-1], clock())

    def wait_for_jobs(self, queues: Sequence[str], *, timeout_s: float) -> None:
        """Block on the queues' wake lists; the token popped is only a hint, ``reserve`` restores the invariant."""
        if timeout_s <= 0:
            return
        with self._errors():
            self.client.blpop([self.keys.queue(q).wake for q in queues], timeout=max(timeout_s, 0.001))

    def next_due(self, queues: Sequence[str]) -> float | None:
        return self._earliest([self.queue_keys(q).scheduled for q in queues])

    def next_wake(self, queues: Sequence[str]) -> float | None:
        """The earliest score of the queues' scheduled and lease sets, in one round trip."""
        return self._earliest(
            [key for q in queues for key in (self.queue_keys(q).scheduled, self.queue_keys(q).leases)]
        )

    def oldest_ready_at(self, queues: Sequence[str]) -> float | None:
        return reads.oldest_ready_at(self, queues)

    def _earliest(self, zsets: Sequence[str]) -> float | None:
        """The lowest score in any of ``zsets`` (one round trip), or ``None`` when they are all empty."""

        def build(pipe: Any) -> None:
            for key in zsets:
                pipe.zrange(key, 0, 0, withscores=True)

        firsts = [entries[0][1] for entries in self._pipeline(build) if entries]
        return min(firsts) if firsts else None

    def extend(self, leases: Sequence[Lease], *, now: float, lease_s: float) -> list[bool]:
        by_queue: dict[str, list[Lease]] = {}
        for lease in leases:
            by_queue.setdefault(lease.queue, []).append(lease)

        def build(pipe: Any) -> None:
            for queue, group in by_queue.items():
                qk = self.queue_keys(queue)
                args: list[Any] = [now + lease_s]
                for lease in group:
                    args += [lease.job_id, lease.token]
                self.scripts.queue(pipe, "extend", [qk.leases, *(qk.job(x.job_id) for x in group)], args)

        replies = self._pipeline(build)
        held = {
            (x.queue, x.job_id): bool(flag)
            for group, reply in zip(by_queue.values(), replies)
            for x, flag in zip(group, reply)
        }
        return [held[(x.queue, x.job_id)] for x in leases]

    def complete(self, lease: Lease, result: str, *, now: float, result_ttl_s: float) -> bool:
        return self.complete_many([(lease, result, result_ttl_s)], now=now)[0]

    def complete_many(self, items: Sequence[tuple[Lease, str, float]], *, now: float) -> list[bool]:
        commands = calls.complete(self.scripts, self.queue_keys, items, now=now, metrics_of=self._metrics_of(now))
        return [flag == "1" for reply in self._commands(commands) for flag in reply] if commands else []

    def retry(self, lease: Lease, *, run_at: float, error: ErrorInfo, now: float) -> bool:
        qk = self.keys.queue(lease.queue)
        keys = [qk.job(lease.job_id), qk.leases, qk.scheduled, qk.ready, qk.wake]
        args = [lease.job_id, lease.token, run_at, now, error.to_json()]
        mkeys, margs = metric_keys(self.keys, lease.queue, now, self.record_metrics)
        if mkeys:
            keys, args = [*keys, *mkeys], [*args, *sample_args(lease, now), *margs]
        return bool(self._run("retry", keys, args))

    def fail(self, lease: Lease, *, error: ErrorInfo, now: float) -> bool:
        qk = self.keys.queue(lease.queue)
        keys = [qk.job(lease.job_id), qk.leases, qk.failed]
        args = [lease.job_id, lease.token, now, error.to_json()]
        mkeys, margs = metric_keys(self.keys, lease.queue, now, self.record_metrics)
        if mkeys:
            keys, args = [*keys, *mkeys], [*args, *sample_args(lease, now), *margs]
        return bool(self._run("fail", keys, args))

    def _metrics_of(self, now: float) -> Callable[[str], tuple[list[str], list[Any]]] | None:
        """The metric keys and arguments of each queue's ``complete`` call at ``now`` (``None``: metrics off)."""
        if not self.record_metrics:
            return None
        return lambda queue: metric_keys(self.keys, queue, now, True)

    def release(self, lease: Lease, *, now: float) -> bool:
        qk = self.keys.queue(lease.queue)
        keys = [qk.job(lease.job_id), qk.leases, qk.ready, qk.wake]
        return bool(self._run("release", keys, [lease.job_id, lease.token]))

    def defer(self, lease: Lease, *, run_at: float, now: float) -> bool:
        qk = self.keys.queue(lease.queue)
        keys = [qk.job(lease.job_id), qk.leases, qk.scheduled, qk.ready, qk.wake]
        return bool(self._run("defer", keys, [lease.job_id, lease.token, run_at, now]))

    def requeue_expired(self, queues: Sequence[str], *, now: float, limit: int = 100) -> tuple[int, int]:
        """Also reports, at most once a minute per queue, a queue one of whose keys holds the wrong type (written
        by hand, say): the scripts leave such a queue untouched, and the other queues go on."""

        burials = self._bury_expired_members(queues, now=now, limit=limit)

        def build(pipe: Any) -> None:
            for queue in queues:
                qk = self.keys.queue(queue)
                keys = [qk.leases, qk.ready, qk.failed, qk.wake]
                self.scripts.queue(pipe, "requeue_expired", keys, [qk.job_prefix, now, limit])

        replies = self._pipeline(build)
        for queue, reply in zip(queues, replies):
            if int(reply[2]) and self._damage_reported.get(queue, 0.0) < now - 60:
                self._damage_reported[queue] = now
                qk = self.keys.queue(queue)
                log.error(
                    "queue %s is damaged: one of its keys (%s) holds the wrong type; no worker takes its jobs until "
                    "it is repaired",
                    queue,
                    ", ".join((qk.ready, qk.scheduled, qk.leases, qk.wake, qk.failed)),
                )
        return sum(int(r[0]) for r in replies), sum(int(r[1]) for r in replies) + burials

    # --- inspecting and managing -----------------------------------------------------------------------------

    def status(self, queue: str, job_id: str) -> JobStatus | None:
        with self._errors():
            state, attempts, result, error, payload = self.client.hmget(
                self.keys.queue(queue).job(job_id), ["state", "attempts", "result", "error", "payload"]
            )
        if state is None:
            return None
        return JobStatus(cast(JobState, state), _count(attempts), result, ErrorInfo.from_json(error), payload)

    def job_info(self, queue: str, job_id: str) -> JobInfo | None:
        qk = self.keys.queue(queue)
        with self._errors():
            pipe = self.client.pipeline(transaction=False)
            pipe.hmget(qk.job(job_id), JOB_INFO_FIELDS).zscore(qk.scheduled, job_id)
            fields, run_at = pipe.execute()
        return job_info_from_fields(queue, job_id, dict(zip(JOB_INFO_FIELDS, fields)), run_at)

    def queue_stats(self, queue: str) -> QueueStats:
        qk = self.keys.queue(queue)
        with self._errors():
            pipe = self.client.pipeline(transaction=False)
            pipe.llen(qk.ready).zcard(qk.scheduled).zcard(qk.leases).zcard(qk.failed)
            ready, scheduled, running, failed = pipe.execute()
        return QueueStats(queue, int(ready), int(scheduled), int(running), int(failed))

    def known_queues(self) -> list[str]:
        with self._errors():
            return sorted(self.client.smembers(self.keys.queues))

    def failed(self, queue: str, *, limit: int = 50) -> list[FailedJob]:
        if limit <= 0:
            return []
        qk = self.keys.queue(queue)
        with self._errors():
            entries = self.client.zrevrange(qk.failed, 0, limit - 1, withscores=True)
            pipe = self.client.pipeline(transaction=False)
            for job_id, _ in entries:
                pipe.hmget(qk.job(job_id), ["payload", "attempts", "error"])
            rows = pipe.execute()
        return [
            FailedJob(job_id, queue, payload or "", _count(attempts), ErrorInfo.from_json(error), failed_at)
            for (job_id, failed_at), (payload, attempts, error) in zip(entries, rows)
        ]

    def failed_job(self, queue: str, job_id: str) -> FailedJob | None:
        qk = self.keys.queue(queue)
        with self._errors():
            pipe = self.client.pipeline(transaction=False)
            pipe.zscore(qk.failed, job_id).hmget(qk.job(job_id), ["payload", "attempts", "error"])
            failed_at, (payload, attempts, error) = pipe.execute()
        if failed_at is None:
            return None
        return FailedJob(job_id, queue, payload or "", _count(attempts), ErrorInfo.from_json(error), float(failed_at))

    def jobs(self, queue: str, state: JobState, *, limit: int = 50, offset: int = 0) -> list[JobInfo]:
        with self._errors():
            return listing.list_jobs(self.client, self.keys.queue(queue), queue, state, limit, offset)

    def retry_failed(self, queue: str, ids: Sequence[str] | None = None, *, now: float) -> int:
        qk = self.keys.queue(queue)
        if ids is not None and not ids:
            return 0
        with self._errors():
            return int(self._run("retry_failed", [qk.failed, qk.ready, qk.wake], [qk.job_prefix, *(ids or [])]))

    def purge_failed(self, queue: str) -> int:
        qk = self.keys.queue(queue)
        with self._errors():
            return int(self._run("purge_failed", [qk.failed], [qk.job_prefix]))

    def delete_failed(self, queue: str, ids: Sequence[str]) -> int:
        if not ids:
            return 0
        qk = self.keys.queue(queue)
        return int(self._run("delete_failed", [qk.failed], [qk.job_prefix, *dict.fromkeys(ids)]))

    def clear(self, queue: str) -> int:
        qk = self.keys.queue(queue)
        with self._errors():
            return int(self._run("clear", [qk.ready, qk.scheduled, qk.wake], [qk.job_prefix]))

    # --- cron and workers ------------------------------------------------------------------------------------

    def claim_tick(self, schedule: str, tick: float) -> bool:
        with self._errors():
            return bool(self.client.zadd(self.keys.cron_ticks, {schedule: tick}, gt=True, ch=True))

    def last_tick(self, schedule: str) -> float | None:
        with self._errors():
            score = self.client.zscore(self.keys.cron_ticks, schedule)
        return None if score is None else float(score)

    def last_ticks(self, schedules: Sequence[str]) -> dict[str, float | None]:
        names = list(dict.fromkeys(schedules))
        with self._errors():
            pipe = self.client.pipeline(transaction=False)
            for name in names:
                pipe.zscore(self.keys.cron_ticks, name)
            scores = pipe.execute() if names else []
        return {name: None if score is None else float(score) for name, score in zip(names, scores)}

    def register_worker(self, info: WorkerInfo, *, ttl_s: float, now: float) -> None:
        with self._errors():
            pipe = self.client.pipeline(transaction=False)
            pipe.zadd(self.keys.workers, {info.id: now + ttl_s})
            pipe.set(self.keys.worker(info.id), info.to_json(), px=max(1, int(ttl_s * 1000)))
            pipe.zremrangebyscore(self.keys.workers, "-inf", now)
            pipe.execute()

    def unregister_worker(self, worker_id: str) -> None:
        with self._errors():
            self.client.pipeline(transaction=False).zrem(self.keys.workers, worker_id).delete(
                self.keys.worker(worker_id)
            ).execute()

    def workers(self, *, now: float) -> list[WorkerInfo]:
        with self._errors():
            ids = self.client.zrangebyscore(self.keys.workers, now, "+inf")
            blobs = self.client.mget([self.keys.worker(i) for i in ids]) if ids else []
        return [info for info in map(_worker_info, blobs) if info is not None]

    # --- lifecycle -------------------------------------------------------------------------------------------

    def ping(self) -> None:
        with self._errors():
            self.client.ping()

    def close(self) -> None:
        self._wire.close()
        self.client.close()

    def _run(self, name: str, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        with self._errors():
            return self.scripts.run(name, keys, args)

    def _pipeline(self, build: Callable[[Any], object]) -> list[Any]:
        """Run the commands ``build`` queues in one round trip (reloading scripts a restarted server lost)."""

        def execute() -> list[Any]:
            pipe = self.client.pipeline(transaction=False)
            build(pipe)
            replies: list[Any] = pipe.execute()
            return replies

        with self._errors():
            return self.scripts.reloading(execute)

    def _commands(self, commands: Sequence[tuple[Any, ...]]) -> list[Any]:
        """Send ``commands`` and read their replies: one round trip, on this thread's own connection.

        The hot paths (dispatch, and the worker's acknowledge-and-reserve) come here rather than through a
        redis-py ``Pipeline`` or command call, whose connection-pool and packing bookkeeping cost about a
        quarter of a local round trip (see ``wire.py``).
        """
        return self._streamed(lambda: iter(commands))

    def _streamed(self, make_commands: Callable[[], Iterator[tuple[Any, ...]]]) -> list[Any]:
        """``_commands`` for commands made as they are sent. A server that lost its scripts answers NOSCRIPT
        to every call (and runs none): the scripts are loaded and the commands made and sent again.

        Written out rather than through ``_errors`` and ``Scripts.reloading``: this is the hot path.
        """
        if self._fake:  # fakeredis has no socket: its commands go through its own pool
            with self._errors():
                pool = self.client.connection_pool
                return self.scripts.reloading(lambda: pooled_round_trip(pool, list(make_commands())))
        try:
            try:
                return self._wire.round_trip(make_commands())
            except NoScriptError:
                self.scripts.load_all()
                return self._wire.round_trip(make_commands())
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise self._unavailable(exc) from exc

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Turn redis-py's connection errors into ``BackendUnavailable`` naming the server."""
        try:
            yield
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise self._unavailable(exc) from exc

    def _unavailable(self, exc: Exception) -> BackendUnavailable:
        return BackendUnavailable(f"cannot reach {self.description}: {exc}")


def _count(text: str | None) -> int:
    """A counter field as stored; one damaged by hand reads as 0 rather than failing the read."""
    return int(text) if text and text.isascii() and text.isdigit() else 0


def _worker_info(blob: str | None) -> WorkerInfo | None:
    """A worker's announcement, or ``None`` for one missing or damaged (a listing shows the others)."""
    if not blob:
        return None
    try:
        return WorkerInfo.from_json(blob)
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
