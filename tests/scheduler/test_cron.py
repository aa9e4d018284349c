"""Pure tests of tasks.cron: parsing, next fire in a zone across DST, and the misfire maths.

No I/O and no sleeping: every instant is passed in. The dialect is pinned: six fields mean seconds FIRST.
"""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from tasks import cron

pytestmark = pytest.mark.timeout(30)

UTC = timezone.utc
PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")


def at(tz: object, *fields: int, fold: int = 0) -> float:
    """Epoch seconds of a wall-clock time in ``tz``."""
    return datetime(*fields, tzinfo=tz, fold=fold).timestamp()  # type: ignore[arg-type, misc]


def local(instant: float, tz: ZoneInfo | timezone) -> str:
    return datetime.fromtimestamp(instant, tz).isoformat()


def following(expression: str, tz: ZoneInfo | timezone, after: float, count: int) -> list[str]:
    parsed = cron.parse(expression)
    out = []
    for _ in range(count):
        after = cron.next_fire(parsed, tz, after)
        out.append(local(after, tz))
    return out


# --- syntax ------------------------------------------------------------------------------------------------------


def test_six_fields_put_the_seconds_first() -> None:
    # Given "30 * * * * *": second 30 of every minute (croniter's default would read it as minute 30)
    assert following("30 * * * * *", UTC, at(UTC, 2024, 1, 1, 0, 0, 0), 2) == [
        "2024-01-01T00:00:30+00:00",
        "2024-01-01T00:01:30+00:00",
    ]


def test_five_fields_are_standard_cron_with_seconds_at_zero() -> None:
    assert cron.parse("*/15 * * * *").fields == "0 */15 * * * *"
    assert following("*/15 * * * *", UTC, at(UTC, 2024, 1, 1, 0, 0, 1), 2) == [
        "2024-01-01T00:15:00+00:00",
        "2024-01-01T00:30:00+00:00",
    ]


def test_steps_every_two_seconds() -> None:
    assert following("*/2 * * * * *", UTC, at(UTC, 2024, 1, 1, 0, 0, 59) + 0.5, 3) == [
        "2024-01-01T00:01:00+00:00",
        "2024-01-01T00:01:02+00:00",
        "2024-01-01T00:01:04+00:00",
    ]


def test_ranges_lists_and_names() -> None:
    # Given weekdays at 9:00 and 17:30 in January and July; 2024-01-05 is a Friday
    expression = "0 0,30 9,17 * jan,jul mon-fri"
    assert following(expression, UTC, at(UTC, 2024, 1, 5, 17, 0), 4) == [
        "2024-01-05T17:30:00+00:00",
        "2024-01-08T09:00:00+00:00",
        "2024-01-08T09:30:00+00:00",
        "2024-01-08T17:00:00+00:00",
    ]
    # Names are case-insensitive
    assert following("0 0 12 1 JAN,Jul *", UTC, at(UTC, 2024, 1, 2), 2) == [
        "2024-07-01T12:00:00+00:00",
        "2025-01-01T12:00:00+00:00",
    ]


@pytest.mark.parametrize(
    ("alias", "fields"),
    [
        ("@yearly", "0 0 0 1 1 *"),
        ("@annually", "0 0 0 1 1 *"),
        ("@monthly", "0 0 0 1 * *"),
        ("@weekly", "0 0 0 * * 0"),
        ("@daily", "0 0 0 * * *"),
        ("@midnight", "0 0 0 * * *"),
        ("@hourly", "0 0 * * * *"),
        ("@minutely", "0 * * * * *"),
    ],
)
def test_aliases(alias: str, fields: str) -> None:
    assert cron.parse(alias).fields == fields
    assert cron.parse(alias.upper()).fields == fields


def test_daily_in_a_zone_is_midnight_there() -> None:
    # Midnight in Paris is 23:00 UTC in winter, 22:00 UTC in summer
    winter = cron.next_fire(cron.parse("@daily"), PARIS, at(UTC, 2024, 1, 10, 12))
    summer = cron.next_fire(cron.parse("@daily"), PARIS, at(UTC, 2024, 7, 10, 12))
    assert local(winter, UTC) == "2024-01-10T23:00:00+00:00"
    assert local(summer, UTC) == "2024-07-10T22:00:00+00:00"


def test_leap_day() -> None:
    assert following("0 0 0 29 2 *", UTC, at(UTC, 2025, 3, 1), 2) == [
        "2028-02-29T00:00:00+00:00",
        "2032-02-29T00:00:00+00:00",
    ]
    # Every day of February 2024 at noon includes the 29th
    assert following("0 0 12 * 2 *", UTC, at(UTC, 2024, 2, 28, 13), 2) == [
        "2024-02-29T12:00:00+00:00",
        "2025-02-01T12:00:00+00:00",
    ]


