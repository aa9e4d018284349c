"""``cancel``: a waiting job never runs and spends no attempt; a running one is only flagged for abort; ``abort``
ends it ``cancelled``. Atomic against ``reserve``."""

from __future__ import annotations

import threading

from tasks.backends.base import Backend
from tasks.model import ErrorInfo, Lease, Progress
from tests.contract.conftest import Clock, Target, new_job

PAYLOAD = '{"v":1,"id":"x","name":"app.resize","queue":"q","result_ttl":600}'


def test_a_queued_job_is_cancelled_and_never_reserved(backend: Backend, clock: Clock) -> None:
    # Given two queued jobs
    backend.enqueue_many([new_job("q", "a", now=clock()), new_job("q", "b", now=clock())], now=clock())

    # When the first is cancelled
    assert backend.cancel("q", "a", now=clock()) == "cancelled"

    # Then only the other is reserved, and the cancelled one keeps its record, with no attempt spent
    leases = backend.reserve(["q"], worker_id="w", now=clock(), lease_s=30, count=5)
    assert [lease.job_id for lease in leases] == ["b"]
    info = backend.job_info("q", "a")
    assert info is not None
    assert (info.state, info.attempts, info.finished_at) == ("cancelled", 0, clock())
    assert backend.queue_stats("q").ready == 0


def test_scheduled_and_retrying_jobs_are_cancelled_and_never_promoted(backend: Backend, clock: Clock) -> None:
    # Given a delayed job and one waiting for its retry
    backend.enqueue(new_job("q", "later", now=clock(), run_at=clock() + 60), now=clock())
    backend.enqueue(new_job("q", "flaky", now=clock()), now=clock())
    [lease] = backend.reserve(["q"], worker_id="w", now=clock(), lease_s=30)
    backend.retry(lease, run_at=clock() + 30, error=ErrorInfo("E", "m"), now=clock())

    # When both are cancelled
    assert backend.cancel("q", "later", now=clock()) == "cancelled"
    assert backend.cancel("q", "flaky", now=clock()) == "cancelled"

    # Then neither comes back when due, and the retried one keeps its attempt count (no retry follows)
    clock.advance(120)
    assert backend.reserve(["q"], worker_id="w", now=clock(), lease_s=30, count=5) == []
    assert backend.queue_stats("q").scheduled == 0
    assert backend.next_due(["q"]) is None
    assert backend.status("q", "flaky").attempts == 1  # type: ignore[union-attr]


def test_a_running_job_is_left_alone_unless_an_abort_is_asked(backend: Backend, clock: Clock) -> None:
    # Given a running job
    backend.enqueue(new_job("q", "a", now=clock()), now=clock())
    [lease] = backend.reserve(["q"], worker_id="w", now=clock(), lease_s=30)

    # When a plain cancel comes, Then nothing is done and no abort is flagged
    assert backend.cancel("q", "a", now=clock()) == "running"
    assert backend.aborts_requested([lease]) == [False]

    # When an abort is asked, Then the job's lease holder sees it, and a stale lease does not
    assert backend.cancel("q", "a", now=clock(), abort=True) == "abort_requested"
    stale = Lease(**{**lease.__dict__, "token": "stale"})
    assert backend.aborts_requested([lease, stale]) == [True, False]
    assert backend.status("q", "a").state == "running"  # type: ignore[union-attr]

    # And the worker's abort ends it cancelled, out of the running set; a second abort is refused
    assert backend.abort(lease, now=clock())
    assert backend.status("q", "a").state == "cancelled"  # type: ignore[union-attr]
    assert backend.queue_stats("q").running == 0
    assert not backend.abort(lease, now=clock())
    assert not backend.complete(lease, "1", now=clock(), result_ttl_s=60)


