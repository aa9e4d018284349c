"""Fuzz: random bytes and values in every field of stored jobs and in the queue structures, interleaved with good
jobs, on a live pool of 2 worker processes, on Redis and on SQLite.

What must hold, whatever the records hold: no worker process dies; every good job runs exactly once and
succeeds; every damaged record reaches a final state (a record that cannot run reaches the failed set, with a
reason of the kinds docs/protocol.md lists) and none runs twice; nothing is left queued or running.

Each example writes a batch of damaged records between good jobs and waits for the pool to settle them all.
``TASKS_FUZZ_EXAMPLES`` sets how many examples run (default 30 per backend, about 10 s in all); the summary line
printed with ``-s`` gives the figures: records tried, good jobs, deaths, duplicates.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tasks import configure
from tasks.backends.base import Backend
from tasks.serialization import PROTOCOL_VERSION
from tests import jobs
from tests.contract.damage import Value, orphan, raw_enqueue, raw_state
from tests.support.waiting import wait_until
from tests.worker.conftest import Site, alive, records, wait_for_workers, worker_pids

pytestmark = [pytest.mark.redis, pytest.mark.slow]

SECRET = "fuzz-secret"
EXAMPLES = int(os.environ.get("TASKS_FUZZ_EXAMPLES", "30"))
#: The reasons a record that cannot run may fail with (docs/protocol.md, "What a malformed record gets"), and
#: TypeError: a payload whose arguments the function does not take is called, and fails as the job's own error.
REASONS = {"MalformedJob", "PayloadError", "SignatureError", "UnknownJob", "TypeError"}
FIELDS = ("payload", "sig", "attempts", "max_attempts", "enqueued_at")

#: Any value a field may be damaged with: raw bytes, text, numbers of every kind (NaN and infinities too).
values: st.SearchStrategy[Value] = st.one_of(
    st.binary(max_size=40),
    st.text(max_size=20),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(),
    st.sampled_from(["", "0", "-1", "1e999", "nan", "0x10", " 7 ", "3.0", "\u00e9", "99999999999999999999"]),
)
#: Any JSON a payload field may be replaced with (NaN and Infinity as Python writes them).
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=5,
)
PAYLOAD_FIELDS = (
    "v",
    "id",
    "name",
    "queue",
    "serializer",
    "args",
    "kwargs",
    "max_attempts",
    "timeout",
    "result_ttl",
    "enqueued_at",
    "run_at",
)


@st.composite
def damages(draw: st.DrawFn) -> tuple[str, Any]:
    """One damage: a stored field given a random value, a payload field given random JSON, raw payload bytes, a
    random id, or the field left out."""
    kind = draw(st.sampled_from(["field", "payload-field", "payload-bytes", "id", "missing", "orphan"]))
    if kind == "orphan":
        return kind, (draw(st.sampled_from(["ready", "scheduled", "leases"])), draw(values))
    if kind == "field":
        return kind, (draw(st.sampled_from(FIELDS)), draw(values))
    if kind == "payload-field":
        return kind, (draw(st.sampled_from(PAYLOAD_FIELDS)), draw(json_values))
    if kind == "payload-bytes":
        return kind, draw(st.binary(max_size=60))
    if kind == "id":
        return kind, draw(st.binary(min_size=1, max_size=20))
    return kind, draw(st.sampled_from(FIELDS))


@dataclass
class Tally:
    """What the whole run tried and saw, for the summary line."""

    records: int = 0
    good: int = 0
    failed: Counter[str] = field(default_factory=Counter)
    succeeded: int = 0


def signed(payload: bytes) -> str:
    return hmac.new(SECRET.encode(), payload, hashlib.sha256).hexdigest()


def damaged_record(key: str, damage: tuple[str, Any]) -> tuple[bytes | str, dict[str, Value]]:
    """A record of ``tests.record(key)`` (so a run of it leaves a trace), damaged as ``damage`` says."""
    job_id: bytes | str = f"bad-{key}"
    body: dict[str, Any] = {
        "v": PROTOCOL_VERSION,
        "id": job_id,
        "name": "tests.record",
        "queue": "default",
        "serializer": "json",
        "args": [key],
        "kwargs": {},
        "max_attempts": 1,
        "timeout": None,
        "result_ttl": 60,
        "enqueued_at": time.time(),
        "run_at": None,
    }
    kind, what = damage
    if kind == "payload-field":
        body[what[0]] = what[1]
    payload = what if kind == "payload-bytes" else json.dumps(body).encode()
    fields: dict[str, Value] = {
        "payload": payload,
        "sig": signed(payload),
        "state": "queued",
        "max_attempts": 1,
        "enqueued_at": time.time(),
    }
    if kind == "field":
        fields[what[0]] = what[1]
    elif kind == "missing":
        fields[what] = None
    elif kind == "id":
        job_id = f"{key}-".encode() + what  # random bytes, kept unique
    return job_id, fields


@pytest.mark.rerun_once("a live pool of 2 processes on a shared 2-core machine")
@pytest.mark.timeout(240)
def test_no_record_whatever_its_bytes_kills_a_worker_or_disturbs_another_job(site: Site) -> None:
    # Given a live pool of 2 on a deployment with a secret
    configure(secret=SECRET)
    # (a damaged name fails at once, as UnknownJob: with a grace for unknown names it would wait to be looked at again)
    pool = site.pools.start("--concurrency", "2", "--lease", "5", "--unknown-job-grace", "0", TASKS_SECRET=SECRET)
    backend = site.backend
    pids = wait_for_workers(backend, pool, 2)
    tally = Tally()
    serial = itertools.count()

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        # no shrinking: each try waits on a live pool (up to a minute when it fails), and a failing example is
        # reported as found, with the records it wrote; shrinking would retry it for as long as the run allows
        phases=[Phase.explicit, Phase.reuse, Phase.generate],
    )
    @given(batch=st.lists(damages(), min_size=1, max_size=6))
    def check(batch: list[tuple[str, Any]]) -> None:
        # When damaged records are written between good jobs
        good, written = [], []
        for damage in batch:
            n = next(serial)  # unique across examples, even those that failed midway
            good.append(jobs.record.delay(f"good-{n}"))
            job_id, fields = damaged_record(f"{n}", damage)
            if damage[0] == "orphan":
                job_id = f"orphan-{n}".encode()
                orphan(backend, "default", damage[1][0], job_id, _orphan_value(damage[1][1]))
            else:
                raw_enqueue(backend, "default", job_id, fields)
            written.append(job_id)
        tally.records += len(batch)
        tally.good += len(good)

        # Then the good jobs all succeed, and every damaged record reaches a final state
        wait_until(lambda: all(h.status() == "succeeded" for h in good), timeout=30, interval=0.02)
        finals = wait_until(lambda: _finals(backend, written), timeout=30, interval=0.02)
        for job_id, (state, error_type) in zip(written, finals):
            if state == "failed":
                assert error_type in REASONS, (job_id, error_type)
                tally.failed[error_type] += 1
            else:
                tally.succeeded += 1

    check()

    # And no process died, every good job ran exactly once, and no damaged record ran twice
    assert all(alive(pid) for pid in pids) and worker_pids(backend, pool.pid) == pids
    assert "exited with code" not in pool.log_text() and "was killed by" not in pool.log_text()
    runs = Counter(records(site.pools.record))
    assert sum(1 for key, count in runs.items() if key.startswith("good-") and count == 1) == tally.good
    assert max(runs.values(), default=1) == 1
    stats = backend.queue_stats("default")
    assert (stats.ready, stats.running) == (0, 0)
    print(
        f"\nfuzz: {tally.records} damaged records and {tally.good} good jobs on a live pool of 2: 0 deaths, "
        f"0 duplicates; damaged records failed {dict(tally.failed)}, ran fine {tally.succeeded}"
    )


def _finals(backend: Backend, ids: list[bytes | str]) -> list[tuple[str, str]] | None:
    """``(state, error type)`` of each record once every one is final, else ``None``."""
    found = []
    for job_id in ids:
        state, error_type = raw_state(backend, "default", job_id)
        if state not in ("succeeded", "failed"):
            return None
        found.append((state, error_type))
    return found


def _orphan_value(value: Value) -> float | str:
    """A position, due time or lease expiry: a past number, so that it is acted on now, or text that is no number.

    Numbers (and text SQLite reads as a number, such as '1e20') are moved into the past: a due time or lease expiry
    still to come is rightly waited for, as written, and is not a record that cannot be read.
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return min(float(value), 0.0) if value == value else float("nan")
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    try:
        number = float(text)
    except ValueError:
        return text
    return min(number, 0.0) if number == number else text
