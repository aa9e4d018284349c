"""``BatchHandle`` and ``ChainHandle``: follow, wait for, cancel and extend a workflow after it was sent.

A workflow's public id is its record id and its home queue, ``<32 hex digits>.<queue>``: the id alone finds the
record (``find_batch(id)``) with no index to search.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..backends.base import Backend
from ..config import settings
from ..errors import JobFailed
from ..serialization import JSON, get_serializer
from .records import WorkflowInfo, WorkflowKind, WorkflowRef

if TYPE_CHECKING:
    from .api import Member

#: How often ``wait()`` looks, growing from the first value to the last.
_POLL_FIRST_S, _POLL_MAX_S = 0.01, 0.25
_HEX_ID = 32


def public_id(ref: WorkflowRef) -> str:
    return f"{ref.id}.{ref.home}"


def parse_id(text: str) -> WorkflowRef | None:
    """The ref of a public id, or ``None`` for text that is not one."""
    if len(text) <= _HEX_ID + 1 or text[_HEX_ID] != "." or not all(c in "0123456789abcdef" for c in text[:_HEX_ID]):
        return None
    return WorkflowRef(text[_HEX_ID + 1 :], text[:_HEX_ID])


def _backend() -> Backend:
    from .api import _backend

    return _backend()


@dataclass(frozen=True)
class BatchProgress:
    """Where a batch (or a chain: its steps) stands. ``percent`` counts the members that ended."""

    total: int
    pending: int
    succeeded: int
    failed: int
    cancelled: int
    percent: float
    created_at: float
    finished_at: float | None
    state: str = "running"
    name: str = ""

    @classmethod
    def of(cls, info: WorkflowInfo) -> BatchProgress:
        done = info.total - info.pending
        percent = 100.0 if info.total == 0 else round(100.0 * done / info.total, 2)
        return cls(
            info.total,
            info.pending,
            info.succeeded,
            info.failed,
            info.cancelled,
            percent,
            info.created_at,
            info.finished_at,
            info.state,
            info.name,
        )

    @property
    def finished(self) -> bool:
        return self.finished_at is not None


class _Handle:
    kind: WorkflowKind = "batch"

    def __init__(self, ref: WorkflowRef) -> None:
        self.ref = ref
        self.id = public_id(ref)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(id={self.id!r})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.ref == self.ref

    def __hash__(self) -> int:
        return hash(self.ref)

    @classmethod
    def from_id(cls, text: str) -> Any:
        ref = parse_id(text)
        return None if ref is None else cls(ref)

    def exists(self, kind: WorkflowKind) -> bool:
        info = _backend().workflow_info(self.ref)
        return info is not None and info.kind == kind

    def info(self) -> WorkflowInfo:
        info = _backend().workflow_info(self.ref)
        if info is None:
            raise LookupError(f"{self.kind} {self.id} is unknown (never sent, or its record expired)")
        return info

    def progress(self) -> BatchProgress:
        """The counters now: total, pending, succeeded, failed, cancelled, percent, times."""
        return BatchProgress.of(self.info())

    def wait(self, timeout: float | None = None) -> BatchProgress:
        """Block until the workflow ends (every member ended); ``TimeoutError`` after ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        pause = _POLL_FIRST_S
        while True:
            progress = self.progress()
            if progress.finished:
                return progress
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"{self.kind} {self.id} is still running after {timeout} s: {progress}")
            time.sleep(pause if deadline is None else min(pause, max(0.0, deadline - time.monotonic())))
            pause = min(pause * 2, _POLL_MAX_S)

    def cancelled(self) -> bool:
        """Whether the workflow was cancelled (a running member may poll this and stop early)."""
        return self.info().state == "cancelled"


