"""docs/protocol.md is a contract: a producer that knows only the doc and raw Redis commands works.

The tests take their commands, keys, example payloads and signatures from the doc itself (filling in the
placeholders), so a recipe that is wrong in the doc fails here.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence

import pytest
import redis

from tasks import JobFailed, JobHandle, job, registry
from tasks.backends.redis import RedisBackend
from tasks.serialization import sign
from tasks.worker import Worker, WorkerSettings, default_queues
from tests.support.processes import ROOT

pytestmark = pytest.mark.timeout(30)

DOC = (ROOT / "docs/protocol.md").read_text(encoding="utf-8")

#: The signing example of the doc.
SECRET = "correct-horse-battery-staple"
SIGNED_PAYLOAD = (
    '{"v":1,"id":"7d9a4c2e6b1f40a8b3c5d7e9f1a2b4c6","name":"billing.charge","queue":"billing",'
    '"args":[42],"kwargs":{"currency":"€"}}'
)
SIGNATURE = "d8f1a14f567a67b1011372e87517ffbf721b65d7fe87bde226bc19e7e55a53c8"
NODE_HMAC = "crypto.createHmac('sha256', secret).update(payload).digest('hex')"


def charge(order_id: int, currency: str = "EUR") -> str:
    """The doc's example job, ``billing.charge`` on queue ``billing``."""
    return f"charged order {order_id} in {currency}"


@pytest.fixture
def billing() -> Iterator[None]:
    """``billing.charge`` registered for this test only (its queue then joins the worker's default queues)."""
    job(name="billing.charge", queue="billing")(charge)
    yield
    registry.unregister("billing.charge")


# --- reading the doc ---------------------------------------------------------------------------------------------


def doc_block(after: str) -> list[str]:
    """The non-empty lines of the first fenced block that follows the text ``after`` in the doc."""
    start = DOC.index("```", DOC.index(after))
    body = DOC[DOC.index("\n", start) + 1 : DOC.index("\n```", start)]
    return [line for line in body.splitlines() if line.strip()]


PLAIN = doc_block("### With plain commands")
HMGET = doc_block("## Reading the outcome")[0]


def fill(line: str, prefix: str, queue: str, **values: object) -> list[str]:
    """One documented command as arguments: ``P``, ``Q`` and the ``<placeholders>`` replaced by real values."""
    words = []
    for word in shlex.split(line):
        if word == "Q":
            word = queue
        word = word.replace("P:{Q}:", f"{prefix}:{{{queue}}}:").replace("P:queues", f"{prefix}:queues")
        for name, value in values.items():
            word = word.replace(f"<{name}>", str(value))
        words.append(word)
    return words


def send(client: redis.Redis, commands: Sequence[list[str]]) -> object:
    """Send the commands one by one on the client's single connection; the last reply (EXEC's)."""
    reply: object = None
    for command in commands:
        reply = client.execute_command(*command)
    return reply


def plain_enqueue(
    client: redis.Redis, prefix: str, queue: str, job_id: str, payload: str, *, n: int, now: float, extra: str = ""
) -> object:
    """The plain-command recipe of the doc, ``extra`` appended to its HSET line."""
    lines = [line + extra if line.startswith("HSET ") else line for line in PLAIN]
    return send(client, [fill(line, prefix, queue, id=job_id, payload=payload, n=n, now=now) for line in lines])


def payload_of(job_id: str, name: str, queue: str, **fields: object) -> str:
    return json.dumps({"v": 1, "id": job_id, "name": name, "queue": queue, **fields}, separators=(",", ":"))


def outcome(client: redis.Redis, prefix: str, queue: str, job_id: str) -> list[str | None]:
    """The documented HMGET of the job's state, attempts, result and error."""
    return client.execute_command(*fill(HMGET, prefix, queue, id=job_id))  # type: ignore[no-any-return]


