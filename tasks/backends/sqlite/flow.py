"""Flow control on SQLite: paused queues (and the limits' transitions), as a mixin of ``SQLiteBackend``.

The statements live here rather than in ``sql.py``: they belong to this feature alone. A paused queue is a
row of ``paused_queues``; the reserve's transaction reads it, so no worker leases a job of a paused queue.
"""

from __future__ import annotations

import sqlite3

from .connection import Connections

PAUSE = "INSERT OR IGNORE INTO paused_queues (ns, name) VALUES (:ns, :queue)"
RESUME = "DELETE FROM paused_queues WHERE ns = :ns AND name = :queue"
PAUSED = "SELECT name FROM paused_queues WHERE ns = :ns ORDER BY name"
IS_PAUSED = "SELECT 1 FROM paused_queues WHERE ns = :ns AND name = :queue"


class SQLiteFlowControl:
    """``pause``/``resume``/``paused_queues`` of the SQLite backend (see ``Backend``)."""

    ns: str
    db: Connections

    def pause(self, queue: str) -> None:
        with self.db.write() as conn:
            conn.execute(PAUSE, {"ns": self.ns, "queue": queue})

    def resume(self, queue: str) -> None:
        with self.db.write() as conn:
            conn.execute(RESUME, {"ns": self.ns, "queue": queue})

    def paused_queues(self) -> set[str]:
        with self.db.read() as conn:
            return {name for (name,) in conn.execute(PAUSED, {"ns": self.ns})}

    def _is_paused(self, conn: sqlite3.Connection, queue: str) -> bool:
        """Whether ``queue`` is paused, read inside the caller's transaction (the reserve's)."""
        return conn.execute(IS_PAUSED, {"ns": self.ns, "queue": queue}).fetchone() is not None
