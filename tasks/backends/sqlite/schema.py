"""The SQLite file's layout, versioned by ``PRAGMA user_version`` and brought up to date by ``migrate``.

``MIGRATIONS[n]`` takes a file from version ``n`` to ``n + 1``; a file is migrated once, inside one
``BEGIN IMMEDIATE`` transaction, so many processes opening a fresh file at once agree on one layout. A file
written by a newer version of the library is refused rather than guessed at.

One row of ``jobs`` holds one job in every state. Which columns matter depends on ``state``:

==========  ==============================================================
queued      ``seq``: the position in the queue (FIFO; ``release`` goes to the head)
scheduled   ``run_at``: when it becomes ready (a delayed dispatch)
retrying    ``run_at``: when the retry is due; ``error``: the last one
running     ``token``, ``lease_expires_at``, ``worker``, ``started_at``
succeeded   ``result``, ``finished_at``, ``expires_at`` (the record goes then)
failed      ``error``, ``failed_at`` (the dead letters)
cancelled   ``finished_at``
==========  ==============================================================

``ns`` is the key prefix (``configure(prefix=...)``): two applications may share a file under two prefixes.
The partial indexes repeat the state literal of the queries that use them, so the planner can pick them.
"""

from __future__ import annotations

import sqlite3

from ...errors import ConfigurationError
from .flow_schema import FLOW_SCHEMA
from .workflow_schema import WORKFLOW_SCHEMA

#: One tuple of statements per version step, oldest first; never edit a released step, append a new one.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (  # 0 -> 1: the first layout
        """CREATE TABLE jobs (
            ns TEXT NOT NULL,
            queue TEXT NOT NULL,
            id TEXT NOT NULL,
            state TEXT NOT NULL,
            payload TEXT NOT NULL,
            signature TEXT NOT NULL DEFAULT '',
            max_attempts INTEGER NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            enqueued_at REAL NOT NULL,
            seq INTEGER,
            run_at REAL,
            token TEXT,
            lease_expires_at REAL,
            worker TEXT,
            started_at REAL,
            result TEXT,
            error TEXT,
            finished_at REAL,
            failed_at REAL,
            expires_at REAL
        )""",
        "CREATE UNIQUE INDEX jobs_by_id ON jobs (ns, queue, id)",
        "CREATE INDEX jobs_ready ON jobs (ns, queue, seq) WHERE state = 'queued'",
        "CREATE INDEX jobs_due ON jobs (ns, queue, run_at) WHERE state IN ('scheduled', 'retrying')",
        "CREATE INDEX jobs_leased ON jobs (ns, queue, lease_expires_at) WHERE state = 'running'",
        "CREATE INDEX jobs_failed ON jobs (ns, queue, failed_at) WHERE state = 'failed'",
        "CREATE INDEX jobs_expiring ON jobs (expires_at) WHERE expires_at IS NOT NULL",
        "CREATE TABLE queues (ns TEXT NOT NULL, name TEXT NOT NULL, PRIMARY KEY (ns, name)) WITHOUT ROWID",
        """CREATE TABLE cron_ticks (
            ns TEXT NOT NULL, schedule TEXT NOT NULL, tick REAL NOT NULL, PRIMARY KEY (ns, schedule)
        ) WITHOUT ROWID""",
        """CREATE TABLE workers (
            ns TEXT NOT NULL, id TEXT NOT NULL, info TEXT NOT NULL, expires_at REAL NOT NULL,
            PRIMARY KEY (ns, id)
        )""",
    ),
    (  # 1 -> 2: what a running job last said of its progress (JSON, see ``model.Progress``)
        "ALTER TABLE jobs ADD COLUMN progress TEXT",
    ),
    (  # 2 -> 3: an abort asked for a running job (epoch seconds), and the per-minute metric counters
        "ALTER TABLE jobs ADD COLUMN abort_at REAL",
        """CREATE TABLE metrics (
            ns TEXT NOT NULL, queue TEXT NOT NULL, minute INTEGER NOT NULL, field TEXT NOT NULL,
            value INTEGER NOT NULL, PRIMARY KEY (ns, queue, minute, field)
        ) WITHOUT ROWID""",
        "CREATE INDEX metrics_by_minute ON metrics (ns, minute)",
    ),
    (  # 3 -> 4: flow control (tasks.limits; the statements are in sqlite/flow.py)
        "CREATE TABLE paused_queues (ns TEXT NOT NULL, name TEXT NOT NULL, PRIMARY KEY (ns, name)) WITHOUT ROWID",
        *FLOW_SCHEMA,
    ),
    (  # 4 -> 5: workflows (tasks/workflows; the statements are in sqlite/workflow_schema.py)
        *WORKFLOW_SCHEMA,
    ),
)

#: The version this library writes and reads.
SCHEMA_VERSION = len(MIGRATIONS)


def version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, path: str) -> int:
    """Bring the file up to ``SCHEMA_VERSION`` (no-op when it is); returns the version found before.

    ``conn`` must be in autocommit mode (``isolation_level=None``): the steps run in our own transaction.
    """
    if version(conn) == SCHEMA_VERSION:
        return SCHEMA_VERSION
    conn.execute("BEGIN IMMEDIATE")
    try:
        found = version(conn)  # again, under the write lock: another process may have migrated meanwhile
        if found > SCHEMA_VERSION:
            raise ConfigurationError(
                f"{path} has schema version {found}, newer than this version of tasks understands "
                f"({SCHEMA_VERSION}): upgrade tasks, or point TASKS_URL at another file"
            )
        for step in MIGRATIONS[found:]:
            for statement in step:
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION:d}")  # a pragma takes no parameters
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return found
