"""The SQLite layout that flow control (``tasks.limits``) adds; its statements are in ``flow.py``."""

from __future__ import annotations

from ...limits.policy import HELD_AT

#: The layout flow control adds (schema step 1 -> 2). ``flow`` holds a job's options as JSON (the fields of
#: ``flow_field``); ``ckey`` its concurrency key, indexed to count the running jobs of a key. The triggers give
#: back what a job holds as it leaves ``running`` (the same transaction as the change of state):
#: ``flow_slot_release`` makes the oldest job held for a slot of its key due (not for a job the reserve held back
#: itself: ``HOLD`` clears its ``started_at``, it never had a slot); ``flow_unique_release`` ends the
#: unique lock of a job that ended for good.
FLOW_SCHEMA = (
    "ALTER TABLE jobs ADD COLUMN flow TEXT",
    "ALTER TABLE jobs ADD COLUMN ckey TEXT",
    "CREATE INDEX jobs_by_ckey ON jobs (ns, queue, ckey, state) WHERE ckey IS NOT NULL",
    """CREATE TABLE unique_locks (
        ns TEXT NOT NULL, queue TEXT NOT NULL, key TEXT NOT NULL, job_id TEXT NOT NULL, expires_at REAL NOT NULL,
        PRIMARY KEY (ns, queue, key)
    ) WITHOUT ROWID""",
    "CREATE INDEX unique_locks_by_job ON unique_locks (ns, queue, job_id)",
    "CREATE TABLE rate_starts (ns TEXT NOT NULL, queue TEXT NOT NULL, bucket TEXT NOT NULL, at REAL NOT NULL)",
    "CREATE INDEX rate_starts_by_bucket ON rate_starts (ns, queue, bucket, at)",
    f"""CREATE TRIGGER flow_slot_release AFTER UPDATE OF state ON jobs
    WHEN old.state = 'running' AND new.state <> 'running' AND old.ckey IS NOT NULL AND new.started_at IS NOT NULL
    BEGIN
        UPDATE jobs SET run_at = COALESCE(old.started_at, 0) WHERE rowid = (
            SELECT rowid FROM jobs WHERE ns = old.ns AND queue = old.queue AND ckey = old.ckey
                AND state = 'scheduled' AND run_at = {HELD_AT!r} ORDER BY rowid LIMIT 1
        );
    END""",
    """CREATE TRIGGER flow_unique_release AFTER UPDATE OF state ON jobs
    WHEN new.state IN ('succeeded', 'failed', 'cancelled') AND old.flow IS NOT NULL
    BEGIN
        DELETE FROM unique_locks WHERE ns = new.ns AND queue = new.queue AND job_id = new.id;
    END""",
)
