"""The dill serializer and payload signatures: arbitrary values with a secret, nothing unsigned ever loaded."""

from __future__ import annotations

import base64
import json
from typing import Any

import dill
import pytest

from tasks import ConfigurationError, JobHandle, SerializationError, queue
from tasks.config import configure, get_backend, reset
from tasks.producer import DispatchOptions, build
from tasks.serialization import sign
from tests import jobs
from tests.unit.helpers import drain

SECRET = "our-deployment-secret"


def raw() -> Any:
    """The backend's Redis client and key builder, to reach under the API as an attacker would."""
    return get_backend()


def rewrite_payload(handle: JobHandle[Any], change: Any) -> None:
    backend = raw()
    key = backend.keys.queue(handle.queue).job(handle.id)
    payload = backend.client.hget(key, "payload")
    backend.client.hset(key, "payload", change(payload))


def assert_failed_with_bad_signature(handle: JobHandle[Any]) -> None:
    assert handle.status() == "failed"
    [record] = [r for r in queue(handle.queue).failed() if r.id == handle.id]
    assert record.error_type == "SignatureError"
    assert record.message.startswith("bad signature")


# --- dill with a secret ----------------------------------------------------------------------------------------


def test_dill_round_trips_a_lambda_and_a_class_instance(app: str) -> None:
    # Given a deployment with a secret, and a dill job given a lambda that builds a user-defined class
    configure(secret=SECRET)
    handle = jobs.dill_apply.delay(lambda v: jobs.Point(v, v * 2), 21)

    # When a worker with the same secret runs it
    drain()

    # Then the lambda ran there, and the instance it returned came back
    assert handle.result(timeout=5) == jobs.Point(21, 42)


def test_dill_carries_values_json_cannot(app: str) -> None:
    configure(secret=SECRET)
    handle = jobs.dill_apply.delay(sorted, {3, 1, 2})
    drain()
    assert handle.result(timeout=5) == [1, 2, 3]


def test_a_dill_payload_holds_no_readable_arguments(app: str) -> None:
    # Given a dill dispatch
    configure(secret=SECRET)
    handle = jobs.dill_apply.delay(str.upper, "secret text")

    # Then the arguments travel only inside the signed blob, and listings do not pretend to read them
    body = json.loads(raw().status("default", handle.id).payload)
    assert body["serializer"] == "dill"
    assert "args" not in body and "kwargs" not in body
    assert "secret text" not in raw().status("default", handle.id).payload
    signature, _, blob = body["data"].partition(".")
    assert signature == sign(SECRET, blob)


def test_dill_without_a_secret_is_refused_at_dispatch(app: str) -> None:
    # Given no secret anywhere
    # When a dill job is dispatched, Then the error says how to set one, and nothing is sent
    with pytest.raises(ConfigurationError, match="TASKS_SECRET"):
        jobs.dill_apply.delay(abs, -1)
    assert queue("default").size() == 0


def test_a_value_dill_cannot_encode_is_named_at_dispatch(app: str) -> None:
    configure(secret=SECRET)
    with pytest.raises(SerializationError, match=r"argument 'value' \(generator\).*'dill'"):
        jobs.dill_apply.delay(list, value=(n for n in range(3)))
    assert queue("default").size() == 0


def test_the_failed_listing_of_a_dill_job_does_not_unpickle(app: str) -> None:
    configure(secret=SECRET)
    jobs.dill_apply.with_options(max_attempts=1).delay(lambda v: 1 / v, 0)
    drain()
    [record] = queue("default").failed()
    assert record.error_type == "ZeroDivisionError"
    assert (record.name, record.args, record.kwargs) == ("tests.dill_apply", ["<dill>"], {})


# --- signatures: the worker refuses what this deployment did not sign --------------------------------------------


