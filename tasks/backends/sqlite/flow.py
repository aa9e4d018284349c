"""Flow control on SQLite: paused queues (and the limits' transitions), as a mixin of ``SQLiteBackend``.

The statements live here rather than in ``sql.py``: they belong to this feature alone. A paused queue is a
row of ``paused_queues``; the reserve's transaction reads it, so no worker leases a job of a paused queue.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

from ...limits.options import JobFlow
from ...limits.policy import HELD_AT, next_start, slot_free
from ...model import NewJob
from .connection import Connections

#: The job holding a unique lock, while the lock lasts and the job is not finished.
LOCK_HOLDER = """
SELECT j.id, j.state, j.run_at FROM unique_locks l JOIN jobs j ON j.ns = l.ns AND j.queue = l.queue AND j.id = l.job_id
WHERE l.ns = :ns AND l.queue = :queue AND l.key = :key AND l.expires_at > :now
    AND j.state IN ('queued', 'scheduled', 'retrying', 'running')
"""
TAKE_LOCK = """
INSERT INTO unique_locks (ns, queue, key, job_id, expires_at) VALUES (:ns, :queue, :key, :id, :expires_at)
ON CONFLICT (ns, queue, key) DO UPDATE SET job_id = excluded.job_id, expires_at = excluded.expires_at
"""
DEBOUNCE = """
UPDATE jobs SET payload = :payload, signature = :signature, enqueued_at = :enqueued_at, run_at = :run_at
WHERE ns = :ns AND queue = :queue AND id = :id
"""
EXTEND_LOCK = "UPDATE unique_locks SET expires_at = :expires_at WHERE ns = :ns AND queue = :queue AND key = :key"
SET_FLOW = "UPDATE jobs SET flow = :flow, ckey = :ckey WHERE ns = :ns AND queue = :queue AND id = :id"
#: Lease expiries of the running jobs of a concurrency key whose lease holds, but those leased by the reserve under
#: way (``:base``): at most ``:limit`` of them, all the check needs.
SLOT_HOLDERS = """
SELECT lease_expires_at FROM jobs
WHERE ns = :ns AND queue = :queue AND ckey = :ckey AND state = 'running' AND lease_expires_at > :now
    AND substr(token, 1, length(:base)) <> :base
LIMIT :limit
"""
#: A job held back by a limit: out of ``running``, due at ``:run_at``, the attempt the reserve counted given back.
HOLD = """
UPDATE jobs SET state = 'scheduled', run_at = :run_at, token = NULL, lease_expires_at = NULL, worker = NULL,
    started_at = NULL, attempts = CASE WHEN typeof(attempts) = 'integer' AND attempts > 0 THEN attempts - 1 ELSE 0 END
WHERE rowid = :rowid
"""
FORGET_STARTS = "DELETE FROM rate_starts WHERE ns = :ns AND queue = :queue AND bucket = :bucket AND at <= :before"
STARTS = "SELECT at FROM rate_starts WHERE ns = :ns AND queue = :queue AND bucket = :bucket"
ADD_START = "INSERT INTO rate_starts (ns, queue, bucket, at) VALUES (:ns, :queue, :bucket, :now)"
RECENT_STARTS = (
    "SELECT COUNT(*) FROM rate_starts WHERE ns = :ns AND queue = :queue AND bucket = :bucket AND at > :since"
)
SLOT_USE = """
SELECT
    (SELECT COUNT(*) FROM jobs WHERE ns = :ns AND queue = :queue AND ckey = :ckey AND state = 'running'
        AND lease_expires_at > :now),
    (SELECT COUNT(*) FROM jobs WHERE ns = :ns AND queue = :queue AND ckey = :ckey AND state = 'scheduled'
        AND run_at = :held)
