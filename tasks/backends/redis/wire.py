"""The hot paths' round trip: commands packed here and sent on a connection each thread keeps for itself.

Dispatch and the worker's acknowledge-and-reserve are one round trip each, and at those rates redis-py's
generic machinery is most of the client's cost: taking a connection from the pool (a lock and a ``recv``
probing for stale data) and releasing it, and packing every argument through its encoder. Here each thread
keeps one connection of its own, made from the pool's settings (so TLS, Unix sockets, passwords and timeouts
are the URL's), and commands of ``str``, ``bytes``, ``int`` and ``float`` arguments are packed straight to
RESP. Replies are read with the connection's own parser, so they decode exactly as redis-py's would.

A connection stays in step because every reply of a round trip is read, error replies included; a round trip
that fails midway drops its connection, and the next one connects afresh. A forked child never uses its
parent's connections: they are forgotten in the child the moment it is forked.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Iterable, Sequence
from typing import Any

import redis

#: An argument of a packed command.
Arg = str | bytes | int | float


#: Packed bytes gathered before they are written: a long round trip (a bulk dispatch) goes out in pieces, so
#: Redis runs the first commands while later ones are still being packed.
SEND_AT_BYTES = 65_536


def pack(command: Sequence[Arg]) -> bytes:
    """One command as RESP (an array of bulk strings, as ``redis-cli`` would send it).

    Floats go as ``repr`` writes them (what redis-py sends), so nothing is rounded on the way.
    """
    parts = [b"*%d\r\n" % len(command)]
    for arg in command:
        if isinstance(arg, str):
            data = arg.encode("utf-8", "surrogateescape")  # the bytes a tolerant read decoded, as they were
        elif isinstance(arg, bytes):
            data = arg
        elif isinstance(arg, float):
            data = repr(arg).encode()
        elif isinstance(arg, int) and not isinstance(arg, bool):
            data = b"%d" % arg
        else:
            raise redis.DataError(f"cannot send {type(arg).__name__} {arg!r} to Redis")
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


def read_replies(connection: Any, count: int) -> list[Any]:
    """Read ``count`` replies from ``connection``, even past an error reply (so the connection stays in step);
    the first error is raised once all are read. A connection that fails midway is disconnected."""
    first_error: redis.ResponseError | None = None
    replies: list[Any] = []
    try:
        for _ in range(count):
            try:
                replies.append(connection.read_response())
            except redis.ResponseError as exc:
                first_error = first_error or exc
                replies.append(exc)
    except BaseException:
        connection.disconnect()
        raise
    if first_error is not None:
        raise first_error
    return replies


def pooled_round_trip(pool: Any, commands: Sequence[Sequence[Arg]]) -> list[Any]:
    """``Wire.round_trip`` on a connection taken from ``pool`` and packed by redis-py (for fakeredis, whose
    connections have no socket to write to)."""
    connection = pool.get_connection()
    try:
        try:
            connection.send_packed_command(connection.pack_commands(commands))
        except BaseException:
            connection.disconnect()
            raise
        return read_replies(connection, len(commands))
    finally:
        pool.release(connection)


class Wire:
    """One connection per thread, built from ``pool``'s connection class and settings."""

    def __init__(self, pool: Any) -> None:
        self._pool = pool
        self._local = threading.local()
        self._all: weakref.WeakSet[Any] = weakref.WeakSet()  # every thread's, for ``close``
        self._lock = threading.Lock()
        _wires.add(self)

    def round_trip(self, commands: Iterable[Sequence[Arg]]) -> list[Any]:
        """Send ``commands`` and read every reply; an error reply is raised once all replies are read.

        ``commands`` may be a generator: each command is packed when it is reached, and the bytes go out every
        ``SEND_AT_BYTES``, so a long round trip overlaps its packing with the server's work.
        """
        connection = getattr(self._local, "connection", None) or self._connect()
        try:
            count, size = 0, 0
            pending: list[bytes] = []
            for command in commands:
                data = pack(command)
                pending.append(data)
                size += len(data)
                count += 1
                if size >= SEND_AT_BYTES:
                    connection.send_packed_command([b"".join(pending)])
                    pending, size = [], 0
            if pending:
                connection.send_packed_command([b"".join(pending)])
        except BaseException:
            connection.disconnect()
            raise
        return read_replies(connection, count)

    def close(self) -> None:
        """Disconnect every thread's connection (a later round trip connects again)."""
        with self._lock:
            connections = list(self._all)
        for connection in connections:
            connection.disconnect()

    def _connect(self) -> Any:
        """This thread's connection, made now (it connects on first use)."""
        connection = self._pool.connection_class(**self._pool.connection_kwargs)
        self._local.connection = connection
        with self._lock:
            self._all.add(connection)
        return connection

    def _forget(self) -> None:
        self._local = threading.local()
        self._all = weakref.WeakSet()
        self._lock = threading.Lock()


#: Every live ``Wire``, so a forked child can forget their connections (which its parent still uses).
_wires: weakref.WeakSet[Wire] = weakref.WeakSet()


def _forget_all_after_fork() -> None:
    for wire in list(_wires):
        wire._forget()


os.register_at_fork(after_in_child=_forget_all_after_fork)
