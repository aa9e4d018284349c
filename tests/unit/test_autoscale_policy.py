"""The autoscaling policy, pure: grow when the oldest ready job waits too long, shrink after quiet, bounded."""

from __future__ import annotations

import math

import pytest

from tasks.errors import ConfigurationError
from tasks.worker.autoscale import Autoscaler, AutoscaleSettings

SETTINGS = AutoscaleSettings(2, 16, target_wait_s=1.0, quiet_s=30.0, cooldown_s=10.0)


def test_a_pool_starts_at_its_minimum_and_grows_by_doubling_up_to_its_maximum() -> None:
    scaler = Autoscaler(SETTINGS, now=0.0)
    assert scaler.size == 2
    sizes = []
    for step in range(6):
        decision = scaler.observe(now=10.0 * step, oldest_wait_s=5.0)
        sizes.append(decision.size if decision else None)
    assert sizes == [4, 8, 16, None, None, None]
    assert scaler.size == 16


def test_the_first_growth_names_the_wait_that_caused_it() -> None:
    decision = Autoscaler(SETTINGS, now=0.0).observe(now=0.0, oldest_wait_s=2.5)
    assert decision is not None
    assert (decision.previous, decision.size) == (2, 4)
    assert "2.5 s > 1 s" in decision.reason


def test_no_change_comes_within_a_cooldown_of_the_last() -> None:
    scaler = Autoscaler(SETTINGS, now=0.0)
    assert scaler.observe(now=0.0, oldest_wait_s=5.0) is not None
    assert scaler.observe(now=9.9, oldest_wait_s=5.0) is None
    assert scaler.observe(now=10.0, oldest_wait_s=5.0) is not None


def test_jobs_waiting_less_than_the_target_change_nothing() -> None:
    scaler = Autoscaler(SETTINGS, now=0.0)
    scaler.observe(now=0.0, oldest_wait_s=5.0)  # 4
    for t in range(10, 200, 5):
        assert scaler.observe(now=float(t), oldest_wait_s=0.5) is None
    assert scaler.size == 4


def test_quiet_shrinks_one_process_per_cooldown_after_the_quiet_period_down_to_the_minimum() -> None:
    # Given a pool grown to 8
    scaler = Autoscaler(SETTINGS, now=0.0)
    scaler.observe(now=0.0, oldest_wait_s=5.0)
    scaler.observe(now=10.0, oldest_wait_s=5.0)
    assert scaler.size == 8
    # When nothing is in line from t=20 on
    changes = [(t, d.size) for t in range(20, 200) if (d := scaler.observe(now=float(t), oldest_wait_s=None))]
    # Then it shrinks after 30 s of quiet, then one more each 10 s, and stops at the minimum
    assert changes == [(50, 7), (60, 6), (70, 5), (80, 4), (90, 3), (100, 2)]


def test_a_job_in_line_restarts_the_quiet_period() -> None:
    scaler = Autoscaler(SETTINGS, now=0.0)
    scaler.observe(now=0.0, oldest_wait_s=5.0)  # 4
    assert scaler.observe(now=25.0, oldest_wait_s=None) is None
    assert scaler.observe(now=29.0, oldest_wait_s=0.1) is None  # something in line, within the target
    assert scaler.observe(now=50.0, oldest_wait_s=None) is None  # quiet only since 50
    decision = scaler.observe(now=80.0, oldest_wait_s=None)
    assert decision is not None and decision.size == 3 and "30 s" in decision.reason


def test_a_pool_at_its_bounds_stays_there() -> None:
    fixed = Autoscaler(AutoscaleSettings(3, 3, cooldown_s=0, quiet_s=0), now=0.0)
    assert fixed.observe(now=1.0, oldest_wait_s=100.0) is None
    assert fixed.observe(now=2.0, oldest_wait_s=None) is None
    assert fixed.size == 3


@pytest.mark.parametrize("bounds", ["0,4", "5,4", "4", "a,b", "1,2,3", ""])
def test_bad_bounds_are_refused_with_the_form_to_use(bounds: str) -> None:
    with pytest.raises(ConfigurationError, match="MIN,MAX"):
        AutoscaleSettings.parse(bounds)


@pytest.mark.parametrize("value", [-1.0, math.nan, math.inf])
def test_bad_timings_are_refused(value: float) -> None:
    with pytest.raises(ConfigurationError, match="seconds"):
        AutoscaleSettings(1, 2, target_wait_s=value)
    with pytest.raises(ConfigurationError, match="seconds"):
        AutoscaleSettings(1, 2, check_s=0.0)


def test_parse_reads_min_and_max_and_keeps_the_timings() -> None:
    assert AutoscaleSettings.parse("2,16", target_wait_s=0.5) == AutoscaleSettings(2, 16, target_wait_s=0.5)
