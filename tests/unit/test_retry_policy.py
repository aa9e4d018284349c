"""tasks/retry.py as pure functions: the backoff schedule and the retry-or-bury decision, no I/O, no clock."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tasks import Retry
from tasks.retry import (
    JITTER_FRACTION,
    UNKNOWN_JOB_GRACE_S,
    RetryPolicy,
    backoff_delay,
    has_attempts_left,
    unknown_job_run_at,
    validate_backoff,
)

RETRY_MODULE = Path(__file__).resolve().parents[2] / "tasks" / "retry.py"


def delays(policy: RetryPolicy, attempts: int) -> list[float]:
    return [backoff_delay(policy, n) for n in range(1, attempts + 1)]


def test_a_number_doubles_each_attempt() -> None:
    assert delays(RetryPolicy(backoff=5), 5) == [5, 10, 20, 40, 80]


def test_the_doubling_is_capped_by_max_backoff() -> None:
    assert delays(RetryPolicy(backoff=5, max_backoff_s=30), 6) == [5, 10, 20, 30, 30, 30]


def test_the_default_schedule_is_five_seconds_doubled_capped_at_an_hour() -> None:
    policy = RetryPolicy()
    assert (policy.max_attempts, policy.backoff, policy.max_backoff_s, policy.jitter) == (3, 5.0, 3600.0, False)
    assert delays(policy, 3) == [5, 10, 20]
    assert backoff_delay(policy, 30) == 3600


def test_a_float_base_is_kept_exactly() -> None:
    assert delays(RetryPolicy(backoff=0.25), 3) == [0.25, 0.5, 1.0]


def test_zero_retries_at_once() -> None:
    assert delays(RetryPolicy(backoff=0), 4) == [0, 0, 0, 0]


def test_zero_stays_zero_with_jitter() -> None:
    assert backoff_delay(RetryPolicy(backoff=0, jitter=True), 3, rand=lambda: 1.0) == 0


def test_a_list_gives_the_nth_step_and_repeats_the_last() -> None:
    assert delays(RetryPolicy(backoff=[1, 10, 60]), 5) == [1, 10, 60, 60, 60]


def test_a_tuple_works_like_a_list() -> None:
    assert delays(RetryPolicy(backoff=(2, 3)), 3) == [2, 3, 3]


def test_a_list_is_capped_too() -> None:
    assert delays(RetryPolicy(backoff=[1, 500], max_backoff_s=100), 2) == [1, 100]


def test_a_callable_is_asked_with_the_attempt_that_failed() -> None:
    asked: list[int] = []

    def schedule(attempt: int) -> float:
        asked.append(attempt)
        return attempt * 7

    assert delays(RetryPolicy(backoff=schedule), 3) == [7, 14, 21]
    assert asked == [1, 2, 3]


def test_a_callable_is_capped_and_never_negative() -> None:
    assert backoff_delay(RetryPolicy(backoff=lambda n: 10_000, max_backoff_s=60), 1) == 60
    assert backoff_delay(RetryPolicy(backoff=lambda n: -5), 1) == 0


@pytest.mark.parametrize("rand", [0.0, 0.25, 0.5, 0.75, 0.999999])
def test_jitter_stays_within_twenty_percent_either_way(rand: float) -> None:
    # Given a 100 s delay with jitter, When the random source gives any value in [0, 1)
    delay = backoff_delay(RetryPolicy(backoff=100, jitter=True), 1, rand=lambda: rand)

    # Then the delay is within +/-20 % of 100 s, and exactly where the random value puts it
    assert 80 <= delay <= 120
    assert delay == pytest.approx(100 * (1 + JITTER_FRACTION * (2 * rand - 1)))


def test_jitter_reaches_both_bounds() -> None:
    policy = RetryPolicy(backoff=100, jitter=True)
    assert backoff_delay(policy, 1, rand=lambda: 0.0) == pytest.approx(80)
    assert backoff_delay(policy, 1, rand=lambda: 1.0) == pytest.approx(120)
    assert backoff_delay(policy, 1, rand=lambda: 0.5) == pytest.approx(100)


def test_jitter_applies_after_the_cap() -> None:
    # The cap bounds the schedule; jitter then spreads the capped value, so retries of many jobs do not align
    policy = RetryPolicy(backoff=100, max_backoff_s=100, jitter=True)
    assert backoff_delay(policy, 5, rand=lambda: 0.0) == pytest.approx(80)


def test_jitter_with_the_real_random_source_stays_in_bounds() -> None:
    policy = RetryPolicy(backoff=10, jitter=True)
    samples = [backoff_delay(policy, 2) for _ in range(500)]
    assert all(16 <= s <= 24 for s in samples)
    assert len(set(samples)) > 1


def test_without_jitter_the_random_source_is_not_consulted() -> None:
    def forbidden() -> float:
        raise AssertionError("rand() called without jitter")

    assert backoff_delay(RetryPolicy(backoff=3), 2, rand=forbidden) == 6


@pytest.mark.parametrize(
    ("attempt", "max_attempts", "left"),
    [(1, 1, False), (1, 3, True), (2, 3, True), (3, 3, False), (4, 3, False)],
)
def test_attempts_left_counts_the_first_attempt(attempt: int, max_attempts: int, left: bool) -> None:
    assert has_attempts_left(attempt, max_attempts) is left


@pytest.mark.parametrize(
    ("policy", "error", "fix"),
    [
        ({"max_attempts": 0}, ValueError, "max_attempts must be an int >= 1"),
        ({"max_attempts": True}, ValueError, "max_attempts must be an int >= 1"),
        ({"backoff": -0.5}, ValueError, "backoff must be a finite number >= 0"),
        ({"backoff": float("nan")}, ValueError, "backoff must be a finite number >= 0"),
        ({"backoff": (1, float("inf"))}, ValueError, "every backoff step"),
        ({"max_backoff_s": float("nan")}, ValueError, "max_backoff must be >= 0"),
        ({"backoff": [1, "x"]}, ValueError, "every backoff step"),
        ({"backoff": [1, True]}, ValueError, "every backoff step"),
        ({"backoff": {"a": 1}}, TypeError, "backoff must be seconds"),
        ({"max_backoff_s": -1}, ValueError, "max_backoff must be >= 0"),
    ],
)
def test_a_policy_that_cannot_describe_a_schedule_is_refused(
    policy: dict[str, object], error: type[Exception], fix: str
) -> None:
    with pytest.raises(error, match=fix):
        RetryPolicy(**policy)  # type: ignore[arg-type]


def test_an_unbounded_max_backoff_is_allowed() -> None:
    assert backoff_delay(RetryPolicy(backoff=1, max_backoff_s=float("inf")), 11) == 1024


def test_validate_backoff_accepts_every_documented_form() -> None:
    for spec in (0, 5, 2.5, [1, 2], (3,), lambda n: n):
        validate_backoff(spec)  # type: ignore[arg-type]


def test_retry_carries_its_delay_and_refuses_a_negative_one() -> None:
    assert Retry(delay=10).delay_s == 10
    assert Retry().delay_s is None
    assert "10" in str(Retry(delay=10))
    assert str(Retry(reason="rate limited")) == "rate limited"
    for bad in (-1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="finite number of seconds >= 0"):
            Retry(delay=bad)


def test_the_retry_module_imports_nothing_from_the_package() -> None:
    # Pure maths: the module must stand alone (house rule 6)
    tree = ast.parse(RETRY_MODULE.read_text())
    relative = [node for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level > 0]
    absolute = [
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in node.names
        if isinstance(node, ast.Import) and alias.name.startswith("tasks")
    ]
    from_tasks = [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and (n.module or "").startswith("tasks")]
    assert relative == [] and absolute == [] and from_tasks == []


def test_a_job_retried_thousands_of_times_still_gets_a_capped_delay() -> None:
    # 2 ** 1025 does not fit a float: the schedule must not overflow for jobs with very many attempts
    policy = RetryPolicy(backoff=5, max_attempts=100_000)
    assert backoff_delay(policy, 1_030) == 3600
    assert backoff_delay(policy, 99_999) == 3600


def test_an_unbounded_schedule_stays_finite() -> None:
    delay = backoff_delay(RetryPolicy(backoff=1, max_backoff_s=float("inf")), 5_000)
    assert 0 < delay < float("inf")


@pytest.mark.parametrize("value", [float("nan"), float("-inf"), -1.0])
def test_a_callable_that_returns_nonsense_retries_at_once(value: float) -> None:
    # A NaN run_at would be refused by the datastore after the job left "running": never hand one over
    assert backoff_delay(RetryPolicy(backoff=lambda n: value), 1) == 0


def test_a_callable_that_returns_infinity_is_capped() -> None:
    assert backoff_delay(RetryPolicy(backoff=lambda n: float("inf"), max_backoff_s=60), 1) == 60


# --- a job whose name the worker does not know -------------------------------------------------------------------


def test_an_unknown_job_is_looked_at_again_in_2_s_at_first() -> None:
    assert unknown_job_run_at(due_since=1000.0, now=1000.0, grace_s=600) == 1002.0
    assert unknown_job_run_at(due_since=1000.0, now=1006.0, grace_s=600) == 1008.0


def test_the_wait_grows_with_the_jobs_age_up_to_a_minute() -> None:
    assert unknown_job_run_at(due_since=1000.0, now=1040.0, grace_s=600) == 1050.0  # a quarter of its age
    assert unknown_job_run_at(due_since=1000.0, now=1400.0, grace_s=600) == 1460.0  # capped at a minute


def test_the_last_look_falls_on_the_end_of_the_grace_and_after_it_the_job_fails() -> None:
    assert unknown_job_run_at(due_since=1000.0, now=1590.0, grace_s=600) == 1600.0
    assert unknown_job_run_at(due_since=1000.0, now=1600.0, grace_s=600) is None
    assert unknown_job_run_at(due_since=1000.0, now=1000.0, grace_s=0) is None
    assert unknown_job_run_at(due_since=float("nan"), now=1000.0, grace_s=600) is None


def test_with_the_default_grace_a_job_is_looked_at_about_25_times() -> None:
    looks, now = [], 1000.0
    while (following := unknown_job_run_at(due_since=1000.0, now=now, grace_s=UNKNOWN_JOB_GRACE_S)) is not None:
        looks.append(now)
        now = following
    assert 20 <= len(looks) <= 30
    assert now == 1000.0 + UNKNOWN_JOB_GRACE_S