def run_worker(
    redis_url: str, prefix: str, queues: Sequence[str] | None = None, *, secret: str | None = None,
    clock: Callable[[], float] = time.time,
) -> None:
    """A real worker, in burst mode, on the default queues of this process's registry unless told otherwise."""
    backend = RedisBackend.from_url(redis_url, prefix=prefix)
    try:
        settings = WorkerSettings(queues=list(queues or default_queues()), burst=True, secret=secret)
        Worker(backend, settings, clock=clock).run()
    finally:
        backend.close()


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    """Raw commands on one connection, as a producer in another language sends them."""
    connection = redis.Redis.from_url(redis_url, decode_responses=True, single_connection_client=True)
    yield connection
    connection.close()


# --- enqueueing with plain commands ------------------------------------------------------------------------------


@pytest.mark.parametrize("extra", ["", ' sig "" attempts 0'], ids=["defaults-left-out", "defaults-written"])
def test_the_plain_command_recipe_enqueues_a_job_a_worker_runs(
    client: redis.Redis, redis_app: str, prefix: str, billing: None, extra: str
) -> None:
    # Given the doc's commands, with sig and attempts left out (as tasks does) or written at their defaults
    assert f"enqueued_at <now>{extra}`" in DOC or not extra
    job_id, now = uuid.uuid4().hex, time.time()
    payload = payload_of(job_id, "billing.charge", "billing", serializer="json", args=[42], kwargs={"currency": "EUR"},
                         max_attempts=3, timeout=30, result_ttl=86400, enqueued_at=now, run_at=None)

    # When they are sent in one transaction and a worker drains its default queues
    replies = plain_enqueue(client, prefix, "billing", job_id, payload, n=3, now=now, extra=extra)
    stored = client.hgetall(f"{prefix}:{{billing}}:job:{job_id}")
    run_worker(redis_app, prefix)

    # Then the job ran once, and reads as the doc says
    assert isinstance(replies, list) and len(replies) == 5
    assert ("sig" in stored, "attempts" in stored) == ((True, True) if extra else (False, False))
    assert outcome(client, prefix, "billing", job_id) == ["succeeded", "1", '"charged order 42 in EUR"', None]
    handle = JobHandle[str](job_id, "billing")
    assert handle.status() == "succeeded"
    assert handle.result(timeout=10) == "charged order 42 in EUR"
    assert client.sismember(f"{prefix}:queues", "billing")


def test_a_delayed_job_with_integer_times_runs_once_its_run_at_passes(
    client: redis.Redis, redis_url: str, prefix: str
) -> None:
    # Given the doc's delayed variant, every time an integer, due in an hour
    zadd = "ZADD P:{Q}:scheduled <run_at> <id>"
    assert f"`{zadd}`" in DOC and "write `state scheduled` and replace `RPUSH`/`LPUSH`/`LTRIM`" in DOC
    lines = [line.replace("state queued", "state scheduled") for line in PLAIN
             if line.split()[0] not in ("RPUSH", "LPUSH", "LTRIM")]
    lines.insert(lines.index("EXEC"), zadd)
    job_id, now = uuid.uuid4().hex, int(time.time())
    run_at = now + 3600
    payload = payload_of(job_id, "tests.add", "default", args=[20, 22], max_attempts=1, enqueued_at=now, run_at=run_at)
    import tests.jobs  # noqa: F401 - registers tests.add

    send(client, [fill(line, prefix, "default", id=job_id, payload=payload, n=1, now=now, run_at=run_at)
                  for line in lines])

    # When a worker looks now, then a worker whose clock is past run_at
    run_worker(redis_url, prefix)
    before = outcome(client, prefix, "default", job_id)
    run_worker(redis_url, prefix, clock=lambda: time.time() + 3601)

    # Then it waited in the scheduled set, and ran once due
    assert before == ["scheduled", None, None, None]
    assert outcome(client, prefix, "default", job_id) == ["succeeded", "1", "42", None]


