"""The SQLite side of tasks/observe: cancel, abort, progress and metrics, each one ``BEGIN IMMEDIATE``
transaction. Metric counters are rows ``(ns, queue, minute, field) -> value`` (the fields of a Redis metrics
HASH, tasks/observe/series.py), added to inside the outcome transactions; minutes older than the retention are
deleted by the next outcome transaction of a later minute. Mixed into ``SQLiteBackend``."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ...model import CancelResult, Lease, MetricPoint, Progress
from ...observe import series
from .connection import Connections

#: How long a cancelled job's record is kept when its payload names no ``result_ttl``: a day, as results.
CANCELLED_KEEP_S = 86_400.0

CANCEL_READ = "SELECT rowid, state, payload FROM jobs WHERE ns = :ns AND queue = :queue AND id = :id"
#: Waiting -> cancelled: out of the ready order and the schedule; the record goes at ``expires_at``.
CANCEL = """
UPDATE jobs SET state = 'cancelled', finished_at = :now, seq = NULL, run_at = NULL, expires_at = :expires_at
WHERE rowid = :rowid AND state IN ('queued', 'scheduled', 'retrying')
"""
ASK_ABORT = "UPDATE jobs SET abort_at = :now WHERE rowid = :rowid AND state = 'running'"
ABORTS = "SELECT abort_at IS NOT NULL FROM jobs WHERE ns = :ns AND queue = :queue AND id = :id AND token = :token"
HELD_PAYLOAD = "SELECT payload FROM jobs WHERE ns = :ns AND queue = :queue AND id = :id AND token = :token"
ABORT = """
UPDATE jobs SET state = 'cancelled', finished_at = :now, expires_at = :expires_at, token = NULL,
    lease_expires_at = NULL
WHERE ns = :ns AND queue = :queue AND id = :id AND token = :token
"""
PROGRESS = "UPDATE jobs SET progress = :progress WHERE ns = :ns AND queue = :queue AND id = :id AND state = 'running'"
ADD_METRIC = """
INSERT INTO metrics (ns, queue, minute, field, value) VALUES (:ns, :queue, :minute, :field, :value)
ON CONFLICT (ns, queue, minute, field) DO UPDATE SET value = value + excluded.value
"""
PURGE_METRICS = "DELETE FROM metrics WHERE ns = :ns AND minute < :oldest"
METRICS = """
SELECT queue, minute, field, value FROM metrics WHERE ns = :ns AND minute BETWEEN :first AND :until
ORDER BY queue, minute
"""


class SQLiteObserve:
    """Cancel, abort, progress and metrics over the attributes ``SQLiteBackend`` has."""

    ns: str
    db: Connections
    clock: Callable[[], float]
    record_metrics: bool
    _purged_minute: int = 0

    def cancel(self, queue: str, job_id: str, *, now: float, abort: bool = False) -> CancelResult:
        with self.db.write() as conn:
            row = conn.execute(CANCEL_READ, {"ns": self.ns, "queue": queue, "id": job_id}).fetchone()
            if row is None:
                return "unknown"
            rowid, state, payload = row
            if state == "running":
                if not abort:
                    return "running"
                conn.execute(ASK_ABORT, {"rowid": rowid, "now": now})
                return "abort_requested"
            if state not in ("queued", "scheduled", "retrying"):
                return "finished"
            expires_at = self.clock() + _keep_s(payload)
            conn.execute(CANCEL, {"rowid": rowid, "now": now, "expires_at": expires_at})
            self.count_metrics(conn, queue, now, {f"c:{series.job_name(str(payload))}": 1})
            return "cancelled"

    def abort(self, lease: Lease, *, now: float) -> bool:
        """The payload is read from the record: a supervisor's lease of a dead process carries none."""
        params = {"ns": self.ns, "queue": lease.queue, "id": lease.job_id, "token": lease.token, "now": now}
        with self.db.write() as conn:
            row = conn.execute(HELD_PAYLOAD, params).fetchone()
            if row is None:
                return False
            payload = str(row[0])
            conn.execute(ABORT, {**params, "expires_at": self.clock() + _keep_s(payload)})
            self.count_metrics(conn, lease.queue, now, {f"c:{series.job_name(payload)}": 1})
            return True

    def set_progress(self, queue: str, job_id: str, progress: Progress) -> bool:
        with self.db.write() as conn:
            params = {"ns": self.ns, "queue": queue, "id": job_id, "progress": progress.to_json()}
            return conn.execute(PROGRESS, params).rowcount == 1

    def aborts_requested(self, leases: Sequence[Lease]) -> list[bool]:
        with self.db.read() as conn:
            rows = [
                conn.execute(ABORTS, {"ns": self.ns, "queue": x.queue, "id": x.job_id, "token": x.token}).fetchone()
                for x in leases
            ]
        return [bool(row and row[0]) for row in rows]

    def metric_series(self, *, since: float, until: float) -> list[MetricPoint]:
        with self.db.read() as conn:
            rows = conn.execute(METRICS, {"ns": self.ns, "first": series.minute_of(since), "until": until}).fetchall()
        by_minute: dict[tuple[str, int], dict[str, int]] = {}
        for queue, minute, field, value in rows:
            by_minute.setdefault((queue, minute), {})[field] = value
        return [point for (q, m), counters in by_minute.items() for point in series.points(q, m, counters)]

    def count_metrics(self, conn: sqlite3.Connection, queue: str, now: float, counters: Mapping[str, int]) -> None:
        """Add ``counters`` to ``queue``'s minute of ``now``, in the caller's transaction; the first write of a new
        minute deletes the minutes past the retention."""
        if not (self.record_metrics and counters):
            return
        minute = series.minute_of(now)
        rows: list[dict[str, Any]] = [
            {"ns": self.ns, "queue": queue, "minute": minute, "field": field, "value": value}
            for field, value in counters.items()
        ]
        conn.executemany(ADD_METRIC, rows)
        if minute != self._purged_minute:
            conn.execute(PURGE_METRICS, {"ns": self.ns, "oldest": minute - series.RETENTION_S})
            self._purged_minute = minute

    def count_outcomes(
        self, conn: sqlite3.Connection, code: str, leases: Sequence[Lease], written: Sequence[bool], now: float
    ) -> None:
        """The metrics of the attempts of ``leases`` whose outcome ``code`` was ``written``, summed per queue."""
        if not self.record_metrics:
            return
        by_queue: dict[str, dict[str, int]] = {}
        for lease, ok in zip(leases, written):
            if ok:
                series.merge(by_queue.setdefault(lease.queue, {}), series.deltas(code, series.sample(lease, now)))
        for queue, counters in by_queue.items():
            self.count_metrics(conn, queue, now, counters)


def _keep_s(payload: object) -> float:
    """How long a job's final record is kept: its payload's ``result_ttl``, else a day."""
    try:
        ttl = json.loads(str(payload)).get("result_ttl")
    except (ValueError, AttributeError, RecursionError):
        return CANCELLED_KEEP_S
    return float(ttl) if isinstance(ttl, (int, float)) and 0 <= ttl < 3e9 else CANCELLED_KEEP_S
