"""The pure side of metrics (tasks/observe/series.py): names read from payloads, samples, buckets, and the
stored counters read back, damaged ones included."""

from __future__ import annotations

from tasks.model import Lease
from tasks.observe.series import (
    BUCKETS_S,
    PACKED,
    bucket_of,
    job_name,
    minute_of,
    packed_points,
    points,
    sample,
    sample_values,
)


def lease(payload: str, enqueued_at: float = 100.0, started_at: float = 102.5) -> Lease:
    return Lease("id", "q", "tok", payload, 1, 3, enqueued_at, started_at)


def test_the_job_name_is_read_from_any_payload_without_decoding_it() -> None:
    assert job_name('{"v":1,"id":"a","name":"app.resize","queue":"q"}') == "app.resize"
    assert job_name('{"id": "a", "name" : "spaced.out"}') == "spaced.out"
    assert job_name('{"name":"with \\"quotes\\" inside"}') == 'with \\"quotes\\" inside'
    assert job_name('{"id":"a"}') == "?"


def test_a_sample_times_the_run_and_the_wait_in_whole_milliseconds() -> None:
    item = sample(lease('{"name":"n"}'), now=103.0)
    assert (item.name, item.run_ms, item.wait_ms) == ("n", 500, 2500)
    assert item.bucket == BUCKETS_S.index(0.5)
    assert sample_values(lease('{"name":"n"}'), 103.0) == ["n", 500, 2500, BUCKETS_S.index(0.5)]
    # A clock that went back counts zero, never a negative time
    assert sample_values(lease('{"name":"n"}', enqueued_at=200.0), 90.0)[1:3] == [0, 0]


def test_buckets_and_minutes() -> None:
    assert [bucket_of(s) for s in (0.0, 0.005, 0.0051, 300.0, 301.0)] == [0, 0, 1, 13, 14]
    assert minute_of(1795958459.9) == 1795958400
    assert len(PACKED) == 6 + len(BUCKETS_S) + 1


def test_packed_counters_read_back_and_damage_counts_as_zero() -> None:
    [point] = packed_points("q", 60.0, {"app.x": "3,1,2,0,1200,1500,0,0,4"})
    assert (point.succeeded, point.failed, point.retried, point.cancelled) == (3, 1, 2, 0)
    assert (point.run_s_sum, point.wait_s_sum) == (1.2, 1.5)
    assert point.run_buckets[:3] == (0, 0, 4) and len(point.run_buckets) == len(BUCKETS_S) + 1
    [damaged] = packed_points("q", 60.0, {"app.y": "2,x,,1"})
    assert (damaged.succeeded, damaged.failed, damaged.retried, damaged.run_buckets) == (2, 0, 0, ())


def test_field_counters_read_back_and_unknown_fields_are_skipped() -> None:
    found = points("q", 60.0, {"s:a": "2", "run:a": 30, "h3:a": "2", "f:b:with:colons": "1", "junk": "5", "s:c": "x"})
    by_name = {p.job: p for p in found}
    assert set(by_name) == {"a", "b:with:colons"}
    assert (by_name["a"].succeeded, by_name["a"].run_s_sum, by_name["a"].run_buckets[3]) == (2, 0.03, 2)
    assert by_name["b:with:colons"].failed == 1


def test_a_damaged_enqueue_time_counts_as_a_bounded_wait_never_an_error() -> None:
    # A producer's enqueued_at may be anything a number can be: the sample stays a small, finite count
    year_ms = 31_536_000_000
    for enqueued_at, wait_ms in ((-1e308, year_ms), (float("-inf"), year_ms), (float("nan"), 0), (2e9, 0)):
        damaged = Lease("a", "q", "t", '{"name":"app.x"}', 1, 1, enqueued_at, 1000.0)
        assert sample_values(damaged, 1001.0) == ["app.x", 1000, wait_ms, bucket_of(1.0)]
        assert sample(damaged, 1001.0).wait_ms == wait_ms
