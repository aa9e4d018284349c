"""``chain`` and ``batch``: build a workflow from prepared calls and send it in one atomic step.

Every member, step and callback is encoded here, in the caller (a value that cannot be encoded raises before
anything is sent), with ids fixed now: an outcome that enqueues a step or a callback only has to store it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any, Union

from .. import producer
from ..backends.base import Backend
from ..config import settings
from ..errors import ConfigurationError
from ..job import When, run_at_from
from ..model import NewJob
from .calls import Call
from .handles import BatchHandle, ChainHandle, public_id
from .records import DEFAULT_RECORD_TTL_S, WorkflowRef, WorkflowSpec

Member = Union[Call[Any], "Chain"]


def _backend() -> Backend:
    target = producer.destination()
    if not isinstance(target, Backend):
        raise ConfigurationError("chains and batches need a backend (Redis, SQLite or memory://), not tasks.testing's")
    return target


def _check_slots(backend: Backend, home: str, queues: set[str]) -> None:
    """On Redis Cluster every key of a workflow must share one slot: its members must all use its home queue."""
    if backend.cluster and queues - {home}:
        raise ConfigurationError(
            f"on Redis Cluster a workflow's jobs must all use one queue (home {home!r}; also "
            f"{sorted(queues - {home})}): send them with .on(queue) to one queue"
        )


def _ttl(seconds: float | timedelta) -> float:
    value = seconds.total_seconds() if isinstance(seconds, timedelta) else seconds
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
        raise ValueError(f"keep_for() needs a finite number of seconds > 0, got {seconds!r}")
    return float(value)


@dataclass
class Chain:
    """Steps run one after another: each is enqueued in the transition that records the previous one's success."""

    calls: tuple[Call[Any], ...]
    pipe: bool = False
    name: str = ""
    failure: Call[Any] | None = None
    record_ttl_s: float = DEFAULT_RECORD_TTL_S

    def on_failure(self, call: Call[Any]) -> Chain:
        """Enqueue ``call`` once if a step fails for good; it sees the chain (and its error) via
        ``current_job().chain``."""
        return replace(self, failure=call)

    def keep_for(self, seconds: float | timedelta) -> Chain:
        """Keep the chain's record this long after it ends (default 7 days)."""
        return replace(self, record_ttl_s=_ttl(seconds))

    def delay(self) -> ChainHandle:
        """Send the chain: its first step is ready now."""
        return self._send(None)

    def later(self, when: When, /) -> ChainHandle:
        """Send the chain with its first step due at ``when`` (seconds, a ``timedelta`` or an aware ``datetime``)."""
        return self._send(run_at_from(when, now=time.time()))

    def queues(self) -> set[str]:
        return {c.queue for c in self.calls} | ({self.failure.queue} if self.failure else set())

    def spec(
        self, *, home: str, parent: str, now: float, secret: str | None, run_at: float | None = None
    ) -> tuple[WorkflowSpec, NewJob]:
        ref = WorkflowRef(home, producer.new_job_id())
        steps = [c.build(now=now, secret=secret, workflow=ref, role="m") for c in self.calls[1:]]
        first = self.calls[0].build(now=now, secret=secret, workflow=ref, role="m", run_at=run_at)
        failure = self.failure.build(now=now, secret=secret, workflow=ref, role="c") if self.failure else None
        spec = WorkflowSpec(
            ref=ref,
            kind="chain",
            name=self.name or " -> ".join(c.name for c in self.calls),
            members=((first.queue, first.id),),
            steps=tuple(steps),
            pipe=self.pipe,
            on_failure=failure,
            parent=parent,
            record_ttl_s=self.record_ttl_s,
        )
        return spec, first

    def _send(self, run_at: float | None) -> ChainHandle:
        backend, now, secret = _backend(), time.time(), settings().secret
        home = self.calls[0].queue
        _check_slots(backend, home, self.queues())
        spec, first = self.spec(home=home, parent="", now=now, secret=secret, run_at=run_at)
        backend.enqueue_workflow([spec], [first], now=now)
        return ChainHandle(spec.ref)


def chain(*calls: Call[Any], pipe: bool = False, name: str = "") -> Chain:
    """Steps that run one after another; with ``pipe=True`` each step's return value is the next step's first
    positional argument (prepare those steps with ``prepare_piped``). Arguments are checked here."""
    if not calls:
        raise ValueError("chain() needs at least one prepared call")
    for index, call in enumerate(calls):
        if not isinstance(call, Call):
            raise TypeError(f"chain() takes prepared calls (job.prepare(...)); step {index + 1} is {call!r}")
        call.check(receives=pipe and index > 0)
    if pipe and any(c.options.serializer != "json" for c in calls[1:]):
        raise ConfigurationError("pipe=True passes JSON results: the piped steps must use the json serializer")
    if pipe and settings().secret:
        raise ConfigurationError("pipe=True cannot be used with a signing secret (a piped payload is written late)")
    return Chain(tuple(calls), pipe=pipe, name=name)


