"""The script calls of the hot paths (enqueue, reserve, complete) and the parsing of their replies.

Pure functions: they build the ``EVALSHA`` commands that ``RedisBackend`` sends and read what comes back, and
do no I/O. Numbers go as text, as ``repr`` writes them (what redis-py would send), so nothing is rounded.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable, Sequence
from typing import Any

from ...model import Lease, NewJob, reserved_lease
from ...observe.series import sample_values
from .keys import QueueKeys
from .scripts import Scripts

log = logging.getLogger("tasks.backends")

#: Due scheduled jobs moved to ready per queue and reserve call; the rest follow on the next call.
PROMOTE_LIMIT = 200
#: Longest a result is kept (100 years, in ms): longer asks overflow Redis's expiry (``PEXPIRE`` then fails).
MAX_RESULT_TTL_MS = 100 * 365 * 86_400_000
#: Encodes the jobs of one enqueue or complete call into the script's one JSON argument.
_PACK = json.JSONEncoder(separators=(",", ":"))


def pack_jobs(jobs: Sequence[NewJob]) -> str:
    """The ``enqueue_packed`` argument: per job id, payload, max_attempts, enqueued_at, run_at, signature."""
    return _PACK.encode(
        [
            [
                job.id,
                job.payload,
                str(job.max_attempts),
                repr(job.enqueued_at),
                "" if job.run_at is None else repr(job.run_at),
                job.signature,
            ]
            for job in jobs
        ]
    )


def reserve(
    scripts: Scripts, queues: Sequence[QueueKeys], *, worker_id: str, now: float, lease_s: float, count: int
) -> tuple[Any, ...]:
    """The ``reserve`` call over ``queues`` (strict priority order), with a fresh token base."""
    keys: list[str] = []
    for qk in queues:
        keys += [qk.ready, qk.scheduled, qk.leases, qk.wake, qk.failed, qk.paused]
    prefixes = [qk.job_prefix for qk in queues]
    args = [now, now + lease_s, count, worker_id, secrets.token_hex(8) + ":", PROMOTE_LIMIT, *prefixes]
    return scripts.command("reserve", keys, args)


def parse_reserve(queues: Sequence[str], text: str, now: float) -> list[Lease]:
    """The leases of a ``reserve`` reply: one JSON array, 8 values per job ('' when none was taken).

    The script sends only records it checked; should one still not convert, it is logged and left to its
    lease (it comes back, attempt counted), and the rest of the batch is taken.
    """
    if not text:
        return []
    reply = json.loads(text)
    try:
        return [
            reserved_lease(queues[int(reply[i]) - 1], *reply[i + 1 : i + 8], started_at=now)
            for i in range(0, len(reply), 8)
        ]
    except (TypeError, ValueError, IndexError):
        return _parse_one_by_one(queues, reply, now)


def _parse_one_by_one(queues: Sequence[str], reply: list[Any], now: float) -> list[Lease]:
    leases = []
    for i in range(0, len(reply), 8):
        try:
            leases.append(reserved_lease(queues[int(reply[i]) - 1], *reply[i + 1 : i + 8], started_at=now))
        except (TypeError, ValueError, IndexError) as exc:
            log.error("a reserved record does not convert (%s): left to its lease: %r", exc, reply[i : i + 8][:3])
    return leases


def complete(
    scripts: Scripts,
    keys_of: Callable[[str], QueueKeys],
    items: Sequence[tuple[Lease, str, float]],
    *,
    now: float,
    metrics_of: Callable[[str], tuple[list[str], list[Any]]] | None = None,
) -> list[tuple[Any, ...]]:
    """The ``complete`` calls for ``(lease, result, result_ttl_s)`` items, one per run of the same queue.

    ``metrics_of(queue)`` gives the metric keys and arguments (``observe.metric_keys``); without it, or when it
    gives none, the script counts nothing."""
    commands: list[tuple[Any, ...]] = []
    start = 0
    while start < len(items):
        queue = items[start][0].queue
        end = start
        while end < len(items) and items[end][0].queue == queue:
            end += 1
        qk = keys_of(queue)
        mkeys, margs = metrics_of(queue) if metrics_of is not None else ([], [])
        packed = _PACK.encode(
            [
                [lease.job_id, lease.token, result, _ttl_ms(ttl), *sample_values(lease, now)]
                if mkeys
                else [lease.job_id, lease.token, result, _ttl_ms(ttl)]
                for lease, result, ttl in items[start:end]
            ]
        )
        commands.append(scripts.command("complete", [qk.leases, *mkeys], [now, qk.job_prefix, packed, *margs]))
        start = end
    return commands


def _ttl_ms(ttl_s: float) -> str:
    """A result TTL as ``PEXPIRE`` takes it: whole milliseconds from 1 to ``MAX_RESULT_TTL_MS`` (NaN, which says
    nothing, keeps the result longest: a result is never lost to a bad number)."""
    ms = ttl_s * 1000
    if 1 <= ms <= MAX_RESULT_TTL_MS:
        return str(int(ms))
    return "1" if ms < 1 else str(MAX_RESULT_TTL_MS)