def test_a_payload_and_a_hash_with_only_the_required_fields_run_with_the_defaults(
    client: redis.Redis, redis_url: str, prefix: str
) -> None:
    # Given the four required payload fields, and a hash of payload, state and max_attempts only
    import tests.jobs  # noqa: F401 - registers tests.echo_context

    job_id = uuid.uuid4().hex
    payload = payload_of(job_id, "tests.echo_context", "default")
    lines = [line.replace(" enqueued_at <now>", "") for line in PLAIN]
    assert any(line.startswith("HSET ") and line.endswith("max_attempts <n>") for line in lines)

    # When they are enqueued with the doc's commands and a worker runs them
    send(client, [fill(line, prefix, "default", id=job_id, payload=payload, n=1) for line in lines])
    run_worker(redis_url, prefix)

    # Then the job ran with no arguments, enqueued_at read as 0, and the result is kept for 86400 s
    state, attempts, result, error = outcome(client, prefix, "default", job_id)
    assert (state, attempts, error) == ("succeeded", "1", None)
    context = json.loads(result or "")
    assert context.pop("started_at") == pytest.approx(time.time(), abs=60)
    assert context == {"id": job_id, "name": "tests.echo_context", "queue": "default", "attempt": 1, "max_attempts": 1,
                       "enqueued_at": 0.0}
    ttl_ms = client.pttl(f"{prefix}:{{default}}:job:{job_id}")
    assert (86400 - 60) * 1000 < ttl_ms <= 86400 * 1000


def test_a_job_on_a_queue_no_worker_serves_waits_until_a_worker_listens_to_it(
    client: redis.Redis, redis_url: str, prefix: str
) -> None:
    # Given a job pushed to a queue that no registered job names
    import tests.jobs  # noqa: F401

    assert "--queues billing,default" in DOC
    job_id, now = uuid.uuid4().hex, time.time()
    plain_enqueue(client, prefix, "elsewhere", job_id, payload_of(job_id, "tests.add", "elsewhere", args=[1, 2]),
                  n=1, now=now)

    # When a worker serves its default queues, then one is told the queue (what --queues does)
    assert "elsewhere" not in default_queues() and default_queues()[-1] == "default"
    run_worker(redis_url, prefix)
    waiting = outcome(client, prefix, "elsewhere", job_id)
    run_worker(redis_url, prefix, ["elsewhere", "default"])

    # Then the first left it waiting without a word, the second ran it
    assert waiting == ["queued", None, None, None]
    assert outcome(client, prefix, "elsewhere", job_id) == ["succeeded", "1", "3", None]


def test_the_watch_guard_refuses_an_id_written_meanwhile(client: redis.Redis, redis_url: str, prefix: str) -> None:
    # Given the doc's guarded form: WATCH and EXISTS, then the transaction
    watch, exists = (line.split("(")[0].strip() for line in doc_block("#### Ids must be new")[:2])
    assert (watch, exists) == ("WATCH P:{Q}:job:<id>", "EXISTS P:{Q}:job:<id>")
    job_id, now = uuid.uuid4().hex, time.time()
    ours = payload_of(job_id, "tests.add", "default", args=[1, 1])
    theirs = payload_of(job_id, "tests.add", "default", args=[2, 2])
    other = redis.Redis.from_url(redis_url, decode_responses=True)

    # When another producer writes the same id between our EXISTS and our EXEC
    send(client, [fill(watch, prefix, "default", id=job_id)])
    assert send(client, [fill(exists, prefix, "default", id=job_id)]) == 0
    other.hset(f"{prefix}:{{default}}:job:{job_id}", mapping={"payload": theirs, "state": "queued", "max_attempts": 1})
    reply = plain_enqueue(client, prefix, "default", job_id, ours, n=1, now=now)

    # Then our EXEC replies nil and stores nothing, and a later EXISTS says the id is taken
    assert reply is None
    assert other.hget(f"{prefix}:{{default}}:job:{job_id}", "payload") == theirs
    assert other.llen(f"{prefix}:{{default}}:ready") == 0
    assert send(client, [fill(exists, prefix, "default", id=job_id)]) == 1
    other.close()


# --- enqueueing with the script ---------------------------------------------------------------------------------


