"""``tasks.testing.fake()``: every dispatch recorded instead of sent, and the assertions that read the record."""

from __future__ import annotations

import re

import pytest

import tasks.testing
from tasks import SerializationError, bulk, dispatch, queue
from tests import jobs


@pytest.mark.timeout(30)
def test_every_way_of_dispatching_is_recorded_and_nothing_reaches_the_datastore(memory_app: str) -> None:
    # Given a process configured for a datastore, and a fake
    with tasks.testing.fake() as fake:
        # When a job is dispatched in every way there is
        jobs.add.delay(1, 2)
        jobs.add.later(60, 3, 4)
        jobs.add.on("other").delay(5, 6)
        jobs.add.with_options(job_id="add-7-8").delay(7, 8)
        dispatch("tests.add", 9, 10)
        with bulk():
            jobs.add.delay(11, 12)

    # Then each dispatch was recorded, with its arguments, queue and time
    recorded = [(d.name, d.args, d.queue) for d in fake.dispatched()]
    assert recorded == [
        ("tests.add", (1, 2), "default"),
        ("tests.add", (3, 4), "default"),
        ("tests.add", (5, 6), "other"),
        ("tests.add", (7, 8), "default"),
        ("tests.add", (9, 10), "default"),
        ("tests.add", (11, 12), "default"),
    ]
    later = fake.dispatched()[1]
    assert later.run_at == pytest.approx(later.enqueued_at + 60)
    assert fake.dispatched()[3].id == "add-7-8"

    # And none of them reached the datastore
    assert [queue(name).size() + queue(name).scheduled_size() for name in ("default", "other")] == [0, 0]


@pytest.mark.timeout(10)
def test_once_the_block_ends_dispatches_go_to_the_datastore_again(memory_app: str) -> None:
    with tasks.testing.fake() as fake:
        jobs.add.delay(1, 2)
    jobs.add.delay(3, 4)
    assert len(fake.dispatched()) == 1
    assert queue("default").size() == 1


@pytest.mark.timeout(10)
def test_arguments_match_by_parameter_name_however_they_were_passed() -> None:
    with tasks.testing.fake() as fake:
        # Given a dispatch with positional arguments, relying on defaults
        jobs.notify.delay(7, "hi")

    # Then it matches by the parameter names, defaults included
    found = fake.assert_dispatched(jobs.notify, user_id=7, message="hi", channel="email")
    assert found.arguments == {"user_id": 7, "message": "hi", "channel": "email"}
    fake.assert_dispatched(jobs.notify)
    fake.assert_dispatched("tests.notify", user_id=7)
    fake.assert_not_dispatched(jobs.notify, channel="sms")
    fake.assert_not_dispatched(jobs.add)


@pytest.mark.timeout(10)
def test_values_match_after_the_round_trip_the_serializer_gives_them() -> None:
    with tasks.testing.fake() as fake:
        # Given a tuple dispatched to a JSON job
        jobs.collect.delay((1, 2))

    # Then what is recorded is what the worker will receive: a list; and the tuple a test writes matches it
    assert fake.dispatched(jobs.collect)[0].args == ([1, 2],)
    fake.assert_dispatched(jobs.collect, items=(1, 2))
    fake.assert_dispatched(jobs.collect, items=[1, 2])
    fake.assert_not_dispatched(jobs.collect, items=(2, 1))


@pytest.mark.timeout(10)
def test_a_failed_assertion_says_what_was_expected_and_lists_what_was_dispatched() -> None:
    with tasks.testing.fake() as fake:
        jobs.notify.delay(7, "hi")
        jobs.add.later(30, 1, 2)

    with pytest.raises(AssertionError) as failure:
        fake.assert_dispatched(jobs.notify, user_id=8)
    assert str(failure.value) == (
        "expected a dispatch of tests.notify with user_id=8; dispatched (2):\n"
        "  tests.notify(user_id=7, message='hi', channel='email') on 'notices'\n"
        "  tests.add(a=1, b=2) on 'default', due 30.0 s after its dispatch"
    )


