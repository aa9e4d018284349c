"""Connections to one SQLite file: one per thread, opened in WAL mode, writes in ``BEGIN IMMEDIATE``.

Why each setting:

* WAL lets readers (``status``, ``queue_stats``, an idle worker's poll) run while one writer commits.
* ``BEGIN IMMEDIATE`` takes the write lock when the transaction starts. A deferred transaction that reads
  first and upgrades later can fail with ``SQLITE_BUSY`` without waiting; an immediate one waits in the busy
  handler instead, so concurrent workers queue up rather than error out.
* ``synchronous=NORMAL`` (in WAL mode) survives a crash of any process; only a power cut or an OS crash may
  lose the last transactions committed before it. ``FULL`` would fsync every commit.
* A connection is never used in two processes: after a fork the child opens its own (SQLite's rule), and
  never closes the parent's (closing could checkpoint or delete the parent's WAL).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ...errors import BackendUnavailable, ConfigurationError
from .schema import migrate

#: How long a writer waits for the lock before the call fails with ``BackendUnavailable`` (the worker retries).
BUSY_TIMEOUT_S = 10.0

SCHEME = "sqlite://"


def path_from_url(url: str) -> Path:
    """The absolute file path of a ``sqlite:///relative.db`` or ``sqlite:////absolute.db`` URL.

    Three slashes then a relative path resolve against the current directory, as SQLAlchemy's URLs do.
    """
    if not url.startswith(SCHEME):
        raise ConfigurationError(f"not a SQLite URL: {url!r} (use sqlite:///path/to/file.db)")
    rest = url[len(SCHEME) :].split("?", 1)[0]
    if not rest.startswith("/") or rest in ("/", "/:memory:"):
        raise ConfigurationError(
            f"SQLite URL {url!r} names no file: use sqlite:///tasks.db (relative) or sqlite:////var/lib/app/tasks.db "
            "(absolute); for a store in this process only, use memory://"
        )
    return Path(rest[1:]).expanduser().resolve()


def _tolerant_text(data: bytes) -> str:
    """TEXT as ``str``; bytes that are not UTF-8 (a record damaged by hand) become surrogate escapes instead of
    failing the whole query. The reserve then sends such a record to the failed set (``records.problem``)."""
    return str(data, "utf-8", "surrogateescape")


def enable_wal(conn: sqlite3.Connection, *, deadline: float) -> None:
    """Put the file in WAL mode (it stays so), retrying while other processes hold it.

    Switching the journal mode of a new file that other processes are opening at the same moment answers
    "database is locked" at once, without going through the busy handler: we wait and retry ourselves.
    """
    pause = 0.005
    while True:
        try:
            mode = str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0])
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 0.1)
    if mode.lower() != "wal":
        raise ConfigurationError(f"SQLite cannot use WAL mode here (journal mode stays {mode!r}): use a local file")


class Connections:
    """Hands each thread its own connection to ``path``; the first one creates or migrates the file.

    Each new connection closes those of threads that ended, so a server that starts a thread per request
    does not pile up open files; ``close()`` closes the rest.
    """

    def __init__(self, path: Path, *, busy_timeout_s: float = BUSY_TIMEOUT_S) -> None:
        self.path = path
        self.busy_timeout_s = busy_timeout_s
        self._migrated = False
        self._reset()

    def _reset(self) -> None:
        """Start afresh in this process (a forked child gets a new lock too: the parent's may be held)."""
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._local = threading.local()
        self._opened: dict[threading.Thread, sqlite3.Connection] = {}

    def get(self) -> sqlite3.Connection:
        """This thread's connection (opened on first use, and again in a forked child)."""
        if self._pid != os.getpid():
            self._reset()  # the parent's connections stay open, untouched, in the parent
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._open()
            self._local.conn = conn
        return conn

    def _open(self) -> sqlite3.Connection:
        with self.errors():
            conn = sqlite3.connect(
                self.path,
                timeout=self.busy_timeout_s,
                isolation_level=None,
                check_same_thread=False,
            )
            conn.text_factory = _tolerant_text
            try:
                enable_wal(conn, deadline=time.monotonic() + self.busy_timeout_s)
                conn.execute("PRAGMA synchronous = NORMAL")
                with self._lock:
                    if not self._migrated:
                        migrate(conn, str(self.path))
                        self._migrated = True
            except BaseException:
                conn.close()
                raise
        with self._lock:
            ended = [thread for thread in self._opened if not thread.is_alive()]
            for thread in ended:
                self._opened.pop(thread).close()
            self._opened[threading.current_thread()] = conn
        return conn

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: ``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back if the block raises."""
        conn = self.get()
        with self.errors():
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:  # the block raised, or COMMIT failed: leave no transaction open
                    conn.execute("ROLLBACK")
                raise

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """This thread's connection for reads (each statement sees one consistent snapshot)."""
        with self.errors():
            yield self.get()

    @contextmanager
    def errors(self) -> Iterator[None]:
        """Turn what the file's state causes (locked past the timeout, unreadable, not a database) into
        ``BackendUnavailable``; errors of our own SQL (integrity, programming) propagate as they are."""
        try:
            yield
        except sqlite3.DatabaseError as exc:
            if not isinstance(exc, sqlite3.OperationalError) and type(exc) is not sqlite3.DatabaseError:
                raise
            raise BackendUnavailable(f"cannot use SQLite file {self.path}: {exc}") from exc

    def close(self) -> None:
        """Close every connection this process opened (in any thread)."""
        if self._pid != os.getpid():
            self._reset()
            return
        with self._lock:
            opened, self._opened = self._opened, {}
        for conn in opened.values():
            conn.close()
        self._local = threading.local()