def test_ticks_are_strictly_after_and_whole_seconds() -> None:
    parsed = cron.parse("* * * * * *")
    start = at(UTC, 2024, 1, 1)
    assert cron.next_fire(parsed, UTC, start) == start + 1
    assert cron.next_fire(parsed, UTC, start + 0.999) == start + 1
    assert cron.next_fire(parsed, UTC, start - 0.001) == start


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("*/0 * * * * *", "field 1 (second) '*/0'"),
        ("61 * * * * *", "field 1 (second) '61'"),
        ("0 60 * * * *", "field 2 (minute) '60'"),
        ("0 0 x * * *", "field 3 (hour) 'x'"),
        ("0 0 0 32 * *", "field 4 (day of month) '32'"),
        ("0 0 0 * foo *", "field 5 (month) 'foo'"),
        ("0 0 0 * * 8", "field 6 (day of week) '8'"),
        ("* 25 * * *", "field 2 (hour) '25'"),
        ("* * * * 8", "field 5 (day of week) '8'"),
        ("0 0 0 30 2 *", "never fires"),
        ("* * * *", "has 4 fields"),
        ("* * * * * * *", "has 7 fields"),
        ("@reboot", "unknown cron alias"),
        ("", "non-empty"),
    ],
)
def test_a_malformed_expression_names_the_field_and_the_reason(expression: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        cron.parse(expression)
    assert message in str(caught.value)


def test_croniter_reason_is_kept() -> None:
    with pytest.raises(ValueError, match=r"out of range"):
        cron.parse("61 * * * * *")


def test_unknown_zone_names_the_fix() -> None:
    with pytest.raises(ValueError, match="IANA name such as 'Europe/Paris'"):
        cron.zone("Europe/Pariss")
    assert cron.zone("UTC").utcoffset(None) is not None


# --- daylight saving time ----------------------------------------------------------------------------------------


def test_paris_spring_gap_fires_once_at_the_next_valid_instant() -> None:
    # Given 02:30 daily; on 2024-03-31 Paris jumps from 02:00 CET to 03:00 CEST, so 02:30 does not exist
    fires = following("0 30 2 * * *", PARIS, at(PARIS, 2024, 3, 30, 12), 3)
    # Then that day it fires once, at 03:00 CEST (the jump), and at 02:30 again the next day
    assert fires == ["2024-03-31T03:00:00+02:00", "2024-04-01T02:30:00+02:00", "2024-04-02T02:30:00+02:00"]


def test_paris_autumn_overlap_fires_once_at_the_first_occurrence() -> None:
    # Given 02:30 daily; on 2024-10-27 Paris goes back from 03:00 CEST to 02:00 CET: 02:30 happens twice
    fires = following("0 30 2 * * *", PARIS, at(PARIS, 2024, 10, 26, 12), 2)
    assert fires == ["2024-10-27T02:30:00+02:00", "2024-10-28T02:30:00+01:00"]


def test_new_york_spring_gap_and_autumn_overlap() -> None:
    # 2024-03-10: 02:00 EST -> 03:00 EDT; 2024-11-03: 02:00 EDT -> 01:00 EST
    assert following("0 30 2 * * *", NEW_YORK, at(NEW_YORK, 2024, 3, 9, 12), 2) == [
        "2024-03-10T03:00:00-04:00",
        "2024-03-11T02:30:00-04:00",
    ]
    assert following("0 30 1 * * *", NEW_YORK, at(NEW_YORK, 2024, 11, 2, 12), 2) == [
        "2024-11-03T01:30:00-04:00",
        "2024-11-04T01:30:00-05:00",
    ]


def test_several_missing_wall_times_collapse_into_one_firing() -> None:
    # Every 20 minutes in New York across the spring gap: 02:00, 02:20, 02:40 do not exist
    fires = following("0 */20 * * * *", NEW_YORK, at(NEW_YORK, 2024, 3, 10, 1, 30), 4)
    assert fires == [
        "2024-03-10T01:40:00-05:00",
        "2024-03-10T03:00:00-04:00",  # the gap's wall times and 03:00 itself: one firing
        "2024-03-10T03:20:00-04:00",
        "2024-03-10T03:40:00-04:00",
    ]


def test_hourly_in_wall_time_fires_once_per_wall_hour_on_change_days() -> None:
    hourly = cron.parse("0 0 * * * *")
    spring = list(cron.fires(hourly, PARIS, at(PARIS, 2024, 3, 30, 23, 59), at(PARIS, 2024, 3, 31, 23, 59)))
    autumn = list(cron.fires(hourly, PARIS, at(PARIS, 2024, 10, 26, 23, 59), at(PARIS, 2024, 10, 27, 23, 59)))
    # 23 real hours in spring: 02:00 missing maps onto 03:00 and fires once
    assert len(spring) == 23 == len(set(spring))
    # 25 real hours in autumn: the repeated 02:00 fires once
    assert len(autumn) == 24 == len(set(autumn))
    assert [local(t, PARIS)[11:] for t in autumn[1:4]] == ["01:00:00+02:00", "02:00:00+02:00", "03:00:00+01:00"]


def test_inside_the_repeated_hour_the_next_tick_is_after_it() -> None:
    # Given every second, and "now" in the second pass of New York's repeated 01:00-02:00
    second_pass = at(NEW_YORK, 2024, 11, 3, 1, 30, fold=1)
    # Then the next tick is 02:00 EST: wall times of the repeated hour already fired on their first pass
    assert local(cron.next_fire(cron.parse("* * * * * *"), NEW_YORK, second_pass), NEW_YORK) == (
        "2024-11-03T02:00:00-05:00"
    )
    # And in the first pass, ticks go on second by second
    first_pass = at(NEW_YORK, 2024, 11, 3, 1, 59, 59)
    assert local(cron.next_fire(cron.parse("* * * * * *"), NEW_YORK, first_pass - 1), NEW_YORK) == (
        "2024-11-03T01:59:59-04:00"
    )


def test_instant_of_wall_times() -> None:
    gap = cron.instant_of(datetime(2024, 3, 31, 2, 30), PARIS)
    assert local(gap, UTC) == "2024-03-31T01:00:00+00:00"
    overlap = cron.instant_of(datetime(2024, 10, 27, 2, 30), PARIS)
    assert local(overlap, UTC) == "2024-10-27T00:30:00+00:00"


# --- misfire maths -----------------------------------------------------------------------------------------------

MINUTELY = cron.parse("0 * * * * *")
NOON = at(UTC, 2024, 5, 1, 12, 0, 0)
HOUR = 3600.0


def due(misfire: str, *, last: float | None, now: float, since: float | None = None) -> list[str]:
    ticks = cron.due_ticks(MINUTELY, UTC, last=last, now=now, misfire=misfire, since=since)
    return [local(t, UTC)[11:19] for t in ticks]


@pytest.mark.parametrize("misfire", cron.MISFIRE_POLICIES)
def test_on_time_ticks_fire_whatever_the_policy(misfire: str) -> None:
    assert due(misfire, last=NOON - 60, now=NOON + 0.2) == ["12:00:00"]
    assert due(misfire, last=NOON, now=NOON + 0.2) == []
    # A scheduler a few seconds late is late, not missed
    assert due(misfire, last=NOON - 60, now=NOON + cron.MISFIRE_GRACE_S - 0.5) == ["12:00:00"]


def test_after_an_hour_outage_skip_drops_the_missed_ticks() -> None:
    assert due("skip", last=NOON, now=NOON + HOUR + 30) == []
    assert due("skip", last=NOON, now=NOON + HOUR + 60.5) == ["13:01:00"]


def test_after_an_hour_outage_once_fires_one_catch_up() -> None:
    assert due("once", last=NOON, now=NOON + HOUR + 30) == ["13:00:00"]


def test_after_an_hour_outage_all_fires_every_missed_tick() -> None:
    fired = due("all", last=NOON, now=NOON + HOUR + 30)
    assert len(fired) == 60
    assert (fired[0], fired[-1]) == ("12:01:00", "13:00:00")


def test_all_is_capped_at_the_latest_hundred() -> None:
    every_ten = cron.parse("*/10 * * * * *")
    ticks = cron.due_ticks(every_ten, UTC, last=NOON, now=NOON + HOUR + 5, misfire="all")
    # 359 missed ticks (12:00:10 .. 12:59:50) plus 13:00:00, on time: the latest 100 missed and the on-time one
    assert len(ticks) == cron.MAX_CATCH_UP + 1
    assert local(ticks[0], UTC)[11:19] == "12:43:20"
    assert local(ticks[-1], UTC)[11:19] == "13:00:00"
    assert ticks == sorted(set(ticks))


def test_a_long_outage_of_an_every_second_schedule_is_cheap() -> None:
    ticks = cron.due_ticks(cron.parse("* * * * * *"), UTC, last=NOON, now=NOON + 365 * 86400, misfire="all")
    assert len(ticks) == cron.MAX_CATCH_UP + 10


def test_a_new_schedule_has_missed_nothing() -> None:
    assert due("all", last=None, now=NOON + 0.5) == []
    assert due("all", last=None, since=NOON - 1, now=NOON + 0.5) == ["12:00:00"]


def test_an_unknown_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="misfire must be one of 'skip', 'once', 'all'"):
        cron.due_ticks(MINUTELY, UTC, last=None, now=NOON, misfire="never")
