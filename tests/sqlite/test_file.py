"""What only the SQLite backend has: a file with a schema version, WAL, busy waits, forks, and its own purge."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from tasks import BackendUnavailable, ConfigurationError, cli
from tasks.backends.sqlite import SQLiteBackend, schema
from tests.contract.conftest import Clock, new_job
from tests.contract.contention import in_processes
from tests.sqlite import procs


def raw(path: Path, query: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(query).fetchall()


def test_a_new_file_is_created_in_wal_mode_at_the_current_schema_version(tmp_path: Path) -> None:
    backend = SQLiteBackend(tmp_path / "tasks.db")
    backend.ping()
    assert raw(tmp_path / "tasks.db", "PRAGMA user_version") == [(schema.SCHEMA_VERSION,)]
    assert raw(tmp_path / "tasks.db", "PRAGMA journal_mode") == [("wal",)]
    backend.close()


def test_many_processes_opening_a_new_file_at_once_agree_on_one_schema(tmp_path: Path) -> None:
    path = str(tmp_path / "fresh.db")
    stored = in_processes(4, procs.open_and_enqueue, path, "p")
    assert stored == [50, 50, 50, 50]
    assert raw(Path(path), "SELECT COUNT(*) FROM jobs") == [(200,)]
    assert raw(Path(path), "PRAGMA user_version") == [(schema.SCHEMA_VERSION,)]


def test_an_older_file_is_migrated_in_place_and_keeps_its_jobs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: Clock
) -> None:
    # Given a file written at the current version, holding a job
    path = tmp_path / "tasks.db"
    old = SQLiteBackend(path)
    old.enqueue(new_job("q", "kept", now=clock()), now=clock())
    old.close()

    # When a newer library, with one more migration step, opens it
    step = ("ALTER TABLE jobs ADD COLUMN tags TEXT",)
    monkeypatch.setattr(schema, "MIGRATIONS", (*schema.MIGRATIONS, step))
    monkeypatch.setattr(schema, "SCHEMA_VERSION", len(schema.MIGRATIONS))
    new = SQLiteBackend(path)

    # Then the file is at the new version, with the new column and the old job
    assert new.queue_stats("q").ready == 1
    assert raw(path, "PRAGMA user_version") == [(schema.SCHEMA_VERSION,)]
    assert raw(path, "SELECT id, tags FROM jobs") == [("kept", None)]
    new.close()


def test_a_file_from_a_newer_version_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {schema.SCHEMA_VERSION + 1}")
    with pytest.raises(ConfigurationError, match="newer than this version of tasks"):
        SQLiteBackend(path).ping()


def test_a_file_that_cannot_be_opened_is_an_unavailable_backend(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "no" / "such" / "dir" / "tasks.db"
    with pytest.raises(BackendUnavailable, match=str(missing)):
        SQLiteBackend(missing).ping()
    assert cli.main(["queues", "--url", f"sqlite:///{missing}"]) == 2
    assert f"cannot use SQLite file {missing}" in capsys.readouterr().err


def test_a_file_that_is_not_a_database_is_an_unavailable_backend(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("not a database, just some notes that happen to end in .db\n" * 100)
    with pytest.raises(BackendUnavailable, match="not a database"):
        SQLiteBackend(path).ping()


def test_a_writer_waits_for_the_lock_then_gives_up_as_unavailable(tmp_path: Path, clock: Clock) -> None:
    # Given another connection holding the write lock
    path = tmp_path / "tasks.db"
    backend = SQLiteBackend(path, busy_timeout_s=0.2)
    backend.ping()
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")

    # Then a write waits its busy timeout and fails as "unavailable" (the worker backs off and retries)
    started = time.monotonic()
    with pytest.raises(BackendUnavailable, match="locked"):
        backend.enqueue(new_job("q", now=clock()), now=clock())
    assert time.monotonic() - started >= 0.15

    # And reads are not blocked by a writer (WAL), and a released lock lets writes through again
    assert backend.queue_stats("q").ready == 0
    threading.Timer(0.05, lambda: holder.execute("COMMIT")).start()
    assert backend.enqueue(new_job("q", now=clock()), now=clock())
    holder.close()
    backend.close()


def test_result_records_are_purged_by_maintenance_on_the_backends_clock(tmp_path: Path, clock: Clock) -> None:
    # Given a backend whose own clock the test drives, and a result kept for 10 s
    backend = SQLiteBackend(tmp_path / "tasks.db", clock=clock)
    backend.enqueue(new_job("q", "a", now=clock()), now=clock())
    lease = backend.reserve(["q"], worker_id="w", now=clock(), lease_s=30)[0]
    backend.complete(lease, "1", now=clock(), result_ttl_s=10)

    # Then it is visible until its TTL runs out, and invisible from then on even before any purge
    clock.advance(9.9)
    assert backend.status("q", "a") is not None
    clock.advance(0.1)
    assert backend.status("q", "a") is None
    assert raw(tmp_path / "tasks.db", "SELECT COUNT(*) FROM jobs") == [(1,)]

    # And the next maintenance pass deletes the row
    backend.requeue_expired(["q"], now=clock())
    assert raw(tmp_path / "tasks.db", "SELECT COUNT(*) FROM jobs") == [(0,)]
    backend.close()


def test_two_prefixes_share_a_file_without_seeing_each_other(tmp_path: Path, clock: Clock) -> None:
    one = SQLiteBackend(tmp_path / "tasks.db", prefix="one")
    two = SQLiteBackend(tmp_path / "tasks.db", prefix="two")
    one.enqueue(new_job("q", "same", now=clock()), now=clock())
    assert two.enqueue(new_job("q", "same", now=clock()), now=clock())
    assert one.claim_tick("s", 1.0) and two.claim_tick("s", 1.0)
    assert len(one.reserve(["q"], worker_id="w", now=clock(), lease_s=30, count=5)) == 1
    assert two.queue_stats("q").ready == 1
    assert one.known_queues() == two.known_queues() == ["q"]
    assert two.clear("q") == 1 and one.queue_stats("q").running == 1


def test_a_forked_child_uses_connections_of_its_own(tmp_path: Path, clock: Clock) -> None:
    # Given a backend already in use in this process
    backend = SQLiteBackend(tmp_path / "tasks.db")
    backend.enqueue(new_job("q", "parent", now=clock()), now=clock())

    # When a forked child uses the same object
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        ok = backend.enqueue(new_job("q", "child", now=clock()), now=clock())
        backend.close()
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)

    # Then the child's write landed, and the parent's connection still works
    assert os.waitstatus_to_exitcode(status) == 0
    assert backend.queue_stats("q").ready == 2
    assert backend.enqueue(new_job("q", "after", now=clock()), now=clock())
    backend.close()


def test_an_idle_wait_ends_when_a_delayed_job_falls_due(tmp_path: Path) -> None:
    # Given a waiter, and another connection that schedules a job 300 ms ahead
    waiter = SQLiteBackend(tmp_path / "tasks.db")
    producer = SQLiteBackend(tmp_path / "tasks.db")
    now = time.time()
    started = time.monotonic()
    threading.Timer(0.1, lambda: producer.enqueue(new_job("q", now=now, run_at=now + 0.3), now=time.time())).start()

    # When it waits up to 5 s
    waiter.wait_for_jobs(["q"], timeout_s=5)

    # Then it returned when the job fell due, not at its timeout
    assert 0.25 <= time.monotonic() - started < 1.0
    waiter.close()
    producer.close()


def open_files(path: Path) -> int:
    """How many descriptors of this process point at ``path`` (Linux /proc)."""
    fds = Path("/proc/self/fd")
    return sum(1 for fd in fds.iterdir() if os.path.realpath(fd) == str(path))


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="counts descriptors in /proc")
def test_connections_of_threads_that_ended_are_closed(tmp_path: Path, clock: Clock) -> None:
    # Given a backend used from short-lived threads (a server with a thread per request)
    backend = SQLiteBackend(tmp_path / "tasks.db")

    def request() -> None:
        thread = threading.Thread(target=lambda: backend.enqueue(new_job("q", now=clock()), now=clock()))
        thread.start()
        thread.join()

    for _ in range(3):
        request()
    settled = open_files(tmp_path / "tasks.db")

    # When many more come and go
    for _ in range(30):
        request()

    # Then the open files do not grow with them (SQLite may keep one closed descriptor for reuse)
    assert open_files(tmp_path / "tasks.db") == settled <= 3
    assert backend.queue_stats("q").ready == 33

    # And close() closes everything, this thread's connection included
    backend.close()
    assert open_files(tmp_path / "tasks.db") == 0