class BatchHandle(_Handle):
    """A batch that was sent: ``progress()``, ``wait()``, ``results()``, ``cancel()``, ``add()``."""

    kind: WorkflowKind = "batch"

    def cancel(self) -> bool:
        """Cancel the batch: members not yet started never run (state ``cancelled``), running ones finish;
        ``finally_`` fires once none is left. ``False`` when it had ended or was cancelled already."""
        return _backend().cancel_workflow(self.ref, now=time.time())

    def add(self, members: Sequence[Member]) -> None:
        """More members for this running batch, sent in one atomic step (also from inside a member:
        ``current_job().batch.add([...])``); ``RuntimeError`` once the batch ended or was cancelled."""
        from ..config import settings
        from .api import _check_slots, batch, build_members

        built = batch(members)  # checks the members
        now = time.time()
        backend = _backend()
        specs, jobs, refs = build_members(built.members, self.ref, now=now, secret=settings().secret)
        _check_slots(backend, self.ref.home, {job.queue for job in jobs})
        if not backend.add_members(self.ref, specs, jobs, refs, now=now):
            raise RuntimeError(f"batch {self.id} is not running (it ended or was cancelled): nothing was added")

    def results(self) -> dict[str, Any]:
        """``{job id: result}`` of the members that succeeded (a chain member: its last step's result, under the
        chain's id)."""
        backend = _backend()
        found: dict[str, Any] = {}
        for queue, member_id in backend.workflow_members(self.ref):
            if queue:
                value = _result(backend, queue, member_id)
                key = member_id
            else:
                chain = ChainHandle(WorkflowRef(self.ref.home, member_id))
                value, key = chain._last_result(backend), chain.id
            if value is not _MISSING:
                found[key] = value
        return found


class ChainHandle(_Handle):
    """A chain that was sent: ``progress()`` (its steps), ``wait()``, ``error()``, ``result()``."""

    kind: WorkflowKind = "chain"

    def cancel(self) -> bool:
        """Cancel the chain: a step not yet started never runs and the chain ends now (its batch counts it
        cancelled); a step already running finishes, no later step starts. ``False`` when it had ended."""
        return _backend().cancel_workflow(self.ref, now=time.time())

    def error(self) -> dict[str, str] | None:
        """The error of the step that ended the chain (type, message, traceback), or ``None``."""
        text = self.info().error
        return None if not text else dict(json.loads(text))

    def result(self) -> Any:
        """The last step's result once the chain succeeded; ``JobFailed`` when it failed, ``LookupError`` else."""
        info = self.info()
        if info.state == "failed":
            error = self.error() or {}
            raise JobFailed(self.id, error.get("type", ""), error.get("message", ""), error.get("traceback", ""))
        value = self._last_result(_backend()) if info.state == "succeeded" else _MISSING
        if value is _MISSING:
            raise LookupError(f"chain {self.id} has no result ({info.state})")
        return value

    def _last_result(self, backend: Backend) -> Any:
        info = backend.workflow_info(self.ref)
        if info is None or info.state != "succeeded" or info.current is None:
            return _MISSING
        return _result(backend, *info.current)

    @property
    def batch(self) -> BatchHandle | None:
        """The batch this chain is a member of, or ``None``."""
        parent = self.info().parent
        return BatchHandle(WorkflowRef(self.ref.home, parent)) if parent else None


_MISSING: Any = object()


def _result(backend: Backend, queue: str, job_id: str) -> Any:
    status = backend.status(queue, job_id)
    if status is None or status.state != "succeeded" or status.result is None:
        return _MISSING
    dill = status.payload is not None and '"serializer":"dill"' in status.payload
    return get_serializer("dill", settings().secret).loads(status.result) if dill else JSON.loads(status.result)


def chain_of(payload: str) -> ChainHandle | None:
    """The chain a job's payload names it a step (or callback) of, or ``None``."""
    from .records import member_of

    ref = member_of(payload)
    if ref is None:
        return None
    info = _backend().workflow_info(ref.workflow)
    return ChainHandle(ref.workflow) if info is not None and info.kind == "chain" else None


def batch_of(payload: str) -> BatchHandle | None:
    """The batch a job's payload names it a member (or callback) of, directly or through its chain; or ``None``."""
    from .records import member_of

    ref = member_of(payload)
    if ref is None:
        return None
    info = _backend().workflow_info(ref.workflow)
    if info is None:
        return None
    if info.kind == "batch":
        return BatchHandle(ref.workflow)
    return BatchHandle(WorkflowRef(ref.workflow.home, info.parent)) if info.parent else None
