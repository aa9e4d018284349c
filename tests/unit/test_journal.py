"""The journal of outcomes a worker process computed but has not written: read by its supervisor after a death."""

from __future__ import annotations

import multiprocessing
import os
import struct
from typing import Any

import pytest

from tasks.model import Completed, Dead, Deferred, ErrorInfo, Lease, Outcome, RetryAt
from tasks.worker.journal import OutcomeJournal
from tasks.worker.ledger import Ledger, NoEvents

SPAWN = multiprocessing.get_context("spawn")
ERROR = ErrorInfo("ValueError", "boom", "Traceback ...")


def lease(job_id: str, token: str = "t1") -> Lease:
    return Lease(job_id, "q", token, "", 1, 3, 0.0, 0.0)


def test_each_kind_of_outcome_reads_back_by_job_and_token() -> None:
    journal = OutcomeJournal(SPAWN)
    outcomes: dict[str, Outcome] = {
        "a": Completed('{"total": 5}', 3600.0),
        "b": RetryAt(1_800_000_000.5, ERROR),
        "c": Dead(ErrorInfo("Fail", "card declined")),
        "d": Completed('"caf\u00e9 \udcff"', 60.0),  # non-ASCII, and bytes a tolerant read kept as escapes
        "e": Deferred(1_800_000_002.25, "no job named 'billing.charge' here"),
    }
    for job_id, outcome in outcomes.items():
        assert journal.append(lease(job_id), outcome)
    assert journal.read() == {(job_id, "t1"): outcome for job_id, outcome in outcomes.items()}


def test_an_outcome_of_another_lease_of_the_same_job_is_told_apart_by_its_token() -> None:
    journal = OutcomeJournal(SPAWN)
    journal.append(lease("a", "old"), Completed("1", 60))
    assert ("a", "new") not in journal.read()


def test_clear_forgets_every_record() -> None:
    journal = OutcomeJournal(SPAWN)
    journal.append(lease("a"), Completed("1", 60))
    journal.clear()
    assert journal.read() == {}
    journal.append(lease("b"), Completed("2", 60))
    assert list(journal.read()) == [("b", "t1")]


def test_a_record_cut_short_by_a_death_is_left_out_and_the_ones_before_it_kept() -> None:
    # Given one whole record, then the bytes of a second written but its end offset not yet stored
    journal = OutcomeJournal(SPAWN)
    journal.append(lease("a"), Completed("1", 60))
    (end,) = struct.unpack_from("<Q", journal._memory(), 0)
    journal.append(lease("b"), Completed("2", 60))
    struct.pack_into("<Q", journal._memory(), 0, end)  # as if the process died just before the last store

    assert list(journal.read()) == [("a", "t1")]


def test_an_outcome_that_does_not_fit_is_not_kept_and_the_others_are() -> None:
    journal = OutcomeJournal(SPAWN, size=200)
    assert journal.append(lease("a"), Completed("1", 60))
    assert not journal.append(lease("b"), Completed("x" * 500, 60))
    assert list(journal.read()) == [("a", "t1")]


def _append_then_die(journal: OutcomeJournal) -> None:
    journal.append(lease("a"), Completed('"done"', 60))
    journal.append(lease("b"), RetryAt(5.0, ERROR))
    os._exit(1)


@pytest.mark.timeout(30)
def test_what_a_process_appended_before_it_died_is_read_by_its_parent() -> None:
    journal = OutcomeJournal(SPAWN)
    process = SPAWN.Process(target=_append_then_die, args=(journal,))
    process.start()
    process.join(20)
    assert process.exitcode == 1
    assert journal.read() == {("a", "t1"): Completed('"done"', 60), ("b", "t1"): RetryAt(5.0, ERROR)}


class Recorder(NoEvents):
    """Events that note the journal's calls (made under the ledger's lock)."""

    def __init__(self) -> None:
        self.calls: list[Any] = []

    def computed(self, lease: Lease, outcome: Outcome) -> None:
        self.calls.append(("computed", lease.job_id))

    def drained(self) -> None:
        self.calls.append("drained")


def test_the_ledger_journals_each_outcome_and_clears_only_once_every_outcome_is_written() -> None:
    events = Recorder()
    ledger = Ledger(events)
    a, b = lease("a"), lease("b")
    ledger.reserved([a, b])
    ledger.finished(a, Completed("1", 60))
    ledger.finished(b, Completed("2", 60))
    assert events.calls == [("computed", "a"), ("computed", "b")]

    ledger.settle([a], [True])  # b's outcome is still unwritten: its record must stay
    assert "drained" not in events.calls
    ledger.settle([b], [True])
    assert events.calls[-1] == "drained"