"""
END_LOCK_AT_START = "DELETE FROM unique_locks WHERE ns = :ns AND queue = :queue AND key = :key AND job_id = :id"

PAUSE = "INSERT OR IGNORE INTO paused_queues (ns, name) VALUES (:ns, :queue)"
RESUME = "DELETE FROM paused_queues WHERE ns = :ns AND name = :queue"
PAUSED = "SELECT name FROM paused_queues WHERE ns = :ns ORDER BY name"
IS_PAUSED = "SELECT 1 FROM paused_queues WHERE ns = :ns AND name = :queue"


class SQLiteFlowControl:
    """``pause``/``resume``/``paused_queues`` of the SQLite backend (see ``Backend``)."""

    ns: str
    db: Connections
    clock: Callable[[], float]

    def pause(self, queue: str) -> None:
        with self.db.write() as conn:
            conn.execute(PAUSE, {"ns": self.ns, "queue": queue})

    def resume(self, queue: str) -> None:
        with self.db.write() as conn:
            conn.execute(RESUME, {"ns": self.ns, "queue": queue})

    def limit_use(
        self, queue: str, *, rates: Sequence[tuple[str, float]], slots: Sequence[str], now: float
    ) -> tuple[list[int], list[tuple[int, int]]]:
        p = {"ns": self.ns, "queue": queue}
        with self.db.read() as conn:
            counted = [
                int(conn.execute(RECENT_STARTS, {**p, "bucket": bucket, "since": now - per}).fetchone()[0])
                for bucket, per in rates
            ]
            use = [
                tuple(
                    int(x) for x in conn.execute(SLOT_USE, {**p, "ckey": key, "now": now, "held": HELD_AT}).fetchone()
                )
                for key in slots
            ]
        return counted, [(running, waiting) for running, waiting in use]

    def paused_queues(self) -> set[str]:
        with self.db.read() as conn:
            return {name for (name,) in conn.execute(PAUSED, {"ns": self.ns})}

    def enqueue_flow(self, job: NewJob, flow: JobFlow, *, now: float) -> tuple[str, bool]:
        """The unique check, the store and the lock in one transaction (see ``Backend.enqueue_flow``)."""
        p = {"ns": self.ns, "queue": job.queue}
        with self.db.write() as conn:
            conn.execute("INSERT OR IGNORE INTO queues (ns, name) VALUES (:ns, :queue)", p)
            if flow.unique is not None:
                holder = conn.execute(LOCK_HOLDER, {**p, "key": flow.unique, "now": now}).fetchone()
                if holder is not None:
                    self._debounce(conn, job, flow, holder, now=now)
                    return str(holder[0]), False
            if not self._store(conn, job, now=now):
                return job.id, False
            conn.execute(SET_FLOW, {**p, "id": job.id, "flow": flow_field(flow), "ckey": _ckey(flow)})
            if flow.unique is not None:
                expires_at = now + lock_ttl_s(flow, job, now)
                conn.execute(TAKE_LOCK, {**p, "key": flow.unique, "id": job.id, "expires_at": expires_at})
        return job.id, True

    def _debounce(self, conn: sqlite3.Connection, job: NewJob, flow: JobFlow, holder: Any, *, now: float) -> None:
        """A debounced job that waits for its time takes the new dispatch's payload and time."""
        holder_id, state, run_at = holder
        if flow.debounce_s is None or state != "scheduled" or not (type(run_at) is float and run_at < HELD_AT):
            return
        p = {"ns": self.ns, "queue": job.queue, "id": holder_id}
        params = {**p, "payload": job.payload, "signature": job.signature, "enqueued_at": job.enqueued_at}
        conn.execute(DEBOUNCE, {**params, "run_at": job.run_at if job.run_at is not None else now})
        expires_at = now + lock_ttl_s(flow, job, now)
        conn.execute(EXTEND_LOCK, {**p, "key": flow.unique, "expires_at": expires_at})

    def _store(self, conn: sqlite3.Connection, job: NewJob, *, now: float) -> bool:
        raise NotImplementedError  # SQLiteBackend stores a job as its enqueue does

    def _admit(
        self,
        conn: sqlite3.Connection,
        queue: str,
        rowid: int,
        job_id: str,
        text: str,
        reserve: dict[str, Any],
        admitted: dict[str, list[float]],
    ) -> bool:
        """Whether a job just leased by the reserve may start (``tasks.limits.policy``); if not, it is held back.

        ``reserve`` is the reserve's parameters (its ``now``, ``expiry`` and ``token_base``); ``admitted`` the lease
        expiries of the slots this reserve took, by key. A ``flow`` that is not JSON limits nothing.
        """
        flow = _decoded(text)
        now, p = float(reserve["now"]), {"ns": self.ns, "queue": queue}
        if "r" in flow:  # a start is counted when it happens: not before the clock, if the reserve waited for the lock
            now = max(now, self.clock())
        ckey = flow.get("c")
        if isinstance(ckey, str):
            limit = int(flow.get("m", 1))
            params = {**p, "ckey": ckey, "base": reserve["token_base"], "now": now, "limit": limit}
            holders = [row[0] for row in conn.execute(SLOT_HOLDERS, params)]
            if not slot_free([*holders, *admitted.get(ckey, [])], limit=limit, now=now):
                conn.execute(HOLD, {"rowid": rowid, "run_at": HELD_AT})
                return False
        wait = self._rate_wait(conn, p, flow, now)
        if wait is not None:
            conn.execute(HOLD, {"rowid": rowid, "run_at": wait})
            return False
        if isinstance(ckey, str):
            admitted.setdefault(ckey, []).append(float(reserve["expiry"]))
        for bucket, _, _ in flow.get("r", []):
            conn.execute(ADD_START, {**p, "bucket": bucket, "now": now})
        if flow.get("uu") == "s":
            conn.execute(END_LOCK_AT_START, {**p, "key": flow.get("u"), "id": job_id})
        return True

    def _rate_wait(self, conn: sqlite3.Connection, p: dict[str, Any], flow: dict[str, Any], now: float) -> float | None:
        """When every rate limit of ``flow`` allows a start at ``now`` (``None``: now). Starts are forgotten one
        period late: a reserve whose ``now`` is behind another's (read before it waited for the write lock) still
        counts them."""
        wait = None
        for bucket, n, per in flow.get("r", []):
            conn.execute(FORGET_STARTS, {**p, "bucket": bucket, "before": now - 2 * per})
            starts = [row[0] for row in conn.execute(STARTS, {**p, "bucket": bucket})]
            at = next_start(starts, n=int(n), per_s=float(per), now=now)
            if at is not None and (wait is None or at > wait):
                wait = at
        return wait

    def _is_paused(self, conn: sqlite3.Connection, queue: str) -> bool:
        """Whether ``queue`` is paused, read inside the caller's transaction (the reserve's)."""
        return conn.execute(IS_PAUSED, {"ns": self.ns, "queue": queue}).fetchone() is not None


