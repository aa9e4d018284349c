"""One SQLite write transaction's view of workflows: the moves of ``tasks/workflows/policy.py`` applied to rows,
step for step as ``lua/workflow_lib.lua`` applies them in Redis."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from ...model import NewJob
from ...workflows import policy
from ...workflows.records import WorkflowRef, WorkflowSpec, pack_job, unpack_job
from . import sql

_COUNTERS = """SELECT total, pending, succeeded, failed, cancelled, state, allow_failures, finished_at, pipe, parent,
    current FROM workflows WHERE ns = :ns AND home = :home AND id = :id"""
_SET_COUNTERS = """UPDATE workflows SET pending = :pending, succeeded = :succeeded, failed = :failed,
    cancelled = :cancelled, state = :state WHERE ns = :ns AND home = :home AND id = :id"""
_FINISH = """UPDATE workflows SET finished_at = :now, expires_at = :clock + ttl_s
    WHERE ns = :ns AND home = :home AND id = :id"""
_CANCEL_JOB = """UPDATE jobs SET state = 'cancelled', finished_at = :now, expires_at = :expires_at, seq = NULL,
    run_at = NULL WHERE ns = :ns AND queue = :queue AND id = :id AND state IN ('queued', 'scheduled', 'retrying')"""
_INSERT = """INSERT INTO workflows (ns, home, id, kind, name, state, total, pending, created_at, allow_failures, pipe,
    parent, then_job, catch_job, finally_job, on_failure_job, current, ttl_s)
