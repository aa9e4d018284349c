"""The SQLite backend: each transition of ``Backend`` is one ``BEGIN IMMEDIATE`` transaction (see ``sql.py``).

It follows the Redis backend's semantics step for step (the Lua scripts are the reference): the attempt is
counted at reserve and given back by release; an expired lease is requeued, or buried once attempts are
spent; enqueueing an id that exists is refused; a cron tick is claimed only if later than the last one.

Two differences come from having no server:

* An idle worker cannot block on a list: ``wait_for_jobs`` polls ``PRAGMA data_version`` (a counter in
  shared memory, no disk read) every ``POLL_FIRST_S`` growing to ``POLL_MAX_S``, and looks for ready jobs
  only when another connection committed something.
* Nothing expires by itself: a result's record carries ``expires_at`` (judged by ``clock``, the datastore's
  own clock, as Redis judges a key's TTL), is invisible from then on, and is deleted by the next
  ``requeue_expired`` (the workers' maintenance, every second) or replaced by an enqueue of the same id.
"""

from __future__ import annotations

import math
import secrets
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

from ... import records
from ...model import (
    ErrorInfo,
    FailedJob,
    JobInfo,
    JobState,
    JobStatus,
    Lease,
    NewJob,
    Progress,
    QueueStats,
    WorkerInfo,
    reserved_lease,
)
from ...records import stored_instant
from ..base import Backend
from ..listing import FALLBACK_STATE, check_page
from . import sql
from .connection import BUSY_TIMEOUT_S, Connections, path_from_url
from .flow import SQLiteFlowControl
from .listing import listed_job
from .observe import SQLiteObserve
from .workflows import SQLiteWorkflows

#: Due scheduled jobs moved to ready per queue and reserve call (as in Redis); the rest follow on the next call.
PROMOTE_LIMIT = 200
#: Expired result records deleted per maintenance pass.
PURGE_LIMIT = 1000
#: Positions in a queue beyond this are damaged (``sql.TAIL_SANE``): counting on from them could overflow.
_SANE_POSITION = 2**62
#: An idle worker's poll: the first pause after activity, and the cap (the worst added pickup latency).
POLL_FIRST_S, POLL_MAX_S = 0.005, 0.05


class _Positions:
    """FIFO positions of ready jobs within one write transaction: the tail grows, ``release`` takes the head."""

    def __init__(self, conn: sqlite3.Connection, ns: str) -> None:
        self.conn, self.ns = conn, ns
        self._tails: dict[str, int] = {}

    def tail(self, queue: str) -> int:
        if queue not in self._tails:
            self._tails[queue] = self._position(sql.TAIL, sql.TAIL_SANE, queue) or 0
        self._tails[queue] += 1
        return self._tails[queue]

    def head(self, queue: str) -> int:
        first = self._position(sql.HEAD, sql.HEAD_SANE, queue)
        return (1 if first is None else first) - 1

    def _position(self, query: str, sane_query: str, queue: str) -> int | None:
        """The position ``query`` finds; past a damaged one (a row written by hand), the one ``sane_query`` finds."""
        params = {"ns": self.ns, "queue": queue}
        found = self.conn.execute(query, params).fetchone()[0]
        if found is None or (type(found) is int and abs(found) <= _SANE_POSITION):
            return found
        sane = self.conn.execute(sane_query, params).fetchone()[0]
        return None if sane is None else int(sane)


