"""Run one function in several threads, or several spawned processes, released at the same instant.

Threads contend in a controlled interleaving, not by luck: ``in_threads`` holds each contender at its first
write to the datastore until every contender has reached its own first write (or finished). So every read a
contender makes before writing happens before any contender writes, which is the interleaving that breaks a
check-then-act (read the state, then write in a separate step): every contender reads the same state, and
every one of them acts on it. A transition that is one atomic step passes whatever the interleaving.

The hold is placed where any backend meets its datastore: SQLite statements (a trace callback on each
connection opened while the threads run) and redis-py commands (``Redis.execute_command``, which fakeredis
shares). A statement or command that writes is anything but a read: ``BEGIN`` counts as the first write of a
transaction, since it is where a writer takes the write lock.
"""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar

import redis

from tasks.backends.base import Backend

T = TypeVar("T")
P = TypeVar("P")


class Opener(Protocol):
    """Anything that opens a backend of its own on each call (the contract suite's ``Target``)."""

    def open(self) -> Backend: ...


#: SQL that does not write (a statement's first word); anything else holds the contender at its first write.
SQL_READS = frozenset({"SELECT", "PRAGMA", "EXPLAIN", "COMMIT", "END", "ROLLBACK", "RELEASE", "SAVEPOINT"})
#: Redis commands that do not write; anything else (a script call included) holds the contender.
REDIS_READS = frozenset(
    {
        "GET", "MGET", "HGET", "HMGET", "HGETALL", "HEXISTS", "HLEN", "EXISTS", "TYPE", "TTL", "PTTL", "LLEN",
        "LRANGE", "LINDEX", "ZSCORE", "ZMSCORE", "ZRANGE", "ZRANGEBYSCORE", "ZREVRANGE", "ZCARD", "ZCOUNT",
        "ZRANK", "SCARD", "SMEMBERS", "SISMEMBER", "SCAN", "ZSCAN", "HSCAN", "KEYS", "PING", "INFO", "ECHO",
        "TIME", "SCRIPT EXISTS", "CLIENT SETINFO", "CLIENT SETNAME", "HELLO", "SELECT", "AUTH",
    }
)  # fmt: skip


class ReadsBeforeWrites:
    """Holds each of ``parties`` contender threads at its first write until all reached theirs or finished."""

    def __init__(self, parties: int, timeout_s: float = 30.0) -> None:
        self.parties = parties
        self.timeout_s = timeout_s
        self.arrived = 0
        self.held = 0  #: contenders that were held at a write (the rest finished without writing)
        self.timed_out = False
        self._cond = threading.Condition()
        self._local = threading.local()

    def contend(self, work: Callable[[], T]) -> T:
        """Run ``work()`` as one contender: its first write waits for the others."""
        self._local.pending = True
        try:
            return work()
        finally:
            if self._local.pending:  # finished without writing: the others need not wait for this one
                self._arrive(wait=False)

    def before_write(self) -> None:
        if getattr(self._local, "pending", False):
            self._arrive(wait=True)

    def _arrive(self, *, wait: bool) -> None:
        self._local.pending = False
        with self._cond:
            self.arrived += 1
            self.held += wait
            self._cond.notify_all()
            if wait and not self._cond.wait_for(lambda: self.arrived >= self.parties, self.timeout_s):
                self.timed_out = True

    def on_statement(self, statement: str) -> None:
        words = statement.lstrip().split(None, 1)
        if words and words[0].upper() not in SQL_READS:
            self.before_write()

    def on_command(self, args: tuple[Any, ...]) -> None:
        if not args:
            return
        name = _text(args[0]).upper()
        if name in ("SCRIPT", "CLIENT") and len(args) > 1:
            name = f"{name} {_text(args[1]).upper()}"
        if name not in REDIS_READS:
            self.before_write()


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@contextmanager
def hold_first_writes(gate: ReadsBeforeWrites) -> Iterator[None]:
    """While open, SQLite connections opened and redis-py commands sent anywhere in this process pass ``gate``."""
    connect, execute = sqlite3.connect, redis.Redis.execute_command

    def traced_connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        conn = connect(*args, **kwargs)
        conn.set_trace_callback(gate.on_statement)
        return conn

    def gated_execute(self: redis.Redis, *args: Any, **options: Any) -> Any:
        gate.on_command(args)
        return execute(self, *args, **options)

    sqlite3.connect = traced_connect  # type: ignore[assignment]
    redis.Redis.execute_command = gated_execute  # type: ignore[method-assign]
    try:
        yield
    finally:
        sqlite3.connect = connect
        redis.Redis.execute_command = execute  # type: ignore[method-assign]


def in_threads(n: int, work: Callable[[], T]) -> list[T]:
    """``work()`` in ``n`` threads that start together, every read before a first write ahead of every first
    write (see the module's docstring); the results in thread order. Touch a shared backend once before (a
    ``ping``), so that creating its store is not part of the contention."""
    return _race(n, lambda: None, lambda _: work())


def with_own_backends(n: int, target: Opener, work: Callable[[Backend], T]) -> list[T]:
    """``work(backend)`` in ``n`` threads as ``in_threads`` runs it, each thread with a backend of its own,
    opened (its store created) before the contention begins, and closed after it."""

    def opened() -> Backend:
        backend = target.open()
        backend.ping()
        return backend

    def act(backend: Backend) -> T:
        try:
            return work(backend)
        finally:
            backend.close()

    return _race(n, opened, act)


def _race(n: int, prepare: Callable[[], P], act: Callable[[P], T]) -> list[T]:
    """In each of ``n`` threads: ``prepare()``, wait for all, then ``act`` on what it prepared, held at its
    first write until every thread reached its own (``ReadsBeforeWrites``)."""
    gate = ReadsBeforeWrites(n)
    barrier = threading.Barrier(n, timeout=60)

    def run() -> T:
        prepared = prepare()
        barrier.wait()
        return gate.contend(lambda: act(prepared))

    with hold_first_writes(gate), ThreadPoolExecutor(max_workers=n) as pool:
        futures = [pool.submit(run) for _ in range(n)]
        results = [f.result(timeout=60) for f in futures]
    assert not gate.timed_out, "a contender waited in vain for the others to reach their first write"
    return results


def in_processes(n: int, target: Callable[..., None], *args: Any) -> list[Any]:
    """``target(*args, barrier, out)`` in ``n`` spawned processes; what each put on ``out``."""
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(n, timeout=60)
    out = ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args, barrier, out)) for _ in range(n)]
    for p in procs:
        p.start()
    results = [out.get(timeout=90) for _ in procs]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0, f"a contending process exited with {p.exitcode}"
    return results
