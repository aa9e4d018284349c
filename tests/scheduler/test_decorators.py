"""``@scheduled`` and ``schedule()``: a scheduled job is a job; every mistake fails where it is written."""

from __future__ import annotations

import pytest

import tasks
from tasks import Job, job, schedule, scheduled
from tasks.errors import ConfigurationError, SerializationError
from tasks.scheduler import MIN_RECORD_TTL_S, registered_schedules

pytestmark = [pytest.mark.timeout(30), pytest.mark.usefixtures("clean_registries")]


# Plain functions, decorated inside the tests so that nothing stays registered after them.
def nightly_report() -> str:
    return "report"


def refresh() -> None:
    pass


def cleanup(days: int) -> int:
    return days


def by_name(name: str) -> tasks.scheduler.Schedule:
    return {s.name: s for s in registered_schedules()}[name]


def test_scheduled_is_exported() -> None:
    assert {"scheduled", "schedule"} <= set(tasks.__all__)


def test_scheduled_makes_a_plain_function_a_job() -> None:
    # When a plain function is scheduled
    report = scheduled("0 0 0 * * *")(nightly_report)

    # Then it is a registered job that still runs when called, and its schedule is named after it
    assert isinstance(report, Job)
    assert report() == "report"
    s = by_name(report.name)
    assert (s.cron.fields, s.tz_name, s.misfire, s.options.queue) == ("0 0 0 * * *", "UTC", "skip", "default")
    assert tasks.registry.lookup(report.name) is not None


def test_scheduled_on_a_job_keeps_its_options() -> None:
    # Given a job with retries and a timeout, scheduled to another queue in Paris time
    refreshed = scheduled("*/10 * * * * *", tz="Europe/Paris", queue="reports", misfire="once")(
        job(name="tests.refresh", max_attempts=5, timeout=30)(refresh)
    )

    # Then the schedule dispatches the job with those options, to "reports"; the job's own queue is unchanged
    s = by_name("tests.refresh")
    assert (s.options.name, s.options.max_attempts, s.options.timeout_s) == ("tests.refresh", 5, 30.0)
    assert (s.options.queue, s.tz_name, s.misfire) == ("reports", "Europe/Paris", "once")
    assert refreshed.options.queue == "default"


def test_a_scheduled_job_keeps_its_record_long_enough_to_guard_its_tick() -> None:
    scheduled("* * * * * *")(job(name="tests.short", result_ttl=5)(refresh))
    assert by_name("tests.short").options.result_ttl_s == MIN_RECORD_TTL_S


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"expression": "0 0 25 * * *"}, ValueError, r"field 3 \(hour\) '25'"),
        ({"expression": "0 0 0 * * *", "tz": "Mars/Olympus"}, ValueError, "unknown time zone"),
        ({"expression": "0 0 0 * * *", "misfire": "later"}, ValueError, "misfire must be one of"),
        ({"expression": "0 0 0 * * *", "queue": "no spaces"}, ValueError, "queue name"),
    ],
)
def test_a_bad_option_fails_at_decoration(kwargs: dict[str, str], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        scheduled(**kwargs)


def test_a_job_that_needs_arguments_cannot_be_scheduled_without_them() -> None:
    with pytest.raises(TypeError, match="missing a required argument: 'days'"):
        scheduled("0 0 0 * * *")(cleanup)
    # Nothing was registered: neither the schedule nor the job
    assert f"{__name__}.cleanup" not in {s.name for s in registered_schedules()}
    assert tasks.registry.lookup(f"{__name__}.cleanup") is None


def test_schedule_registers_at_runtime_with_arguments() -> None:
    cleanup_job = job(name="tests.cleanup")(cleanup)
    s = schedule("0 */5 * * * *", "cleanup", cleanup_job, kwargs={"days": 30})
    assert by_name("cleanup") == s
    assert (s.options.name, dict(s.kwargs)) == ("tests.cleanup", {"days": 30})
    # A tick's job carries those arguments under its deterministic id
    built = s.build_job(1_800_000_000.0, now=1_800_000_000.0)
    assert built.id == "cron:cleanup:20270115T080000Z"
    assert '"days":30' in built.payload


def test_schedule_by_job_name_for_a_job_this_process_cannot_import() -> None:
    s = schedule("@hourly", "remote", "billing.reconcile", args=[1], queue="billing")
    assert (s.options.name, s.options.queue, s.args) == ("billing.reconcile", "billing", (1,))


def test_schedule_refuses_bad_arguments_at_registration() -> None:
    cleanup_job = job(name="tests.cleanup")(cleanup)
    with pytest.raises(TypeError, match="missing a required argument: 'days'"):
        schedule("@daily", "cleanup", cleanup_job, kwargs={"weeks": 1})
    with pytest.raises(SerializationError):
        schedule("@daily", "cleanup", cleanup_job, kwargs={"days": object()})
    with pytest.raises(ValueError, match="schedule name"):
        schedule("@daily", "clean up", cleanup_job, kwargs={"days": 1})


def test_one_name_one_schedule() -> None:
    cleanup_job = job(name="tests.cleanup")(cleanup)
    schedule("@daily", "cleanup", cleanup_job, kwargs={"days": 1})
    schedule("@daily", "cleanup", cleanup_job, kwargs={"days": 1})  # the same again (a re-import): fine
    with pytest.raises(ConfigurationError, match="a schedule named 'cleanup' already exists"):
        schedule("@hourly", "cleanup", cleanup_job, kwargs={"days": 1})


def test_two_schedules_of_one_job_need_names() -> None:
    weekly = job(name="tests.weekly")(refresh)
    scheduled("@daily", name="weekly-fast")(scheduled("@weekly")(weekly))
    assert {"tests.weekly", "weekly-fast"} <= {s.name for s in registered_schedules()}
    assert by_name("weekly-fast").options.name == by_name("tests.weekly").options.name == "tests.weekly"
