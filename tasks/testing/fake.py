"""``fake()``: record every dispatch instead of sending it, assert on what was dispatched, run it on demand.

Every way of dispatching lands here while the block runs (``delay``, ``later``, ``on(queue)``,
``with_options(...)``, ``dispatch("name")``, and ``bulk()`` blocks, recorded when they exit), because the fake
takes the backend's place in the producer. The producer still builds each payload: an argument the serializer
cannot encode fails at the dispatch, as it would in production, and what is recorded is what a worker would
receive. ``run_all()`` then runs the recorded jobs through the worker's executor (see ``runner``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from ..config import settings
from ..errors import ConfigurationError
from ..handle import JobHandle
from ..job import Job, make_job
from ..model import JobStatus, NewJob
from ..registry import JobDefinition, lookup
from ..serialization import Serializer, decode_envelope, get_serializer
from .matching import bound_arguments, check_names, matches, show_call, show_match
from .runner import MAX_ATTEMPTS_PER_RUN, FinishedJob, LocalRunner, SkippingClock, diverted

#: Dispatches a failure message lists before it says how many more there were.
SHOWN_DISPATCHES = 20


@dataclass(frozen=True)
class Dispatch:
    """One dispatch the fake recorded, as a worker would receive it (the arguments after the serializer's round
    trip). ``run_at`` is ``None`` for "as soon as possible", else epoch seconds (``later()``)."""

    id: str
    name: str
    queue: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    run_at: float | None
    enqueued_at: float
    max_attempts: int
    timeout_s: float | None
    result_ttl_s: float
    serializer: str

    @property
    def job(self) -> Job[Any, Any] | None:
        """The registered job of that name (``None`` for ``dispatch()`` of a job this process does not know)."""
        definition = lookup(self.name)
        return make_job(definition) if definition is not None else None

    @property
    def handle(self) -> JobHandle[Any]:
        """The handle ``delay()`` returned for this dispatch."""
        return JobHandle(self.id, self.queue)

    @cached_property
    def arguments(self) -> dict[str, Any]:
        """The arguments by parameter name, defaults included (what ``assert_dispatched`` matches against)."""
        definition = lookup(self.name)
        return bound_arguments(definition.func if definition else None, self.args, self.kwargs)

    def __str__(self) -> str:
        when = "" if self.run_at is None else f", due {self.run_at - self.enqueued_at:.1f} s after its dispatch"
        return f"{show_call(self.name, self.arguments)} on {self.queue!r}{when}"


class FakeDispatches:
    """The dispatches recorded by ``fake()``, the assertions on them, and ``run_all()``; thread-safe.

    Stands where the backend would (a ``Destination``): handles of recorded jobs answer ``status()`` from here
    ("queued", then their final state once ``run_all()`` ran them). A dispatch whose ``job_id`` is taken on its
    queue is not recorded, as a datastore would not store it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[Dispatch] = []
        self._runner = LocalRunner()

    @property
    def clock(self) -> SkippingClock:
        """The clock ``run_all()`` runs jobs on: the real time, plus the retry delays it skipped."""
        return self._runner.clock

    # --- where the producer sends (the Destination protocol) ---------------------------------------------------

    def enqueue(self, job: NewJob, *, now: float) -> bool:
        return self.enqueue_many([job], now=now)[0]

    def enqueue_many(self, jobs: Sequence[NewJob], *, now: float) -> list[bool]:
        accepted = []
        for job in jobs:
            record = _record(job)
            taken = self._runner.add(job)
            if taken:
                with self._lock:
                    self._records.append(record)
            accepted.append(taken)
        return accepted

    def status(self, queue: str, job_id: str) -> JobStatus | None:
        return self._runner.status(queue, job_id)

    # --- reading and asserting -------------------------------------------------------------------------------

    def dispatched(self, job: Job[Any, Any] | str | None = None, /, **match: Any) -> list[Dispatch]:
        """The dispatches recorded, oldest first: all, or those of ``job`` whose arguments match ``match``."""
        with self._lock:
            records = list(self._records)
        if job is None:
            return records
        name, definition = _resolve(job)
        check_names(name, definition.func if definition else None, list(match))
        serializer = _serializer(definition)
        return [r for r in records if r.name == name and matches(r.arguments, match, serializer)]

    def assert_dispatched(self, job: Job[Any, Any] | str, /, **match: Any) -> Dispatch:
        """Fail unless ``job`` was dispatched with arguments matching ``match``; returns the first such dispatch."""
        found = self.dispatched(job, **match)
        if not found:
            raise AssertionError(f"expected a dispatch of {_label(job)}{show_match(match)}; {self._seen()}")
        return found[0]

    def assert_not_dispatched(self, job: Job[Any, Any] | str, /, **match: Any) -> None:
        """Fail if ``job`` was dispatched with arguments matching ``match`` (with none given: at all)."""
        found = self.dispatched(job, **match)
        if found:
            raise AssertionError(
                f"expected no dispatch of {_label(job)}{show_match(match)}; found {len(found)}:\n{_listing(found)}"
            )

    def assert_dispatched_times(self, job: Job[Any, Any] | str, times: int, /, **match: Any) -> list[Dispatch]:
        """Fail unless ``job`` was dispatched exactly ``times`` times with arguments matching ``match``."""
        found = self.dispatched(job, **match)
        if len(found) != times:
            raise AssertionError(
                f"expected {times} dispatch(es) of {_label(job)}{show_match(match)}, found {len(found)}; {self._seen()}"
            )
        return found

    def assert_nothing_dispatched(self) -> None:
        """Fail if anything at all was dispatched."""
        if self.dispatched():
            raise AssertionError(f"expected no dispatch at all; {self._seen()}")

    def clear(self) -> None:
        """Forget every dispatch recorded so far (the jobs not run yet are dropped too)."""
        with self._lock:
            self._records.clear()
            self._runner = LocalRunner(self._runner.clock)

    # --- running ---------------------------------------------------------------------------------------------

    def run_all(self, *, raise_errors: bool = True, max_attempts: int = MAX_ATTEMPTS_PER_RUN) -> list[FinishedJob]:
        """Run every recorded job not run yet, through the worker's executor, until none is left.

        Retries run on a clock that skips their delays; jobs dispatched by the jobs are recorded and run too.
        Returns the jobs that finished, in the order they finished. With ``raise_errors`` (the default) the first
        job to fail for good stops the run and its own exception is raised here, so a broken job fails the test;
        pass ``False`` to test failures, and read ``state``, ``error`` and ``exception`` of what is returned.
        """
        with diverted(self):  # what the jobs dispatch is recorded here, even after the ``fake()`` block ended
            return self._runner.run_due(raise_errors=raise_errors, max_attempts=max_attempts)

    def pending(self) -> int:
        """Recorded jobs not finished yet (what ``run_all()`` would run)."""
        return self._runner.pending()

    def _seen(self) -> str:
        records = self.dispatched()
        if not records:
            return "nothing was dispatched"
        return f"dispatched ({len(records)}):\n{_listing(records)}"


