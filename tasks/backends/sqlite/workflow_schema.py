"""The SQLite tables of workflows (``tasks/workflows``), made by the schema's step 4 -> 5.

``workflows`` holds one row per batch or chain (its counters, callbacks and expiry); ``workflow_members`` the
members of a batch; ``workflow_steps`` the steps of a chain not yet enqueued, in order.
"""

from __future__ import annotations

#: The statements of the step, in order.
WORKFLOW_SCHEMA = (
    """CREATE TABLE workflows (
        ns TEXT NOT NULL, home TEXT NOT NULL, id TEXT NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL,
        state TEXT NOT NULL, total INTEGER NOT NULL, pending INTEGER NOT NULL, succeeded INTEGER NOT NULL DEFAULT 0,
        failed INTEGER NOT NULL DEFAULT 0, cancelled INTEGER NOT NULL DEFAULT 0, created_at REAL NOT NULL,
        finished_at REAL, allow_failures INTEGER NOT NULL DEFAULT 0, pipe INTEGER NOT NULL DEFAULT 0,
        parent TEXT NOT NULL DEFAULT '', then_job TEXT NOT NULL DEFAULT '', catch_job TEXT NOT NULL DEFAULT '',
        finally_job TEXT NOT NULL DEFAULT '', on_failure_job TEXT NOT NULL DEFAULT '', error TEXT,
        current TEXT NOT NULL DEFAULT '', ttl_s REAL NOT NULL, expires_at REAL,
        PRIMARY KEY (ns, home, id))""",
    "CREATE INDEX workflows_by_time ON workflows (ns, created_at)",
    "CREATE INDEX workflows_expiring ON workflows (expires_at) WHERE expires_at IS NOT NULL",
    """CREATE TABLE workflow_members (
        ns TEXT NOT NULL, home TEXT NOT NULL, wf TEXT NOT NULL, queue TEXT NOT NULL, id TEXT NOT NULL,
        PRIMARY KEY (ns, home, wf, queue, id)) WITHOUT ROWID""",
    """CREATE TABLE workflow_steps (
        ns TEXT NOT NULL, home TEXT NOT NULL, wf TEXT NOT NULL, pos INTEGER NOT NULL, job TEXT NOT NULL,
        PRIMARY KEY (ns, home, wf, pos)) WITHOUT ROWID""",
)