def test_the_enqueue_script_from_the_installed_package_takes_the_documented_keys_and_argv(
    client: redis.Redis, redis_app: str, prefix: str
) -> None:
    # Given enqueue.lua printed by the doc's command, and the KEYS of the doc's table
    command = re.search(r'`python -c "([^"]+)"`', DOC)
    assert command is not None
    script = subprocess.run([sys.executable, "-c", command.group(1)], capture_output=True, text=True, check=True,
                            cwd=ROOT.parent).stdout
    assert script.rstrip("\n") == (ROOT / "tasks/backends/redis/lua/enqueue.lua").read_text().rstrip("\n")
    doc_keys = dict(re.findall(r"\| `KEYS\[([0-9.+n]+)\]`\s*\| `([^`]+)`", DOC))
    assert "id, payload, max_attempts, enqueued_at, run_at (`\"\"` for now), sig (`\"\"` for unsigned)" in DOC
    import tests.jobs  # noqa: F401

    now = int(time.time())
    due, later = uuid.uuid4().hex, uuid.uuid4().hex
    keys = [fill(doc_keys[k], prefix, "default")[0] for k in ("1", "2", "3")]
    keys += [fill(doc_keys["4..3+n"], prefix, "default", id=i)[0] for i in (due, later)]
    argv: list[object] = [now]
    for job_id, run_at in ((due, ""), (later, now + 3600)):
        payload = payload_of(job_id, "tests.add", "default", args=[1, 2], max_attempts=2, enqueued_at=now,
                             run_at=run_at or None)
        argv += [job_id, payload, 2, now, run_at, ""]

    # When it is loaded and called twice with raw EVALSHA
    sha = client.execute_command("SCRIPT", "LOAD", script)
    first = client.execute_command("EVALSHA", sha, len(keys), *keys, *argv)
    second = client.execute_command("EVALSHA", sha, len(keys), *keys, *argv)
    stored = client.hgetall(keys[3])
    delayed = client.hmget(keys[4], ["state", "sig", "attempts"])
    run_worker(redis_app, prefix)

    # Then each job is stored once: the due one queued and run, the later one scheduled at its run_at
    assert (first, second) == ([1, 1], [0, 0])
    assert set(stored) == {"payload", "max_attempts", "enqueued_at", "state"} and stored["state"] == "queued"
    assert delayed == ["scheduled", None, None]
    assert client.zscore(keys[1], later) == now + 3600
    assert outcome(client, prefix, "default", due) == ["succeeded", "1", "3", None]
    assert JobHandle[int](due, "default").result(timeout=10) == 3
    assert JobHandle[int](later, "default").status() == "scheduled"


# --- signing -----------------------------------------------------------------------------------------------------


def test_the_documented_signature_is_hmac_sha256_of_the_utf8_bytes() -> None:
    assert SIGNED_PAYLOAD in doc_block("Example, with the secret") and f"`{SECRET}`" in DOC
    assert f"`sig` is `{SIGNATURE}`" in DOC
    expected = hmac.new(SECRET.encode("utf-8"), SIGNED_PAYLOAD.encode("utf-8"), hashlib.sha256).hexdigest()
    assert expected == SIGNATURE == sign(SECRET, SIGNED_PAYLOAD)
    assert len(SIGNED_PAYLOAD.encode("utf-8")) == 129 and "(129 bytes: the `€` is 3)" in DOC


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_documented_node_one_liner_gives_the_documented_signature() -> None:
    assert f"`{NODE_HMAC}`" in DOC
    program = (
        "const crypto = require('crypto'); const [secret, payload] = process.argv.slice(1); "
        f"process.stdout.write({NODE_HMAC})"
    )
    done = subprocess.run(["node", "-e", program, SECRET, SIGNED_PAYLOAD], capture_output=True, text=True,
                          check=True, timeout=20)
    assert done.stdout == SIGNATURE


