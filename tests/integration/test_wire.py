"""The hot paths' round trip (``tasks.backends.redis.wire``) against a real redis-server."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
import redis

from tasks.backends.redis import RedisBackend
from tasks.backends.redis.wire import SEND_AT_BYTES, Wire, pack
from tasks.model import NewJob
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.timeout(30)


def test_pack_writes_resp_arrays_of_bulk_strings() -> None:
    assert pack(("SET", "k", "é")) == b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\n\xc3\xa9\r\n"
    packed = pack(("X", b"\x00\r\n", 42, -7, 0.1))
    assert packed == b"*5\r\n$1\r\nX\r\n$3\r\n\x00\r\n\r\n$2\r\n42\r\n$2\r\n-7\r\n$3\r\n0.1\r\n"


@pytest.mark.parametrize("bad", [True, None, [1], {"a": 1}])
def test_pack_refuses_what_redis_py_would_refuse(bad: object) -> None:
    with pytest.raises(redis.DataError, match="cannot send"):
        pack(("SET", "k", bad))  # type: ignore[arg-type]


def test_a_round_trip_reads_every_reply_and_an_error_keeps_the_connection_in_step(
    redis_backend: RedisBackend, prefix: str
) -> None:
    wire = Wire(redis_backend.client.connection_pool)
    key = f"{prefix}:w"
    replies = wire.round_trip([("SET", key, "1"), ("INCR", key), ("GET", key)])
    assert replies == ["OK", 2, "2"]  # raw replies, as the server sends them
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        wire.round_trip([("INCR", key), ("LPUSH", key, "x"), ("INCR", key)])  # the error is the middle reply
    assert wire.round_trip([("GET", key)]) == ["4"]  # both INCRs ran; no reply was left unread


def test_a_long_round_trip_goes_out_in_pieces_and_comes_back_whole(redis_backend: RedisBackend, prefix: str) -> None:
    wire = Wire(redis_backend.client.connection_pool)
    key = f"{prefix}:long"
    value = "v" * 1000
    count = 3 * SEND_AT_BYTES // len(value)  # several sends
    replies = wire.round_trip(("RPUSH", key, value) for _ in range(count))
    assert replies == list(range(1, count + 1))


def test_each_thread_has_its_own_connection(redis_backend: RedisBackend, prefix: str) -> None:
    wire = Wire(redis_backend.client.connection_pool)
    ids: list[int] = []

    def client_id() -> None:
        ids.append(wire.round_trip([("CLIENT", "ID")])[0])

    threads = [threading.Thread(target=client_id) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    client_id()
    client_id()
    assert len(ids) == 5 and len(set(ids)) == 4  # three threads, and this one twice on the same connection


def test_a_connection_broken_midway_is_replaced(redis_backend: RedisBackend, redis_url: str) -> None:
    wire = Wire(redis_backend.client.connection_pool)
    before = wire.round_trip([("CLIENT", "ID")])[0]
    admin = redis.Redis.from_url(redis_url)
    admin.client_kill_filter(_id=before)
    admin.close()
    with pytest.raises(redis.ConnectionError):
        wire.round_trip([("PING",)])
    after = wire.round_trip([("CLIENT", "ID")])[0]
    assert after != before


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_never_uses_its_parents_connection(redis_backend: RedisBackend, prefix: str) -> None:
    wire = Wire(redis_backend.client.connection_pool)
    parent_id = wire.round_trip([("CLIENT", "ID")])[0]
    key = f"{prefix}:child"
    pid = os.fork()
    if pid == 0:  # the child: report its connection's id, then leave without cleanup
        code = 0
        try:
            wire.round_trip([("SET", key, str(wire.round_trip([("CLIENT", "ID")])[0]))])
        except BaseException:
            code = 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert int(redis_backend.client.get(key)) != parent_id
    assert wire.round_trip([("CLIENT", "ID")])[0] == parent_id  # the parent's connection is untouched


def test_enqueue_stores_a_job_in_one_round_trip_and_is_idempotent_by_id(redis_backend: RedisBackend) -> None:
    now = time.time()
    job = NewJob(id="job-1", queue="wire", payload='{"v":1}', max_attempts=2, enqueued_at=now)
    assert redis_backend.enqueue(job, now=now) is True
    assert redis_backend.enqueue(job._replace(payload='{"v":2}'), now=now) is False
    status = redis_backend.status("wire", "job-1")
    assert status is not None and (status.state, status.attempts, status.payload) == ("queued", 0, '{"v":1}')
    assert redis_backend.known_queues() == ["wire"]


@pytest.mark.parametrize("kind", ["unix", "password"])
def test_the_hot_paths_connect_as_the_url_says(kind: str, tmp_path: Path) -> None:
    # Given a redis-server of our own that listens on a Unix socket, or asks for a password
    socket_path = tmp_path / "redis.sock"
    extra = ("--unixsocket", str(socket_path)) if kind == "unix" else ("--requirepass", "s3cret")
    server = RedisServer(tmp_path, appendonly=False, extra=extra)
    server.start()
    url = f"unix://{socket_path}" if kind == "unix" else f"redis://:s3cret@127.0.0.1:{server.port}/0"
    backend = RedisBackend.from_url(url, prefix="wire")
    try:
        # When a job is enqueued, reserved and completed (the paths that use the thread's own connection)
        now = time.time()
        assert backend.enqueue(NewJob(id="j", queue="q", payload='{"v":1}', max_attempts=1, enqueued_at=now), now=now)
        [lease] = backend.reserve(["q"], worker_id="w", now=now, lease_s=30, count=5)
        done, more = backend.complete_and_reserve(
            [(lease, "null", 60.0)], ["q"], worker_id="w", now=now, lease_s=30, count=5
        )

        # Then each step went through, as the URL said to connect
        assert (done, more) == ([True], [])
        status = backend.status("q", "j")
        assert status is not None and status.state == "succeeded"
    finally:
        backend.close()
        server.kill()
