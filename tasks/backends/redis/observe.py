"""The Redis side of tasks/observe: cancel, abort, progress and metric reads, plus the metric arguments the
outcome scripts (complete, retry, fail) take. Mixed into ``RedisBackend``; its scripts are in ``lua/``."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, cast

from ...model import CancelResult, Lease, MetricPoint, Progress
from ...observe import series
from .keys import Keys

if TYPE_CHECKING:
    from .scripts import Scripts

#: How long a cancelled job's record is kept when its payload names no ``result_ttl`` (ms): a day, as results.
CANCELLED_KEEP_MS = 86_400_000


def metric_keys(keys: Keys, queue: str, now: float, on: bool) -> tuple[list[str], list[Any]]:
    """The KEYS (minute HASH, minutes ZSET) and trailing ARGV (minute, retention) of an outcome script's metrics
    block; both empty when metrics are off, and the script then skips the block."""
    if not on:
        return [], []
    minute = series.minute_of(now)
    return [keys.metrics(queue, minute), keys.metric_minutes(queue)], [minute, series.RETENTION_S]


def sample_args(lease: Lease, now: float) -> list[Any]:
    """The per-attempt metric arguments (name, run_ms, wait_ms, bucket) of ``lease`` ending at ``now``."""
    return series.sample_values(lease, now)


class RedisObserve:
    """Cancel, abort, progress and metric reads over the attributes ``RedisBackend`` has."""

    keys: Keys
    client: Any
    scripts: Scripts
    record_metrics: bool

    if TYPE_CHECKING:

        def _run(self, name: str, keys: Sequence[Any], args: Sequence[Any]) -> Any: ...
        def _commands(self, commands: Sequence[tuple[Any, ...]]) -> list[Any]: ...
        def _errors(self) -> AbstractContextManager[None]: ...

    def cancel(self, queue: str, job_id: str, *, now: float, abort: bool = False) -> CancelResult:
        qk = self.keys.queue(queue)
        mkeys, margs = metric_keys(self.keys, queue, now, True)
        retention = margs[1] if self.record_metrics else ""
        args = [job_id, repr(now), "1" if abort else "0", CANCELLED_KEEP_MS, margs[0], retention]
        return cast(CancelResult, self._run("cancel", [qk.job(job_id), qk.ready, qk.scheduled, *mkeys], args))

    def abort(self, lease: Lease, *, now: float) -> bool:
        qk = self.keys.queue(lease.queue)
        mkeys, margs = metric_keys(self.keys, lease.queue, now, True)
        retention = margs[1] if self.record_metrics else ""
        args = [lease.job_id, lease.token, repr(now), CANCELLED_KEEP_MS, margs[0], retention]
        return bool(self._run("abort", [qk.job(lease.job_id), qk.leases, *mkeys], args))

    def set_progress(self, queue: str, job_id: str, progress: Progress) -> bool:
        return bool(self._run("progress", [self.keys.queue(queue).job(job_id)], [progress.to_json()]))

    def aborts_requested(self, leases: Sequence[Lease]) -> list[bool]:
        if not leases:
            return []
        by_queue: dict[str, list[int]] = {}
        for index, lease in enumerate(leases):
            by_queue.setdefault(lease.queue, []).append(index)
        calls = []  # one call per queue: a script stays in its queue's slot (a worker of many queues, on a cluster)
        for queue, indexes in by_queue.items():
            qk = self.keys.queue(queue)
            keys = [qk.job(leases[i].job_id) for i in indexes]
            calls.append(self.scripts.command("aborts", keys, [leases[i].token for i in indexes]))
        flags = [False] * len(leases)
        with self._errors():
            replies = self._commands(calls)
        for indexes, reply in zip(by_queue.values(), replies):
            for i, flag in zip(indexes, reply):
                flags[i] = bool(flag)
        return flags

    def metric_series(self, *, since: float, until: float) -> list[MetricPoint]:
        """Every queue's minutes in ``[since, until]``: one round trip for the minute indexes, one for the counters."""
        with self._errors():
            queues = sorted(self.client.smembers(self.keys.queues))
            pipe = self.client.pipeline(transaction=False)
            for queue in queues:
                pipe.zrangebyscore(self.keys.metric_minutes(queue), series.minute_of(since), until)
            wanted = [(q, int(float(m))) for q, minutes in zip(queues, pipe.execute()) for m in minutes]
            pipe = self.client.pipeline(transaction=False)
            for queue, minute in wanted:
                pipe.hgetall(self.keys.metrics(queue, minute))
            counters = pipe.execute() if wanted else []
        return list(_points(wanted, counters))


def _points(wanted: Sequence[tuple[str, int]], counters: Sequence[dict[str, str]]) -> Iterator[MetricPoint]:
    for (queue, minute), fields in zip(wanted, counters):
        yield from series.packed_points(queue, minute, fields)
