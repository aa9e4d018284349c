"""docs/protocol.md is a contract: a producer that knows only the doc and redis-py's raw commands works."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest
import redis

from tasks.backends.redis import RedisBackend
from tasks.worker import Worker, WorkerSettings
from tests.support.processes import ROOT

pytestmark = pytest.mark.timeout(30)


def raw_enqueue(client: redis.Redis, prefix: str, queue: str, name: str, args: list[object]) -> str:
    """Enqueue exactly as docs/protocol.md says, with plain commands in one MULTI/EXEC."""
    job_id = uuid.uuid4().hex
    now = time.time()
    payload = json.dumps(
        {"v": 1, "id": job_id, "name": name, "queue": queue, "serializer": "json", "args": args, "kwargs": {},
         "max_attempts": 3, "timeout": None, "result_ttl": 60, "enqueued_at": now, "run_at": None}
    )
    pipe = client.pipeline(transaction=True)
    pipe.hset(f"{prefix}:{{{queue}}}:job:{job_id}", mapping={
        "payload": payload, "sig": "", "state": "queued", "attempts": 0, "max_attempts": 3, "enqueued_at": now})
    pipe.rpush(f"{prefix}:{{{queue}}}:ready", job_id)
    pipe.lpush(f"{prefix}:{{{queue}}}:wake", 1)
    pipe.ltrim(f"{prefix}:{{{queue}}}:wake", 0, 0)
    pipe.sadd(f"{prefix}:queues", queue)
    pipe.execute()
    return job_id


def test_a_job_enqueued_with_raw_commands_is_run_by_a_worker(redis_url: str, prefix: str) -> None:
    # Given a job written with the raw commands of docs/protocol.md
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    job_id = raw_enqueue(client, prefix, "foreign", "tests.add", [20, 22])

    # When a worker drains the queue
    import tests.jobs  # noqa: F401 - registers tests.add

    backend = RedisBackend.from_url(redis_url, prefix=prefix)
    Worker(backend, WorkerSettings(queues=["foreign"], burst=True)).run()

    # Then the hash reads as the doc says
    state, result = client.hmget(f"{prefix}:{{foreign}}:job:{job_id}", ["state", "result"])
    assert state == "succeeded"
    assert json.loads(result) == 42


def test_the_documented_enqueue_script_enqueues_idempotently(redis_url: str, prefix: str) -> None:
    # Given the enqueue script's text, read from where the doc says it lives
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    script = (ROOT / "tasks/backends/redis/lua/enqueue.lua").read_text()
    sha = client.script_load(script)
    job_id, queue, now = uuid.uuid4().hex, "foreign", time.time()
    payload = json.dumps({"v": 1, "id": job_id, "name": "tests.add", "queue": queue, "serializer": "json",
                          "args": [1, 2], "kwargs": {}, "max_attempts": 1, "timeout": None, "result_ttl": 60,
                          "enqueued_at": now, "run_at": None})
    keys = [f"{prefix}:{{{queue}}}:ready", f"{prefix}:{{{queue}}}:scheduled", f"{prefix}:{{{queue}}}:wake",
            f"{prefix}:{{{queue}}}:job:{job_id}"]
    argv = [now, job_id, payload, 1, now, "", ""]

    # When it is called twice with the same id
    first = client.evalsha(sha, len(keys), *keys, *argv)
    second = client.evalsha(sha, len(keys), *keys, *argv)

    # Then the job is stored once and a worker runs it
    assert (first, second) == ([1], [0])
    import tests.jobs  # noqa: F401

    backend = RedisBackend.from_url(redis_url, prefix=prefix)
    Worker(backend, WorkerSettings(queues=[queue], burst=True)).run()
    assert json.loads(client.hget(keys[3], "result")) == 3


def test_the_doc_names_every_key_the_code_builds() -> None:
    doc = (Path(ROOT) / "docs/protocol.md").read_text()
    from tasks.backends.redis.keys import Keys

    keys = Keys("P")
    q = keys.queue("Q")
    for key in (q.ready, q.wake, q.scheduled, q.leases, q.failed, q.job("<id>"), keys.queues, keys.cron_ticks,
                keys.workers, keys.worker("<id>")):
        assert f"`{key}`" in doc, key