def test_a_tampered_dill_payload_is_refused_and_the_worker_goes_on(app: str) -> None:
    # Given a signed dill job whose blob someone changed in the datastore, and a good job behind it
    configure(secret=SECRET)
    tampered = jobs.dill_apply.delay(abs, -1)

    def swap_blob(payload: str) -> str:
        body = json.loads(payload)
        signature, _, _ = body["data"].partition(".")
        body["data"] = f"{signature}.{base64.b64encode(dill.dumps([[print, 'owned'], {}])).decode()}"
        return json.dumps(body)

    rewrite_payload(tampered, swap_blob)
    good = jobs.add.delay(1, 2)

    # When a worker with the secret drains the queue
    drain()

    # Then the tampered job is in the failed set as a bad signature, and the next job ran
    assert_failed_with_bad_signature(tampered)
    assert good.result(timeout=5) == 3


def test_a_tampered_json_payload_is_refused_when_payloads_are_signed(app: str) -> None:
    # Given a deployment with a secret, and a JSON job whose arguments were changed after signing
    configure(secret=SECRET)
    handle = jobs.add.delay(1, 2)
    rewrite_payload(handle, lambda p: p.replace('"args":[1,2]', '"args":[1000,2]'))

    # When a worker runs it, Then it refuses it
    drain()
    assert_failed_with_bad_signature(handle)


def test_a_payload_signed_with_another_secret_is_refused(app: str) -> None:
    # Given jobs dispatched by a producer that holds another secret
    configure(secret="somebody-else")
    foreign_dill = jobs.dill_apply.delay(abs, -1)
    foreign_json = jobs.add.delay(1, 2)

    # When our worker, with our secret, drains the queue
    configure(secret=SECRET)
    ours = jobs.add.delay(2, 3)
    drain(secret=SECRET)

    # Then both foreign jobs are refused and ours ran
    assert_failed_with_bad_signature(foreign_dill)
    assert_failed_with_bad_signature(foreign_json)
    assert ours.result(timeout=5) == 5


def test_dill_data_signed_with_another_secret_is_refused_even_in_a_valid_envelope(app: str) -> None:
    # Given an envelope signed with our secret around dill data signed with another one
    configure(secret="somebody-else")
    options = DispatchOptions("tests.dill_apply", "default", 1, None, 60.0, "dill")
    foreign = build(options, (abs, -1), {}, now=0.0)
    resigned = foreign._replace(signature=sign(SECRET, foreign.payload))
    configure(secret=SECRET)
    get_backend().enqueue(resigned, now=0.0)

    # When a worker with our secret runs it
    drain()

    # Then the inner signature check refuses it
    assert_failed_with_bad_signature(JobHandle(resigned.id, "default"))


def test_with_tasks_secret_set_unsigned_payloads_are_refused(app: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a job dispatched by a producer without a secret
    unsigned = jobs.add.delay(1, 2)
    assert not raw().client.hget(raw().keys.queue("default").job(unsigned.id), "sig")  # no signature stored

    # When a worker started with TASKS_SECRET set drains the queue
    monkeypatch.setenv("TASKS_SECRET", SECRET)
    signed = jobs.add.delay(3, 4)
    drain()

    # Then the unsigned job is refused and the signed one ran
    assert_failed_with_bad_signature(unsigned)
    assert signed.result(timeout=5) == 7


def test_a_worker_without_a_secret_never_loads_dill(app: str, prefix: str) -> None:
    # Given a signed dill job, and a worker that has no secret
    configure(secret=SECRET)
    handle = jobs.dill_apply.delay(abs, -1)

    # When that worker runs it (the producer's secret is not the worker's)
    reset()
    configure(url=app, prefix=prefix)
    drain()

    # Then it refuses to unpickle
    assert handle.status() == "failed"
    [record] = queue("default").failed()
    assert record.error_type == "SignatureError"
    assert "bad signature" in record.message and "TASKS_SECRET" in record.message


def test_a_secret_signs_json_payloads_too(app: str) -> None:
    configure(secret=SECRET)
    handle = jobs.add.delay(1, 2)
    key = raw().keys.queue("default").job(handle.id)
    payload, signature = raw().client.hmget(key, ["payload", "sig"])
    assert signature == sign(SECRET, payload)
    drain()
    assert handle.result(timeout=5) == 3