class SQLiteBackend(SQLiteObserve, SQLiteFlowControl, SQLiteWorkflows, Backend):
    """Backend over one SQLite file, safe for many threads and processes of one machine."""

    def __init__(
        self,
        path: str | Path,
        *,
        prefix: str = "tasks",
        clock: Callable[[], float] = time.time,
        busy_timeout_s: float = BUSY_TIMEOUT_S,
    ) -> None:
        """``clock`` is the datastore's own clock, for result TTLs only; ``busy_timeout_s`` bounds a lock wait."""
        self.path = Path(path).expanduser().resolve()
        self.ns = prefix
        self.clock = clock
        self.db = Connections(self.path, busy_timeout_s=busy_timeout_s)
        self.description = f"SQLite file {self.path} (this machine only)"
        self._known_queues: set[str] = set()

    @classmethod
    def from_url(cls, url: str, *, prefix: str = "tasks") -> SQLiteBackend:
        return cls(path_from_url(url), prefix=prefix)

    def _p(self, queue: str, **params: Any) -> dict[str, Any]:
        return {"ns": self.ns, "queue": queue, **params}

    # --- producing -------------------------------------------------------------------------------------------

    def enqueue(self, job: NewJob, *, now: float) -> bool:
        return self.enqueue_many([job], now=now)[0]

    def enqueue_many(self, jobs: Sequence[NewJob], *, now: float) -> list[bool]:
        if not jobs:
            return []
        clock = self.clock()
        with self.db.write() as conn:
            positions = _Positions(conn, self.ns)
            new_queues = {job.queue for job in jobs} - self._known_queues
            conn.executemany(sql.ADD_QUEUE, [self._p(q) for q in new_queues])
            stored = [self._insert(conn, positions, job, now=now, clock=clock) for job in jobs]
        self._known_queues.update(new_queues)
        return stored

    def _insert(
        self, conn: sqlite3.Connection, positions: _Positions, job: NewJob, *, now: float, clock: float
    ) -> bool:
        due = job.run_at is None or job.run_at <= now
        params = self._p(
            job.queue,
            id=job.id,
            state="queued" if due else "scheduled",
            payload=job.payload,
            signature=job.signature,
            max_attempts=job.max_attempts,
            enqueued_at=job.enqueued_at,
            seq=positions.tail(job.queue) if due else None,
            run_at=None if due else job.run_at,
            clock=clock,
        )
        return conn.execute(sql.ENQUEUE, params).rowcount == 1

    def _store(self, conn: sqlite3.Connection, job: NewJob, *, now: float) -> bool:
        """``enqueue`` of one job inside the caller's transaction (flow control's ``enqueue_flow``)."""
        return self._insert(conn, _Positions(conn, self.ns), job, now=now, clock=self.clock())

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
        """Acknowledgements and the next reserve in one transaction (the worker's hot path).

        With nothing to acknowledge, a read looks first: an idle worker does not take the write lock.
        """
        if not completions and not (count > 0 and self._work_waiting(queues, now=now)):
            return [], []
        clock = self.clock()
        with self.db.write() as conn:
            done = [self._complete(conn, item, now=now, clock=clock) for item in completions]
            self.count_outcomes(conn, "s", [lease for lease, _, _ in completions], done, now)
            positions = _Positions(conn, self.ns)
            leases: list[Lease] = []
            for queue in queues:
                self._promote(conn, positions, queue, now=now)
                if len(leases) < count and not self._is_paused(conn, queue):
                    leases += self._lease(
                        conn, queue, worker_id=worker_id, now=now, lease_s=lease_s, limit=count - len(leases)
                    )
        return done, leases

    def _promote(self, conn: sqlite3.Connection, positions: _Positions, queue: str, *, now: float) -> None:
        due = conn.execute(sql.DUE, self._p(queue, now=now, limit=PROMOTE_LIMIT)).fetchall()
        if due:
            conn.executemany(sql.PROMOTE, [{"rowid": rowid, "seq": positions.tail(queue)} for (rowid,) in due])

    def _lease(
        self, conn: sqlite3.Connection, queue: str, *, worker_id: str, now: float, lease_s: float, limit: int
    ) -> list[Lease]:
        """Lease up to ``limit`` jobs of ``queue``; a record that cannot be run goes to the failed set instead."""
        params = self._p(
            queue, token_base=secrets.token_hex(8) + ":", expiry=now + lease_s, worker=worker_id, now=now, limit=limit
        )
        leases = []
        admitted: dict[str, list[float]] = {}  # flow control: slots taken in this call, by concurrency key
        for rowid, _, job_id, payload, attempts, max_attempts, enqueued_at, token, signature, flow in sorted(
            conn.execute(sql.RESERVE, params).fetchall(), key=_queue_order
        ):
            why = records.problem(job_id, payload, max_attempts, attempts, enqueued_at, signature)
            if why is None and flow is not None and not self._admit(conn, queue, rowid, job_id, flow, params, admitted):
                continue  # held back by a limit, its attempt given back (flow.py)
            if why is None:
                args = (job_id, payload, attempts, max_attempts, enqueued_at, token, signature)
                leases.append(reserved_lease(queue, *args, started_at=now))
            else:
                error = ErrorInfo(records.MALFORMED, why).to_json()
                conn.execute(sql.BURY, {"rowid": rowid, "now": now, "error": error})
        return leases

    def wait_for_jobs(self, queues: Sequence[str], *, timeout_s: float) -> None:
        """Poll until a job is ready in ``queues``, or a scheduled one falls due, or ``timeout_s`` passes.

        The poll reads ``PRAGMA data_version``, which changes when another connection commits; only then
        are the queues looked at. A job dispatched elsewhere is seen within ``POLL_MAX_S``.
        """
        deadline = time.monotonic() + timeout_s
        conn = self.db.get()
        seen: int | None = None
        pause = POLL_FIRST_S
        while True:
            with self.db.read():
                version = int(conn.execute("PRAGMA data_version").fetchone()[0])
                if version != seen:
                    seen = version
                    if self._any_ready(conn, queues):
                        return
                    due = self.next_due(queues)
                    if due is not None:
                        deadline = min(deadline, time.monotonic() + due - time.time())
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            time.sleep(min(pause, remaining))
            pause = min(pause * 2, POLL_MAX_S)

    def _any_ready(self, conn: sqlite3.Connection, queues: Sequence[str]) -> bool:
        """A job is ready in one of ``queues`` that is not paused (a paused one would keep an idle worker busy)."""
        return any(conn.execute(sql.ANY_READY, self._p(q)).fetchone() and not self._is_paused(conn, q) for q in queues)

    def _work_waiting(self, queues: Sequence[str], *, now: float) -> bool:
        """A job is ready, or a scheduled one is due, in one of ``queues``."""
        with self.db.read() as conn:
            if self._any_ready(conn, queues):
                return True
            return any(conn.execute(sql.ANY_DUE, self._p(q, now=now)).fetchone() for q in queues)

    def next_due(self, queues: Sequence[str]) -> float | None:
        with self.db.read() as conn:
            firsts = [conn.execute(sql.NEXT_DUE, self._p(q)).fetchone()[0] for q in queues]
        found = [float(x) for x in firsts if x is not None]
        return min(found) if found else None

    def oldest_ready_at(self, queues: Sequence[str]) -> float | None:
        with self.db.read() as conn:
            heads = [conn.execute(sql.OLDEST_READY, self._p(q)).fetchone() for q in queues]
        found = [float(row[0]) for row in heads if row is not None and isinstance(row[0], (int, float))]
        return min(found) if found else None

    def extend(self, leases: Sequence[Lease], *, now: float, lease_s: float) -> list[bool]:
        with self.db.write() as conn:
            return [
                conn.execute(sql.EXTEND, self._p(x.queue, id=x.job_id, token=x.token, expiry=now + lease_s)).rowcount
                == 1
                for x in leases
            ]

    def complete(self, lease: Lease, result: str, *, now: float, result_ttl_s: float) -> bool:
        return self.complete_many([(lease, result, result_ttl_s)], now=now)[0]

    def complete_many(self, items: Sequence[tuple[Lease, str, float]], *, now: float) -> list[bool]:
        clock = self.clock()
        with self.db.write() as conn:
            done = [self._complete(conn, item, now=now, clock=clock) for item in items]
            self.count_outcomes(conn, "s", [lease for lease, _, _ in items], done, now)
            return done

    def _complete(self, conn: sqlite3.Connection, item: tuple[Lease, str, float], *, now: float, clock: float) -> bool:
        lease, result, ttl = item
        params = self._p(
            lease.queue, id=lease.job_id, token=lease.token, result=result, now=now, expires_at=clock + max(ttl, 0.001)
        )
        return conn.execute(sql.COMPLETE, params).rowcount == 1

    def retry(self, lease: Lease, *, run_at: float, error: ErrorInfo, now: float) -> bool:
        params = self._p(lease.queue, id=lease.job_id, token=lease.token, error=error.to_json())
        with self.db.write() as conn:
            if run_at <= now:
                params["seq"] = _Positions(conn, self.ns).tail(lease.queue)
                done = conn.execute(sql.RETRY_NOW, params).rowcount == 1
            else:
                done = conn.execute(sql.RETRY_LATER, {**params, "run_at": run_at}).rowcount == 1
            self.count_outcomes(conn, "r", [lease], [done], now)
            return done

    def fail(self, lease: Lease, *, error: ErrorInfo, now: float) -> bool:
        params = self._p(lease.queue, id=lease.job_id, token=lease.token, error=error.to_json(), now=now)
        with self.db.write() as conn:
            done = conn.execute(sql.FAIL, params).rowcount == 1
            self.count_outcomes(conn, "f", [lease], [done], now)
            return done

    def release(self, lease: Lease, *, now: float) -> bool:
        with self.db.write() as conn:
            seq = _Positions(conn, self.ns).head(lease.queue)
            return (
                conn.execute(sql.RELEASE, self._p(lease.queue, id=lease.job_id, token=lease.token, seq=seq)).rowcount
                == 1
            )

    def defer(self, lease: Lease, *, run_at: float, now: float) -> bool:
        if not (math.isfinite(run_at) and math.isfinite(now)):  # as Redis's script refuses them
            raise ValueError("defer: run_at and now must be finite numbers")
        params = self._p(lease.queue, id=lease.job_id, token=lease.token)
        with self.db.write() as conn:
            if run_at <= now:
                params["seq"] = _Positions(conn, self.ns).tail(lease.queue)
                return conn.execute(sql.DEFER_NOW, params).rowcount == 1
            return conn.execute(sql.DEFER_LATER, {**params, "run_at": run_at}).rowcount == 1

    def requeue_expired(self, queues: Sequence[str], *, now: float, limit: int = 100) -> tuple[int, int]:
        """Also deletes the records whose result TTL ran out: the deterministic purge of this backend.

        Every worker calls this each second: a read looks first, so the write lock is taken only when
        there is something to do.
        """
        clock = self.clock()
        if not self._anything_expired(queues, now=now, clock=clock):
            return 0, 0
        requeued = failed = 0
        with self.db.write() as conn:
            positions = _Positions(conn, self.ns)
            for queue in queues:
                for rowid, attempts, max_attempts in conn.execute(
                    sql.EXPIRED_LEASES, self._p(queue, now=now, limit=limit)
                ).fetchall():
                    if not (type(attempts) is int and type(max_attempts) is int) or attempts >= max_attempts:
                        conn.execute(sql.BURY, {"rowid": rowid, "now": now, "error": _lost(attempts, max_attempts)})
                        self._buried_member(conn, rowid, now=now)
                        failed += 1
                    else:
                        conn.execute(sql.REQUEUE, {"rowid": rowid, "seq": positions.tail(queue)})
                        requeued += 1
            conn.execute(sql.PURGE_EXPIRED, {"clock": clock, "limit": PURGE_LIMIT})
        return requeued, failed

    def _anything_expired(self, queues: Sequence[str], *, now: float, clock: float) -> bool:
        with self.db.read() as conn:
            if conn.execute(sql.ANY_RESULT_EXPIRED, {"clock": clock}).fetchone():
                return True
            return any(conn.execute(sql.ANY_LEASE_EXPIRED, self._p(q, now=now)).fetchone() for q in queues)

    # --- inspecting and managing -----------------------------------------------------------------------------

    def status(self, queue: str, job_id: str) -> JobStatus | None:
        with self.db.read() as conn:
            row = conn.execute(sql.STATUS, self._p(queue, id=job_id, clock=self.clock())).fetchone()
        if row is None:
            return None
        state, attempts, result, error, payload = row
        return JobStatus(cast(JobState, state), _count(attempts), result, ErrorInfo.from_json(error), payload)

    def job_info(self, queue: str, job_id: str) -> JobInfo | None:
        with self.db.read() as conn:
            row = conn.execute(sql.JOB_INFO, self._p(queue, id=job_id, clock=self.clock())).fetchone()
        if row is None:
            return None
        state, attempts, max_attempts, payload, enqueued_at, started_at, finished_at, run_at, worker = row[:9]
        result, error, progress = row[9:]
        return JobInfo(
            id=job_id,
            queue=queue,
            state=cast(JobState, state),
            attempts=_count(attempts),
            max_attempts=_count(max_attempts) or 1,
            payload=payload,
            enqueued_at=stored_instant(enqueued_at),
            started_at=stored_instant(started_at),
            finished_at=stored_instant(finished_at),
            run_at=stored_instant(run_at) if state in ("scheduled", "retrying") else None,
            worker=worker,
            result=result,
            error=ErrorInfo.from_json(error),
            progress=Progress.from_json(progress),
        )

    def queue_stats(self, queue: str) -> QueueStats:
        with self.db.read() as conn:
            ready, scheduled, running, failed = conn.execute(sql.STATS, self._p(queue)).fetchone()
        return QueueStats(queue, int(ready), int(scheduled), int(running), int(failed))

    def known_queues(self) -> list[str]:
        with self.db.read() as conn:
            return [name for (name,) in conn.execute(sql.KNOWN_QUEUES, {"ns": self.ns})]

    def failed(self, queue: str, *, limit: int = 50) -> list[FailedJob]:
        if limit <= 0:
            return []
        with self.db.read() as conn:
            rows = conn.execute(sql.FAILED, self._p(queue, limit=limit)).fetchall()
        return [
            FailedJob(str(job_id), queue, str(payload), _count(attempts), ErrorInfo.from_json(error), float(failed_at))
            for job_id, payload, attempts, error, failed_at in rows
        ]

    def failed_job(self, queue: str, job_id: str) -> FailedJob | None:
        with self.db.read() as conn:
            row = conn.execute(sql.FAILED_ONE, self._p(queue, id=job_id)).fetchone()
        if row is None:
            return None
        _, payload, attempts, error, failed_at = row
        return FailedJob(job_id, queue, str(payload), _count(attempts), ErrorInfo.from_json(error), float(failed_at))

    def jobs(self, queue: str, state: JobState, *, limit: int = 50, offset: int = 0) -> list[JobInfo]:
        index = check_page(state, limit, offset)
        if index is None or limit == 0:
            return []
        with self.db.read() as conn:
            rows = conn.execute(sql.LIST_JOBS[index], self._p(queue, limit=limit, offset=offset)).fetchall()
        return [listed_job(queue, row, FALLBACK_STATE[index]) for row in rows]

    def retry_failed(self, queue: str, ids: Sequence[str] | None = None, *, now: float) -> int:
        if ids is not None and not ids:
            return 0
        with self.db.write() as conn:
            if ids is None:
                ids = [job_id for (job_id,) in conn.execute(sql.FAILED_IDS, self._p(queue))]
            positions = _Positions(conn, self.ns)
            moved = 0
            for job_id in dict.fromkeys(ids):
                params = self._p(queue, id=job_id, seq=positions.tail(queue))
                moved += conn.execute(sql.RETRY_FAILED, params).rowcount
        return moved

    def purge_failed(self, queue: str) -> int:
        with self.db.write() as conn:
            return conn.execute(sql.PURGE_FAILED, self._p(queue)).rowcount

    def delete_failed(self, queue: str, ids: Sequence[str]) -> int:
        if not ids:
            return 0
        with self.db.write() as conn:
            return sum(conn.execute(sql.DELETE_FAILED, self._p(queue, id=i)).rowcount for i in dict.fromkeys(ids))

    def clear(self, queue: str) -> int:
        with self.db.write() as conn:
            return conn.execute(sql.CLEAR, self._p(queue)).rowcount

    # --- cron and workers ------------------------------------------------------------------------------------

    def claim_tick(self, schedule: str, tick: float) -> bool:
        with self.db.write() as conn:
            return conn.execute(sql.CLAIM_TICK, {"ns": self.ns, "schedule": schedule, "tick": tick}).rowcount == 1

    def last_tick(self, schedule: str) -> float | None:
        with self.db.read() as conn:
            row = conn.execute(sql.LAST_TICK, {"ns": self.ns, "schedule": schedule}).fetchone()
        return None if row is None else float(row[0])

    def last_ticks(self, schedules: Sequence[str]) -> dict[str, float | None]:
        found: dict[str, float | None] = dict.fromkeys(schedules)
        names = list(found)
        with self.db.read() as conn:
            for start in range(0, len(names), 500):  # within SQLite's limit on parameters
                chunk = names[start : start + 500]
                params = {"ns": self.ns, **{f"s{i}": name for i, name in enumerate(chunk)}}
                query = sql.LAST_TICKS.format(names=", ".join(f":s{i}" for i in range(len(chunk))))
                found.update((str(name), float(tick)) for name, tick in conn.execute(query, params))
        return found

    def register_worker(self, info: WorkerInfo, *, ttl_s: float, now: float) -> None:
        with self.db.write() as conn:
            conn.execute(
                sql.REGISTER_WORKER, {"ns": self.ns, "id": info.id, "info": info.to_json(), "expires_at": now + ttl_s}
            )
            conn.execute(sql.FORGET_DEAD_WORKERS, {"ns": self.ns, "now": now})

    def unregister_worker(self, worker_id: str) -> None:
        with self.db.write() as conn:
            conn.execute(sql.UNREGISTER_WORKER, {"ns": self.ns, "id": worker_id})

    def workers(self, *, now: float) -> list[WorkerInfo]:
        with self.db.read() as conn:
            rows = conn.execute(sql.LIVE_WORKERS, {"ns": self.ns, "now": now}).fetchall()
        found = []
        for (info,) in rows:
            try:
                found.append(WorkerInfo.from_json(info))
            except (ValueError, KeyError, TypeError, AttributeError):
                continue  # a damaged announcement: the listing shows the others
        return found

    # --- lifecycle -------------------------------------------------------------------------------------------

    def ping(self) -> None:
        with self.db.read() as conn:
            conn.execute("SELECT 1").fetchone()

    def close(self) -> None:
        self.db.close()


def _lost(attempts: object, max_attempts: object) -> str:
    """The error of a job buried because its worker kept vanishing, or because its counters are damaged (the
    texts Redis's script writes)."""
    if type(attempts) is not int:
        return ErrorInfo(
            records.MALFORMED, f"field attempts is {records.show(attempts)}, not an integer >= 0"
        ).to_json()
    if type(max_attempts) is not int:
        message = f"field max_attempts is {records.show(max_attempts)}, not an integer >= 1"
        return ErrorInfo(records.MALFORMED, message).to_json()
    message = f"worker lost (lease expired) on attempt {attempts} of {max_attempts}"
    return ErrorInfo("LeaseExpired", message).to_json()


def _queue_order(row: tuple[Any, ...]) -> tuple[bool, float]:
    """Rows by their position in the queue (``seq``); a damaged position sorts first, to be checked and failed."""
    seq = row[1]
    return (True, float(seq)) if type(seq) in (int, float) else (False, 0.0)


def _count(value: object) -> int:
    """A counter as stored; one damaged by hand reads as 0 rather than failing the read."""
    return value if type(value) is int else 0
