"""The script calls of the hot paths (enqueue, reserve, complete) and the parsing of their replies.

Pure functions: they build the ``EVALSHA`` commands that ``RedisBackend`` sends and read what comes back, and
do no I/O. Numbers go as text, as ``repr`` writes them (what redis-py would send), so nothing is rounded.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Sequence
from typing import Any

from ...model import Lease, NewJob, reserved_lease
from .keys import QueueKeys
from .scripts import Scripts

#: Due scheduled jobs moved to ready per queue and reserve call; the rest follow on the next call.
PROMOTE_LIMIT = 200
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
        keys += [qk.ready, qk.scheduled, qk.leases, qk.wake]
    prefixes = [qk.job_prefix for qk in queues]
    args = [now, now + lease_s, count, worker_id, secrets.token_hex(8) + ":", PROMOTE_LIMIT, *prefixes]
    return scripts.command("reserve", keys, args)


def parse_reserve(queues: Sequence[str], text: str, now: float) -> list[Lease]:
    """The leases of a ``reserve`` reply: one JSON array, 8 values per job ('' when none was taken)."""
    if not text:
        return []
    reply = json.loads(text)
    return [
        reserved_lease(queues[int(reply[i]) - 1], *reply[i + 1 : i + 8], started_at=now)
        for i in range(0, len(reply), 8)
    ]


def complete(
    scripts: Scripts,
    keys_of: Callable[[str], QueueKeys],
    items: Sequence[tuple[Lease, str, float]],
    *,
    now: float,
) -> list[tuple[Any, ...]]:
    """The ``complete`` calls for ``(lease, result, result_ttl_s)`` items, one per run of the same queue."""
    commands: list[tuple[Any, ...]] = []
    start = 0
    while start < len(items):
        queue = items[start][0].queue
        end = start
        while end < len(items) and items[end][0].queue == queue:
            end += 1
        qk = keys_of(queue)
        packed = _PACK.encode(
            [
                [lease.job_id, lease.token, result, str(max(1, int(ttl * 1000)))]
                for lease, result, ttl in items[start:end]
            ]
        )
        commands.append(scripts.command("complete", [qk.leases], [now, qk.job_prefix, packed]))
        start = end
    return commands
