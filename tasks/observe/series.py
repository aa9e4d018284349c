"""Per-minute metrics as the backends store them: pure functions, no I/O.

A backend keeps, per queue and minute, integer counters for each job name, added to atomically inside the outcome
transitions, so the sums are exact whatever the number of workers: the attempts that succeeded, failed, were
retried or cancelled, the summed run and wait times in milliseconds, and the attempts whose run time fell in each
bucket of ``BUCKETS_S``.

- SQLite: one row per counter, its field ``<code>:<job name>`` (the code first, so a name may hold any
  character). Codes: ``s``, ``f``, ``r``, ``c``, ``run``, ``wait``, and ``h<i>`` for bucket ``i``.
- Redis: one HASH field per job name, its value every counter joined by commas, in the order of ``PACKED``
  (trailing zeros left out): a third of the memory of one field per counter (docs/metrics.md).
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Mapping
from typing import NamedTuple

from ..model import Lease, MetricPoint

#: Upper bounds (seconds, inclusive) of the run-time histogram's buckets; one more bucket holds what is longer.
BUCKETS_S: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
#: How long a minute's counters are kept (seconds): 24 hours; older minutes expire (Redis) or are purged (SQLite).
RETENTION_S = 86_400
#: Outcome codes as stored, and the ``MetricPoint`` field each one counts.
OUTCOMES = {"s": "succeeded", "f": "failed", "r": "retried", "c": "cancelled"}
#: The codes of a Redis packed value, in order (the Lua scripts write position ``i + 1`` for ``PACKED[i]``).
PACKED = ("s", "f", "r", "c", "run", "wait", *(f"h{i}" for i in range(len(BUCKETS_S) + 1)))

#: The ``name`` field of a payload written with any JSON spacing (``{"name": "x"}`` from another language).
_NAME_FIELD = re.compile(r'"name"\s*:\s*"((?:[^"\\]|\\.){0,200})"')


class Sample(NamedTuple):
    """One attempt's contribution to the metrics: its job name, run and wait times (ms), and run-time bucket."""

    name: str
    run_ms: int
    wait_ms: int
    bucket: int


#: The longest run or wait a sample counts (a year, in seconds): an ``enqueued_at`` written by hand or damaged
#: (a producer's clock in another century, ``-1e308``) must not overflow a counter or poison a day's averages.
LONGEST_S = 31_536_000.0


def minute_of(now: float) -> int:
    """The minute ``now`` falls in, as epoch seconds (a multiple of 60)."""
    return int(now // 60) * 60


def bucket_of(run_s: float) -> int:
    """The index of the histogram bucket ``run_s`` falls in (``len(BUCKETS_S)`` for the open-ended last one)."""
    return bisect_left(BUCKETS_S, run_s)


def job_name(payload: str) -> str:
    """The job's name, read from the payload without decoding it (the hot path); ``?`` when there is none."""
    marker = '"name":"'
    start = payload.find(marker)
    if start >= 0:  # as tasks writes it
        start += len(marker)
        end = payload.find('"', start)
        if end >= 0 and payload[end - 1] != "\\":
            return payload[start:end][:200]
    found = _NAME_FIELD.search(payload)
    return found.group(1) if found else "?"


def _counted(seconds: float) -> float:
    """``seconds`` as a sample counts it: within ``[0, LONGEST_S]``, and 0 for a time that is not a number."""
    return seconds if 0.0 <= seconds <= LONGEST_S else (LONGEST_S if seconds > LONGEST_S else 0.0)


def sample(lease: Lease, now: float) -> Sample:
    """What the attempt of ``lease`` that ends at ``now`` adds: run time from its start, wait from enqueue."""
    run_s, wait_s = _counted(now - lease.started_at), _counted(lease.started_at - lease.enqueued_at)
    return Sample(job_name(lease.payload), round(run_s * 1000), round(wait_s * 1000), bucket_of(run_s))


def sample_values(lease: Lease, now: float) -> list[str | int]:
    """``sample`` as the scripts take it (name, run_ms, wait_ms, bucket), built with as little work as can be:
    it runs once per job on the worker's hot path."""
    run_s = now - lease.started_at
    if not 0.0 <= run_s <= LONGEST_S:
        run_s = LONGEST_S if run_s > LONGEST_S else 0.0  # NaN too: 0
    wait_s = lease.started_at - lease.enqueued_at
    if not 0.0 <= wait_s <= LONGEST_S:
        wait_s = LONGEST_S if wait_s > LONGEST_S else 0.0
    wait_ms = int(wait_s * 1000 + 0.5)
    return [job_name(lease.payload), int(run_s * 1000 + 0.5), wait_ms, bisect_left(BUCKETS_S, run_s)]


def deltas(code: str, item: Sample) -> dict[str, int]:
    """The counters one attempt adds to, for outcome ``code`` (``s``, ``f`` or ``r``)."""
    name = item.name
    return {f"{code}:{name}": 1, f"run:{name}": item.run_ms, f"wait:{name}": item.wait_ms, f"h{item.bucket}:{name}": 1}


def merge(into: dict[str, int], more: Mapping[str, int]) -> dict[str, int]:
    for field, value in more.items():
        into[field] = into.get(field, 0) + value
    return into


def points(queue: str, minute: float, counters: Mapping[str, int | str]) -> list[MetricPoint]:
    """The ``MetricPoint`` of each job name among one queue-minute's counters; unknown or damaged fields are
    skipped (a reader never fails on them)."""
    by_name: dict[str, dict[str, int]] = {}
    for field, raw in counters.items():
        code, sep, name = field.partition(":")
        value = _integer(raw)
        if sep and value is not None:
            by_name.setdefault(name, {})[code] = value
    return [_point(queue, minute, name, codes) for name, codes in sorted(by_name.items())]


def packed_points(queue: str, minute: float, fields: Mapping[str, str]) -> list[MetricPoint]:
    """The ``MetricPoint`` of each job name of a Redis minute HASH (name -> packed counters); a value that does
    not decode counts as zero (a reader never fails on a damaged field)."""
    found = []
    for name, value in sorted(fields.items()):
        numbers = [_integer(part) for part in value.split(",")][: len(PACKED)]
        found.append(_point(queue, minute, name, {code: n for code, n in zip(PACKED, numbers) if n is not None}))
    return found


def _point(queue: str, minute: float, name: str, codes: Mapping[str, int]) -> MetricPoint:
    buckets = tuple(codes.get(f"h{i}", 0) for i in range(len(BUCKETS_S) + 1))
    return MetricPoint(
        minute=float(minute),
        queue=queue,
        job=name,
        succeeded=codes.get("s", 0),
        failed=codes.get("f", 0),
        retried=codes.get("r", 0),
        cancelled=codes.get("c", 0),
        run_s_sum=codes.get("run", 0) / 1000,
        wait_s_sum=codes.get("wait", 0) / 1000,
        run_buckets=buckets if any(buckets) else (),
    )


def _integer(raw: int | str) -> int | None:
    if isinstance(raw, int):
        return raw
    text = raw.strip()
    return int(text) if text.lstrip("-").isdigit() else None
