"""The SQLite side of workflows: each member transition is the job's own statement and the workflow's moves
(``tasks/workflows/policy.py``) in one ``BEGIN IMMEDIATE`` transaction. The Redis scripts
(``lua/workflow_lib.lua``) are the reference; the contract tests hold both to the same results.

The tables are made by the schema's migration to version 5 (``workflow_schema.py``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from ...model import ErrorInfo, Lease, NewJob
from ...workflows import policy
from ...workflows.records import WorkflowInfo, WorkflowRef, WorkflowSpec, workflow_member
from . import sql
from .workflow_moves import _COUNTERS, Flow

_INFO = """SELECT kind, name, state, total, pending, succeeded, failed, cancelled, created_at, finished_at,
    allow_failures, parent, error, current FROM workflows
WHERE ns = :ns AND home = :home AND id = :id AND (expires_at IS NULL OR expires_at > :clock)"""
_PURGE = """DELETE FROM workflows WHERE rowid IN (
    SELECT rowid FROM workflows WHERE expires_at IS NOT NULL AND expires_at <= :clock LIMIT 100)"""


class SQLiteWorkflows:
    """The workflow transitions of ``SQLiteBackend`` (a mixin over its connections and job statements)."""

    # ``ns``, ``db``, ``clock`` and the job statements are the backend's own: reached through ``_me``.

    @property
    def _me(self) -> Any:
        return self

    def _flow(self, conn: sqlite3.Connection, now: float) -> Flow:
        return Flow(self, conn, now, self._me.clock())

    def _buried_member(self, conn: sqlite3.Connection, rowid: int, *, now: float) -> None:
        """A job buried by ``requeue_expired`` (its worker lost, attempts spent): if it is a workflow member, its
        workflow hears of the failure in the same transaction."""
        payload, error = conn.execute("SELECT payload, error FROM jobs WHERE rowid = ?", (rowid,)).fetchone()
        workflow = workflow_member(payload) if isinstance(payload, str) else None
        if workflow is not None:
            self._flow(conn, now).member_outcome(workflow, "failed", "", str(error))

    def enqueue_workflow(self, specs: Sequence[WorkflowSpec], jobs: Sequence[NewJob], *, now: float) -> bool:
        with self._me.db.write() as conn:
            flow = self._flow(conn, now)
            conn.execute(_PURGE, {"clock": flow.clock})
            home = specs[0].ref.home
            if conn.execute(_COUNTERS, flow.p(WorkflowRef(home, specs[0].ref.id))).fetchone():
                return False
            for spec in specs:
                flow.write_record(spec)
            flow.push_all(jobs)
        return True

    def complete_member(
        self, lease: Lease, result: str, *, now: float, result_ttl_s: float, workflow: WorkflowRef
    ) -> bool:
        with self._me.db.write() as conn:
            flow = self._flow(conn, now)
            if not self._me._complete(conn, (lease, result, result_ttl_s), now=now, clock=flow.clock):
                return False
            self._me.count_outcomes(conn, "s", [lease], [True], now)
            flow.member_outcome(workflow, "succeeded", result, "")
        return True

    def complete_members(self, items: Sequence[tuple[Lease, str, float, WorkflowRef]], *, now: float) -> list[bool]:
        """Every member's completion in one transaction (each as ``complete_member`` would write it)."""
        done = []
        with self._me.db.write() as conn:
            flow = self._flow(conn, now)
            for lease, result, ttl, workflow in items:
                written = self._me._complete(conn, (lease, result, ttl), now=now, clock=flow.clock)
                if written:
                    flow.member_outcome(workflow, "succeeded", result, "")
                done.append(written)
            self._me.count_outcomes(conn, "s", [lease for lease, _, _, _ in items], done, now)
        return done

    def fail_member(self, lease: Lease, *, error: ErrorInfo, now: float, workflow: WorkflowRef) -> bool:
        params = {"ns": self._me.ns, "queue": lease.queue, "id": lease.job_id, "token": lease.token}
        with self._me.db.write() as conn:
            flow = self._flow(conn, now)
            if conn.execute(sql.FAIL, {**params, "error": error.to_json(), "now": now}).rowcount != 1:
                return False
            self._me.count_outcomes(conn, "f", [lease], [True], now)
            flow.member_outcome(workflow, "failed", "", error.to_json())
        return True

    def cancel_workflow(self, workflow: WorkflowRef, *, now: float) -> bool:
        with self._me.db.write() as conn:
            flow = self._flow(conn, now)
            row = conn.execute(_COUNTERS, flow.p(workflow)).fetchone()
            if row is None or row[5] != "running" or row[7] is not None:
                return False
            if flow.kind(workflow) == "chain":
                flow.cancel_chain(workflow, parent=str(row[9]))
                return True
            counters = policy.cancel_batch(flow.counters(row))
            flow.save(workflow, counters)
            flow.cancel_rest(workflow)
            flow.settle(workflow)
        return True

    def add_members(
        self,
        batch: WorkflowRef,
        specs: Sequence[WorkflowSpec],
        jobs: Sequence[NewJob],
        members: Sequence[tuple[str, str]],
        *,
        now: float,
    ) -> bool:
        with self._me.db.write() as conn:
            flow = self._flow(conn, now)
            row = conn.execute(_COUNTERS, flow.p(batch)).fetchone()
            if row is None or row[5] != "running" or row[7] is not None or flow.kind(batch) != "batch":
                return False
            added = sum(flow.add_member(batch, queue, job_id) for queue, job_id in members)
            conn.execute(
                "UPDATE workflows SET total = total + :n, pending = pending + :n WHERE ns = :ns AND home = :home "
                "AND id = :id",
                {**flow.p(batch), "n": added},
            )
            for spec in specs:
                flow.write_record(spec)
            flow.push_all(jobs)
        return True

    def workflow_info(self, workflow: WorkflowRef) -> WorkflowInfo | None:
        with self._me.db.read() as conn:
            row = conn.execute(_INFO, {"ns": self._me.ns, **workflow._asdict(), "clock": self._me.clock()}).fetchone()
        return None if row is None else _info(workflow, row)

    def workflow_members(self, workflow: WorkflowRef) -> list[tuple[str, str]]:
        with self._me.db.read() as conn:
            rows = conn.execute(
                "SELECT queue, id FROM workflow_members WHERE ns = :ns AND home = :home AND wf = :id "
                "ORDER BY queue, id",
                {"ns": self._me.ns, **workflow._asdict()},
            ).fetchall()
        return [(str(q), str(i)) for q, i in rows]

    def workflows(self, *, limit: int = 50) -> list[WorkflowInfo]:
        with self._me.db.read() as conn:
            rows = conn.execute(
                "SELECT home, id FROM workflows WHERE ns = :ns AND (parent = '' OR kind = 'batch') "
                "AND (expires_at IS NULL OR expires_at > :clock) ORDER BY created_at DESC LIMIT :limit",
                {"ns": self._me.ns, "clock": self._me.clock(), "limit": limit},
            ).fetchall()
        found = [self.workflow_info(WorkflowRef(home, wf_id)) for home, wf_id in rows]
        return [info for info in found if info is not None]


def _info(ref: WorkflowRef, row: Sequence[Any]) -> WorkflowInfo:
    kind, name, state, total, pending, succeeded, failed, cancelled, created_at, finished_at = row[:10]
    allow, parent, error, current = row[10:]
    queue, _, job_id = str(current).partition("\t")
    return WorkflowInfo(
        ref=ref,
        kind=kind,
        name=name,
        state=state,
        total=int(total),
        pending=int(pending),
        succeeded=int(succeeded),
        failed=int(failed),
        cancelled=int(cancelled),
        created_at=float(created_at),
        finished_at=None if finished_at is None else float(finished_at),
        allow_failures=bool(allow),
        parent=parent,
        error=error,
        current=(queue, job_id) if current else None,
    )