@dataclass
class Batch:
    """Members run side by side; callbacks fire once when the outcomes say so (see ``policy.py``)."""

    members: tuple[Member, ...]
    name: str = ""
    callbacks: dict[str, Call[Any]] = field(default_factory=dict)
    allow: bool = False
    record_ttl_s: float = DEFAULT_RECORD_TTL_S

    def then(self, call: Call[Any]) -> Batch:
        """Enqueue ``call`` once when every member succeeded (or, with ``allow_failures()``, ended)."""
        return replace(self, callbacks={**self.callbacks, "then": _checked(call)})

    def catch(self, call: Call[Any]) -> Batch:
        """Enqueue ``call`` once, on the first member failure."""
        return replace(self, callbacks={**self.callbacks, "catch": _checked(call)})

    def finally_(self, call: Call[Any]) -> Batch:
        """Enqueue ``call`` once when the batch ends, whatever happened."""
        return replace(self, callbacks={**self.callbacks, "finally": _checked(call)})

    def allow_failures(self) -> Batch:
        """Keep going when members fail (without it, the first failure cancels the members not yet started)."""
        return replace(self, allow=True)

    def keep_for(self, seconds: float | timedelta) -> Batch:
        """Keep the batch's record this long after it ends (default 7 days)."""
        return replace(self, record_ttl_s=_ttl(seconds))

    def delay(self) -> BatchHandle:
        """Send the batch: its record and every member in one atomic step."""
        backend, now, secret = _backend(), time.time(), settings().secret
        home = home_of(self.members[0])
        ref = WorkflowRef(home, producer.new_job_id())
        specs, jobs, refs = build_members(self.members, ref, now=now, secret=secret)
        later = {job.queue for spec in specs for job in (*spec.steps, spec.on_failure) if job is not None}
        _check_slots(backend, home, {j.queue for j in jobs} | later | {c.queue for c in self.callbacks.values()})
        built = {k: c.build(now=now, secret=secret, workflow=ref, role="c") for k, c in self.callbacks.items()}
        spec = WorkflowSpec(
            ref=ref,
            kind="batch",
            name=self.name,
            members=tuple(refs),
            allow_failures=self.allow,
            then=built.get("then"),
            catch=built.get("catch"),
            finally_=built.get("finally"),
            record_ttl_s=self.record_ttl_s,
        )
        backend.enqueue_workflow([spec, *specs], jobs, now=now)
        return BatchHandle(ref)


def _checked(call: Call[Any]) -> Call[Any]:
    if not isinstance(call, Call):
        raise TypeError(f"a batch callback is a prepared call (job.prepare(...)), not {call!r}")
    call.check()
    return call


def home_of(member: Member) -> str:
    return member.queue if isinstance(member, Call) else member.calls[0].queue


def build_members(
    members: Sequence[Member], batch: WorkflowRef, *, now: float, secret: str | None
) -> tuple[list[WorkflowSpec], list[NewJob], list[tuple[str, str]]]:
    """The records of the chains among ``members``, the jobs to enqueue now, and the members' refs."""
    specs: list[WorkflowSpec] = []
    jobs: list[NewJob] = []
    refs: list[tuple[str, str]] = []
    for member in members:
        if isinstance(member, Chain):
            spec, first = member.spec(home=batch.home, parent=batch.id, now=now, secret=secret)
            specs.append(spec)
            jobs.append(first)
            refs.append(("", spec.ref.id))
        else:
            job = member.build(now=now, secret=secret, workflow=batch, role="m")
            jobs.append(job)
            refs.append((job.queue, job.id))
    return specs, jobs, refs


def batch(members: Sequence[Member], *, name: str = "") -> Batch:
    """Members (prepared calls, or chains) that run side by side, sent as one bulk operation by ``delay()``."""
    members = tuple(members)
    if not members:
        raise ValueError("batch() needs at least one member")
    for index, member in enumerate(members):
        if isinstance(member, Call):
            member.check()
        elif not isinstance(member, Chain):
            raise TypeError(f"batch() takes prepared calls and chains; member {index + 1} is {member!r}")
    return Batch(members, name=name)


def find_batch(batch_id: str) -> BatchHandle | None:
    """The batch of ``batch_id`` (``BatchHandle.id``), or ``None`` once its record expired or never existed."""
    handle = BatchHandle.from_id(batch_id)
    return handle if handle is not None and handle.exists("batch") else None


def find_chain(chain_id: str) -> ChainHandle | None:
    """The chain of ``chain_id`` (``ChainHandle.id``), or ``None`` once its record expired or never existed."""
    handle = ChainHandle.from_id(chain_id)
    return handle if handle is not None and handle.exists("chain") else None


__all__ = ["Batch", "Chain", "batch", "chain", "find_batch", "find_chain", "public_id"]
