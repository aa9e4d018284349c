"""Flow-control options: checked when ``@job`` runs, with errors that name the fix; the pure policy of the limits."""

from __future__ import annotations

import pytest

from tasks import ConfigurationError, RateLimit, job, limits
from tasks.limits.options import FlowOptions, flow_options, parse_rate, resolve
from tasks.limits.policy import next_start, slot_free


def test_rates_are_read_from_their_short_form() -> None:
    assert (parse_rate("100/m").n, parse_rate("100/m").per) == (100, 60.0)
    assert (parse_rate("25/s").n, parse_rate("5/10s").per, parse_rate("2/h").per) == (25, 10.0, 3600.0)
    with pytest.raises(ConfigurationError, match="'N/s', 'N/m'"):
        parse_rate("100 per minute")


@pytest.mark.parametrize(
    ("options", "fix"),
    [
        ({"unique_key": lambda x: x}, "needs unique_for"),
        ({"debounce": 5}, "debounce needs unique_key"),
        ({"concurrency_key": lambda x: x}, "needs concurrency=N"),
        ({"concurrency": 0}, "integer >= 1"),
        ({"unique_for": -1}, "seconds > 0"),
        ({"unique_for": 5, "unique_until": "end"}, "'start' or 'finish'"),
        ({"rate_limit": "fast"}, "rate_limit 'fast'"),
        ({"limits": ["never-defined"]}, "limits.define"),
        ({"limits": "stripe"}, "a list of names"),
        ({"unique_for": 5, "unique_key": 42}, "a function of the job's arguments"),
    ],
)
def test_bad_flow_options_are_refused_when_the_decorator_runs(options: dict[str, object], fix: str) -> None:
    with pytest.raises(ConfigurationError, match=fix):

        @job(name="tests.bad_flow", **options)  # type: ignore[call-overload]
        def bad_flow(x: int) -> None: ...


def test_a_shared_limit_is_defined_once_and_named_by_jobs() -> None:
    limit = limits.define("stripe-test", "25/s")
    try:
        assert limits.define("stripe-test", RateLimit(25, per=1)).n == 25
        with pytest.raises(ConfigurationError, match="already defined"):
            limits.define("stripe-test", "30/s")
        flow = flow_options(limits=["stripe-test"], rate_limit="100/m")
        assert flow is not None and {r.name for r in flow.rates} == {"stripe-test", ""}
        assert limit.name == "stripe-test"
    finally:
        from tasks.limits.shared import forget

        forget("stripe-test")


def test_a_dispatch_resolves_its_keys_from_its_arguments() -> None:
    flow = flow_options(
        unique_for=60,
        unique_key=lambda order_id, **_: order_id,
        concurrency=2,
        concurrency_key=lambda order_id, **_: f"user-{order_id}",
        rate_limit=RateLimit(10, per=1, key=lambda order_id, **_: order_id % 2),
    )
    assert isinstance(flow, FlowOptions)
    resolved = resolve("billing.charge", flow, (7,), {"cents": 100})
    assert resolved.unique == "billing.charge:7"
    assert resolved.concurrency_key == "billing.charge:user-7"
    assert resolved.rates == (("billing.charge:1", 10, 1.0),)


def test_a_key_function_that_fails_names_the_dispatch() -> None:
    flow = flow_options(unique_for=60, unique_key=lambda order_id: order_id)
    assert flow is not None
    with pytest.raises(ValueError, match="key function"):
        resolve("j", flow, (), {"other": 1})


def test_a_slot_is_free_below_the_limit_and_an_expired_lease_holds_none() -> None:
    assert slot_free([], limit=1, now=100)
    assert not slot_free([130.0], limit=1, now=100)
    assert slot_free([130.0, 99.0], limit=2, now=100)  # the second holder's lease expired
    assert not slot_free([130.0, 140.0], limit=2, now=100)


def test_the_next_start_comes_when_the_oldest_start_leaves_the_window() -> None:
    assert next_start([], n=2, per_s=1, now=10) is None
    assert next_start([9.5], n=2, per_s=1, now=10) is None
    assert next_start([9.5, 9.8], n=2, per_s=1, now=10) == 10.5
    assert next_start([8.0, 9.5, 9.8], n=2, per_s=1, now=10) == 10.5  # 8.0 left the window already
    assert next_start([9.0, 9.5, 9.8], n=2, per_s=1, now=10) == 10.5


def test_a_flow_job_inside_bulk_is_refused_and_nothing_is_sent(memory_app: str) -> None:
    from tasks import TasksError, bulk, queue
    from tests import jobs

    with pytest.raises(TasksError, match="outside bulk"), bulk():
        jobs.add.delay(1, 2)
        jobs.unique_invoice.delay(1)
    assert queue("default").size() == 0


def test_with_options_names_an_unknown_flow_option() -> None:
    from tests import jobs

    with pytest.raises(TypeError, match="unique_for, unique_key"):
        jobs.add.with_options(uniqe_for=60)  # type: ignore[call-arg]


def test_key_functions_get_the_arguments_by_name_however_they_were_passed(memory_app: str) -> None:
    from tests import jobs

    positional = jobs.unique_invoice.delay(5, "a")
    by_name = jobs.unique_invoice.delay(order_id=5, sender="b")
    assert by_name.deduplicated and by_name.id == positional.id