def test_the_signed_example_runs_on_a_worker_with_the_secret(
    client: redis.Redis, redis_url: str, prefix: str, billing: None
) -> None:
    # Given the doc's signed payload (raw UTF-8, not escaped), stored with its signature
    job_id = json.loads(SIGNED_PAYLOAD)["id"]
    plain_enqueue(client, prefix, "billing", job_id, SIGNED_PAYLOAD, n=1, now=time.time(), extra=f" sig {SIGNATURE}")
    assert client.hget(f"{prefix}:{{billing}}:job:{job_id}", "payload") == SIGNED_PAYLOAD

    # When a worker with the secret runs it
    run_worker(redis_url, prefix, secret=SECRET)

    # Then the signature verified and the job ran with its arguments
    state, attempts, result, error = outcome(client, prefix, "billing", job_id)
    assert (state, attempts, error) == ("succeeded", "1", None)
    assert json.loads(result or "") == "charged order 42 in €"


# --- reading the outcome -----------------------------------------------------------------------------------------


def test_a_job_that_failed_for_good_reads_as_documented(
    client: redis.Redis, redis_app: str, prefix: str
) -> None:
    # Given a job whose function raises Fail
    import tests.jobs  # noqa: F401 - registers tests.fail_for_good

    assert HMGET == "HMGET P:{Q}:job:<id> state attempts result error"
    job_id = uuid.uuid4().hex
    plain_enqueue(client, prefix, "default", job_id, payload_of(job_id, "tests.fail_for_good", "default"), n=5,
                  now=time.time())

    # When a worker runs it
    run_worker(redis_app, prefix)

    # Then HMGET and JobHandle both read the failure, and the id sits in the failed set
    state, attempts, result, error = outcome(client, prefix, "default", job_id)
    assert (state, attempts, result) == ("failed", "1", None)
    details = json.loads(error or "")
    assert (details["type"], details["message"]) == ("Fail", "card declined") and "Traceback" in details["traceback"]
    assert client.zscore(f"{prefix}:{{default}}:failed", job_id) is not None
    assert client.ttl(f"{prefix}:{{default}}:job:{job_id}") == -1  # kept until retried or purged
    with pytest.raises(JobFailed, match="card declined"):
        JobHandle[None](job_id, "default").result(timeout=10)


# --- a producer that is not Python ---------------------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("redis-cli") is None, reason="redis-cli is not installed")
def test_a_job_enqueued_with_redis_cli_as_the_doc_shows_is_run_by_a_worker(
    client: redis.Redis, redis_app: str, prefix: str, billing: None
) -> None:
    # Given the doc's redis-cli example, under this test's prefix and Redis
    lines = doc_block("The same from a shell with `redis-cli`")
    assert lines[0] == "redis-cli <<'EOF'" and lines[-1] == "EOF"
    shell = "\n".join(lines).replace("tasks:", f"{prefix}:").replace("redis-cli", f"redis-cli -u {redis_app}", 1)
    job_id = lines[2].split()[1].rpartition(":")[2]

    # When the shell runs it, then a worker drains its default queues
    done = subprocess.run(["sh", "-c", shell], capture_output=True, text=True, timeout=20)
    run_worker(redis_app, prefix)

    # Then redis-cli stored the job, and the worker ran it
    assert done.returncode == 0 and "ERR" not in done.stdout + done.stderr, done.stdout + done.stderr
    assert outcome(client, prefix, "billing", job_id) == ["succeeded", "1", '"charged order 42 in EUR"', None]
    assert JobHandle[str](job_id, "billing").result(timeout=10) == "charged order 42 in EUR"
    assert client.hget(f"{prefix}:{{billing}}:job:{job_id}", "enqueued_at") == "1795958400"


def test_the_doc_names_every_key_the_code_builds() -> None:
    from tasks.backends.redis.keys import Keys

    keys = Keys("P")
    q = keys.queue("Q")
    for key in (q.ready, q.wake, q.scheduled, q.leases, q.failed, q.job("<id>"), keys.queues, keys.cron_ticks,
                keys.workers, keys.worker("<id>")):
        assert f"`{key}`" in DOC, key