VALUES (:ns, :home, :id, :kind, :name, 'running', :total, :total, :now, :allow, :pipe, :parent, :then, :catch,
    :finally, :on_failure, :current, :ttl_s)"""
_CALLBACK = {"then": "then_job", "catch": "catch_job", "finally": "finally_job", "on_failure": "on_failure_job"}


class Flow:
    """The workflow moves inside one open write transaction of ``backend`` (``now``: the caller's clock;
    ``clock``: the datastore's, for expiries)."""

    def __init__(self, backend: Any, conn: sqlite3.Connection, now: float, clock: float) -> None:
        self.backend, self.conn, self.now, self.clock = backend, conn, now, clock
        self._positions: Any = None

    def p(self, ref: WorkflowRef, **more: Any) -> dict[str, Any]:
        return {"ns": self.backend.ns, "home": ref.home, "id": ref.id, **more}

    def kind(self, ref: WorkflowRef) -> str | None:
        row = self.conn.execute("SELECT kind FROM workflows WHERE ns = :ns AND home = :home AND id = :id", self.p(ref))
        found = row.fetchone()
        return None if found is None else str(found[0])

    def counters(self, row: Sequence[Any]) -> policy.Counters:
        total, pending, succeeded, failed, cancelled, state, allow, finished_at = row[:8]
        return policy.Counters(
            total, pending, succeeded, failed, cancelled, state, bool(allow), finished_at is not None
        )

    def save(self, ref: WorkflowRef, c: policy.Counters) -> None:
        params = self.p(ref, pending=c.pending, succeeded=c.succeeded, failed=c.failed, cancelled=c.cancelled)
        self.conn.execute(_SET_COUNTERS, {**params, "state": c.state})

    def write_record(self, spec: WorkflowSpec) -> None:
        current = "\t".join(spec.members[0]) if spec.kind == "chain" and spec.members else ""
        params = self.p(
            spec.ref,
            kind=spec.kind,
            name=spec.name,
            total=spec.total,
            now=self.now,
            allow=int(spec.allow_failures),
            pipe=int(spec.pipe),
            parent=spec.parent,
            then=pack_job(spec.then),
            catch=pack_job(spec.catch),
            ttl_s=spec.record_ttl_s,
            current=current,
            on_failure=pack_job(spec.on_failure),
            **{"finally": pack_job(spec.finally_)},
        )
        self.conn.execute(_INSERT, params)
        for queue, job_id in spec.members:
            self.add_member(spec.ref, queue, job_id)
        self.conn.executemany(
            "INSERT INTO workflow_steps (ns, home, wf, pos, job) VALUES (:ns, :home, :id, :pos, :job)",
            [self.p(spec.ref, pos=pos, job=pack_job(step)) for pos, step in enumerate(spec.steps)],
        )

    def add_member(self, ref: WorkflowRef, queue: str, job_id: str) -> int:
        params = self.p(ref, queue=queue, job=job_id)
        statement = (
            "INSERT OR IGNORE INTO workflow_members (ns, home, wf, queue, id) VALUES (:ns, :home, :id, :queue, :job)"
        )
        return int(self.conn.execute(statement, params).rowcount)

    def push_all(self, jobs: Sequence[NewJob]) -> None:
        for job in jobs:
            self.push(job)

    def push(self, job: NewJob) -> None:
        from .backend import _Positions

        if self._positions is None:
            self._positions = _Positions(self.conn, self.backend.ns)
        self.conn.execute(sql.ADD_QUEUE, {"ns": self.backend.ns, "queue": job.queue})
        self.backend._insert(
            self.conn, self._positions, job._replace(enqueued_at=self.now), now=self.now, clock=self.clock
        )

    def fire(self, ref: WorkflowRef, callback: str) -> None:
        column = _CALLBACK[callback]
        row = self.conn.execute(
            f"SELECT {column} FROM workflows WHERE ns = :ns AND home = :home AND id = :id", self.p(ref)
        )
        job = unpack_job(row.fetchone()[0], now=self.now)
        if job is not None:
            self.push(job)

    def finish(self, ref: WorkflowRef) -> None:
        self.conn.execute(_FINISH, self.p(ref, now=self.now, clock=self.clock))

    def cancel_job(self, queue: str, job_id: str, ttl_s: float) -> bool:
        params = {
            "ns": self.backend.ns,
            "queue": queue,
            "id": job_id,
            "now": self.now,
            "expires_at": self.clock + ttl_s,
        }
        return int(self.conn.execute(_CANCEL_JOB, params).rowcount) == 1

    def ttl(self, ref: WorkflowRef) -> float:
        row = self.conn.execute("SELECT ttl_s FROM workflows WHERE ns = :ns AND home = :home AND id = :id", self.p(ref))
        return float(row.fetchone()[0])

    # --- the moves ----------------------------------------------------------------------------------------------

    def member_outcome(self, ref: WorkflowRef, outcome: policy.MemberOutcome, result: str, error: str) -> None:
        kind = self.kind(ref)
        if kind == "chain":
            self.chain_step(ref, outcome, result, error)
        elif kind == "batch":
            self.batch_outcome(ref, outcome)

    def batch_outcome(self, ref: WorkflowRef, outcome: policy.MemberOutcome) -> None:
        row = self.conn.execute(_COUNTERS, self.p(ref)).fetchone()
        if row is None:
            return
        decision = policy.count(self.counters(row), outcome)
        self.save(ref, decision.counters)
        for callback in decision.fire:
            self.fire(ref, callback)
        if decision.cancel_rest:
            self.cancel_rest(ref)
        self.settle(ref)

    def cancel_rest(self, ref: WorkflowRef) -> None:
        """Cancel every member of batch ``ref`` not yet started (a chain: its step waiting), counting each."""
        ttl = self.ttl(ref)
        members = self.conn.execute(
            "SELECT queue, id FROM workflow_members WHERE ns = :ns AND home = :home AND wf = :id", self.p(ref)
        ).fetchall()
        n = sum(self.cancel_member(ref, queue, job_id, ttl) for queue, job_id in members)
        if n:
            row = self.conn.execute(_COUNTERS, self.p(ref)).fetchone()
            self.save(ref, policy.add_cancelled(self.counters(row), n))

    def cancel_member(self, batch: WorkflowRef, queue: str, member_id: str, ttl: float) -> bool:
        if queue:
            return self.cancel_job(queue, member_id, ttl)
        chain = WorkflowRef(batch.home, member_id)
        row = self.conn.execute(_COUNTERS, self.p(chain)).fetchone()
        if row is None or row[5] != "running":
            return False
        counters = self.counters(row)
        self.save(chain, policy.cancel_batch(counters))
        step_queue, _, step_id = str(row[10]).partition("\t")
        if not (step_id and self.cancel_job(step_queue, step_id, ttl)):
            return False  # its step runs: the chain ends (cancelled) when that step does
        self.save(chain, policy.add_cancelled(policy.cancel_batch(counters), counters.pending))
        self.finish(chain)
        return True

    def cancel_chain(self, chain: WorkflowRef, *, parent: str) -> None:
        """``cancel()`` of a running chain: it ends now when its step had not started (and its batch counts it
        cancelled), else when that step ends."""
        if self.cancel_member(chain, "", chain.id, self.ttl(chain)) and parent:
            self.batch_outcome(WorkflowRef(chain.home, parent), "cancelled")

    def settle(self, ref: WorkflowRef) -> None:
        row = self.conn.execute(_COUNTERS, self.p(ref)).fetchone()
        decision = policy.settle(self.counters(row))
        if not decision.fire:
            return
        for callback in decision.fire:
            self.fire(ref, callback)
        self.save(ref, decision.counters)
        self.finish(ref)

    def chain_step(self, ref: WorkflowRef, outcome: policy.MemberOutcome, result: str, error: str) -> None:
        row = self.conn.execute(_COUNTERS, self.p(ref)).fetchone()
        if row is None or row[7] is not None:
            return
        counters = self.counters(row)
        step = self.conn.execute(
            "SELECT pos, job FROM workflow_steps WHERE ns = :ns AND home = :home AND wf = :id ORDER BY pos LIMIT 1",
            self.p(ref),
        ).fetchone()
        move = policy.chain_outcome(counters.state, outcome, steps_left=0 if step is None else 1)
        done = counters.succeeded + 1 if outcome == "succeeded" else counters.succeeded
        failed = counters.failed + (outcome == "failed")
        if move == "next":
            self.conn.execute(
                "DELETE FROM workflow_steps WHERE ns = :ns AND home = :home AND wf = :id AND pos = :pos",
                self.p(ref, pos=step[0]),
            )
            job = unpack_job(step[1], now=self.now)
            assert job is not None
            if row[8]:
                job = job._replace(payload=pipe_into(job.payload, result))
            self.push(job)
            self.conn.execute(
                "UPDATE workflows SET current = :current WHERE ns = :ns AND home = :home AND id = :id",
                self.p(ref, current=f"{job.queue}\t{job.id}"),
            )
            self.save(ref, replace(counters, pending=counters.pending - 1, succeeded=done))
            return
        left = counters.pending - 1
        ended = replace(counters, pending=0, succeeded=done, failed=failed, cancelled=counters.cancelled + left)
        self.save(ref, replace(ended, state=move))
        if move == "failed":
            self.conn.execute(
                "UPDATE workflows SET error = :error WHERE ns = :ns AND home = :home AND id = :id",
                self.p(ref, error=error),
            )
            self.fire(ref, "on_failure")
        self.finish(ref)
        if row[9]:
            self.batch_outcome(WorkflowRef(ref.home, row[9]), move)


def pipe_into(payload: str, value: str) -> str:
    """``payload`` with ``value`` (JSON text) as its first positional argument (as ``workflow_lib.lua`` does)."""
    marker = '"args":['
    at = payload.find(marker)
    if at < 0:
        return payload
    end = at + len(marker)
    return payload[:end] + value + ("" if payload[end : end + 1] == "]" else ",") + payload[end:]