def flow_field(flow: JobFlow) -> str:
    """The ``flow`` column: ``u``/``uu`` the unique key and when its lock ends (``s`` at start, ``f`` at finish),
    ``c``/``m`` the concurrency key and how many may run, ``r`` per rate limit its bucket, n and period."""
    field: dict[str, Any] = {}
    if flow.unique is not None:
        field.update(u=flow.unique, uu="s" if flow.unique_until == "start" or flow.debounce_s is not None else "f")
    if flow.concurrency is not None:
        field.update(c=flow.concurrency_key, m=flow.concurrency)
    if flow.rates:
        field["r"] = [list(rate) for rate in flow.rates]
    return json.dumps(field, separators=(",", ":"))


def _ckey(flow: JobFlow) -> str | None:
    return flow.concurrency_key if flow.concurrency is not None else None


def lock_ttl_s(flow: JobFlow, job: NewJob, now: float) -> float:
    """How long a unique lock lasts at most: ``unique_for``; with debounce, until a day after the run is due."""
    if flow.debounce_s is not None and not flow.unique_for_s:
        return max(job.run_at or now, now) - now + 86400.0
    return flow.unique_for_s


def _decoded(text: str) -> dict[str, Any]:
    try:
        flow = json.loads(text)
    except ValueError:
        return {}
    return flow if isinstance(flow, dict) else {}