def _record(job: NewJob) -> Dispatch:
    """The dispatch as a worker will decode it (the payload was just built by this process, with this secret)."""
    envelope = decode_envelope(job.payload, settings().secret)
    return Dispatch(
        id=envelope.id,
        name=envelope.name,
        queue=envelope.queue,
        args=envelope.args,
        kwargs=envelope.kwargs,
        run_at=envelope.run_at,
        enqueued_at=envelope.enqueued_at,
        max_attempts=envelope.max_attempts,
        timeout_s=envelope.timeout_s,
        result_ttl_s=envelope.result_ttl_s,
        serializer=envelope.serializer,
    )


def _resolve(job: Job[Any, Any] | str) -> tuple[str, JobDefinition | None]:
    if isinstance(job, Job):
        return job.name, job.definition
    if isinstance(job, str):
        return job, lookup(job)
    raise TypeError(f"name a job by its Job or its registered name, not {job!r}")


def _serializer(definition: JobDefinition | None) -> Serializer | None:
    try:
        return get_serializer(definition.serializer if definition else "json", settings().secret)
    except ConfigurationError:  # dill without a secret: nothing was recorded that needs the round trip
        return None


def _label(job: Job[Any, Any] | str) -> str:
    return job.name if isinstance(job, Job) else job


def _listing(records: list[Dispatch]) -> str:
    lines = [f"  {record}" for record in records[:SHOWN_DISPATCHES]]
    if len(records) > SHOWN_DISPATCHES:
        lines.append(f"  ... and {len(records) - SHOWN_DISPATCHES} more")
    return "\n".join(lines)


@contextmanager
def fake() -> Iterator[FakeDispatches]:
    """Record every dispatch of this process (any thread) for the block, instead of sending it."""
    recorder = FakeDispatches()
    with diverted(recorder):
        yield recorder