def test_ended_and_unknown_jobs_are_not_touched(backend: Backend, clock: Clock) -> None:
    backend.enqueue(new_job("q", "a", now=clock()), now=clock())
    [lease] = backend.reserve(["q"], worker_id="w", now=clock(), lease_s=30)
    backend.complete(lease, "7", now=clock(), result_ttl_s=60)

    assert backend.cancel("q", "a", now=clock(), abort=True) == "finished"
    assert backend.status("q", "a").result == "7"  # type: ignore[union-attr]
    assert backend.cancel("q", "nope", now=clock()) == "unknown"
    assert backend.cancel("q", "a", now=clock()) == "finished"


def test_a_cancelled_id_is_a_final_state_a_second_cancel_reports(backend: Backend, clock: Clock) -> None:
    backend.enqueue(new_job("q", "a", now=clock()), now=clock())
    assert backend.cancel("q", "a", now=clock()) == "cancelled"
    assert backend.cancel("q", "a", now=clock()) == "finished"


def test_cancel_races_reserve_and_exactly_one_wins_each_job(target: Target, clock: Clock) -> None:
    # Given 200 queued jobs, and two threads on their own connections
    backend = target.open()
    ids = [f"j{i}" for i in range(200)]
    backend.enqueue_many([new_job("q", i, now=clock()) for i in ids], now=clock())
    taken: list[str] = []
    answers: dict[str, str] = {}

    def reserve_all() -> None:
        mine = target.open()
        while True:
            leases = mine.reserve(["q"], worker_id="w", now=clock(), lease_s=30, count=3)
            if not leases and mine.queue_stats("q").ready == 0:
                break
            taken.extend(lease.job_id for lease in leases)
        mine.close()

    def cancel_all() -> None:
        mine = target.open()
        for job_id in ids:
            answers[job_id] = mine.cancel("q", job_id, now=clock())
        mine.close()

    # When one takes jobs while the other cancels every one
    threads = [threading.Thread(target=reserve_all), threading.Thread(target=cancel_all)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    # Then each job was either cancelled before it was taken, or taken and found running: never both, never neither
    cancelled = {i for i, answer in answers.items() if answer == "cancelled"}
    assert cancelled.isdisjoint(taken)
    assert cancelled | set(taken) == set(ids)
    assert {answers[i] for i in taken} <= {"running"}
    backend.close()


def test_progress_is_written_to_a_running_job_only(backend: Backend, clock: Clock) -> None:
    # Given a running job and a queued one
    backend.enqueue(new_job("q", "a", now=clock(), payload=PAYLOAD), now=clock())
    backend.enqueue(new_job("q", "b", now=clock()), now=clock())
    backend.reserve(["q"], worker_id="w", now=clock(), lease_s=30)

    # When each says how far it is
    said = Progress(0.4, "resized 4 of 10", clock())
    assert backend.set_progress("q", "a", said)
    assert not backend.set_progress("q", "b", said)
    assert not backend.set_progress("q", "gone", said)

    # Then only the running one's is kept, and a later report replaces it
    assert backend.job_info("q", "a").progress == said  # type: ignore[union-attr]
    assert backend.job_info("q", "b").progress is None  # type: ignore[union-attr]
    assert backend.job_info("q", "gone") is None
    later = Progress(1.0, "", clock() + 1)
    backend.set_progress("q", "a", later)
    assert backend.job_info("q", "a").progress == later  # type: ignore[union-attr]


def test_aborts_are_read_for_the_jobs_of_many_queues_at_once(backend: Backend, clock: Clock) -> None:
    # Given a worker holding jobs of three queues (each queue its own slot on a cluster), one of them aborted
    queues = ("emails", "reports", "thumbnails")
    for queue in queues:
        backend.enqueue(new_job(queue, f"{queue}-1", now=clock()), now=clock())
    leases = backend.reserve(list(queues), worker_id="w", now=clock(), lease_s=30, count=3)
    assert backend.cancel("reports", "reports-1", now=clock(), abort=True) == "abort_requested"

    # Then one read answers for all of them, in the order asked
    assert backend.aborts_requested(leases[::-1]) == [False, True, False]