@pytest.mark.timeout(10)
def test_an_empty_fake_says_nothing_was_dispatched() -> None:
    with tasks.testing.fake() as fake:
        fake.assert_nothing_dispatched()
        with pytest.raises(AssertionError, match="nothing was dispatched"):
            fake.assert_dispatched(jobs.add)
        jobs.add.delay(1, 2)
    with pytest.raises(AssertionError, match=re.escape("expected no dispatch at all; dispatched (1)")):
        fake.assert_nothing_dispatched()


@pytest.mark.timeout(10)
def test_dispatches_are_counted_and_those_not_expected_are_shown() -> None:
    with tasks.testing.fake() as fake:
        for user_id in (1, 2, 2):
            jobs.notify.delay(user_id)

    assert len(fake.assert_dispatched_times(jobs.notify, 3)) == 3
    fake.assert_dispatched_times(jobs.notify, 2, user_id=2)
    fake.assert_dispatched_times(jobs.add, 0)
    with pytest.raises(AssertionError, match=r"expected 1 dispatch\(es\) of tests.notify with user_id=2, found 2"):
        fake.assert_dispatched_times(jobs.notify, 1, user_id=2)
    with pytest.raises(AssertionError, match=r"expected no dispatch of tests.notify with user_id=1; found 1:\n"):
        fake.assert_not_dispatched(jobs.notify, user_id=1)


@pytest.mark.timeout(10)
def test_a_parameter_the_job_does_not_have_is_refused_so_a_typo_cannot_pass() -> None:
    with tasks.testing.fake() as fake, pytest.raises(TypeError, match=r"tests\.notify has no parameter 'usr_id'"):
        fake.assert_not_dispatched(jobs.notify, usr_id=1)


@pytest.mark.timeout(10)
def test_an_argument_the_serializer_cannot_encode_fails_at_the_dispatch_as_in_production() -> None:
    with tasks.testing.fake() as fake:
        with pytest.raises(SerializationError, match="positional argument 0"):
            jobs.collect.delay(object())  # type: ignore[arg-type]
        fake.assert_nothing_dispatched()


@pytest.mark.timeout(10)
def test_a_bulk_block_records_its_dispatches_when_it_exits_and_nothing_when_it_raises() -> None:
    with tasks.testing.fake() as fake:
        with bulk():
            jobs.add.delay(1, 2)
            # Then nothing is recorded while the block runs, as nothing is sent
            fake.assert_nothing_dispatched()
        fake.assert_dispatched(jobs.add, a=1)

        with pytest.raises(RuntimeError, match="changed my mind"), bulk():
            jobs.add.delay(3, 4)
            raise RuntimeError("changed my mind")
        fake.assert_not_dispatched(jobs.add, a=3)


@pytest.mark.timeout(10)
def test_a_job_id_already_taken_is_recorded_once_as_a_datastore_stores_it_once() -> None:
    with tasks.testing.fake() as fake:
        first = jobs.add.with_options(job_id="welcome-42").delay(1, 2)
        jobs.add.with_options(job_id="welcome-42").delay(3, 4)
    assert [d.args for d in fake.dispatched()] == [(1, 2)]
    assert fake.dispatched()[0].handle.id == first.id == "welcome-42"


@pytest.mark.timeout(10)
def test_handles_of_recorded_jobs_answer_from_the_fake() -> None:
    with tasks.testing.fake() as fake:
        handle = jobs.add.delay(1, 2)
        later = jobs.add.later(60, 3, 4)
        assert (handle.status(), later.status()) == ("queued", "scheduled")
        fake.run_all()
        assert (handle.result(timeout=1), later.result(timeout=1)) == (3, 7)


@pytest.mark.timeout(10)
def test_a_job_this_process_does_not_know_is_recorded_by_name() -> None:
    tasks.configure(url="redis://127.0.0.1:1/0")  # nothing listens there: asking the datastore would fail
    with tasks.testing.fake() as fake:
        dispatch("billing.charge", 42, currency="EUR")
    found = fake.assert_dispatched("billing.charge", currency="EUR")
    assert found.job is None
    assert found.arguments == {"args": [42], "currency": "EUR"}
