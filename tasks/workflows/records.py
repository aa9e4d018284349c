"""What the datastore keeps of a workflow (a batch or a chain), and how a member job names its workflow.

A workflow record lives beside its members: under the hash tag of its *home* queue (the first member's queue),
so that on Redis every key a member transition touches shares one slot when the members share one queue. A
member's payload ends with a marker, ``"wf":[home, workflow id, role]``, that the worker reads to choose the
member transitions; a job without it (every plain job) pays nothing but a ``rfind``.

Roles: ``m`` a member (its outcome moves the workflow), ``c`` a callback (``then``/``catch``/``finally_``/
``on_failure``: it only sees its workflow through ``current_job()``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

from ..model import NewJob

WorkflowKind = Literal["batch", "chain"]
#: The states of a workflow: running until its last member ends, then how it ended.
WorkflowState = Literal["running", "cancelled", "succeeded", "failed"]

#: How long a finished record is kept by default (7 days): long enough to look at, never without bound.
DEFAULT_RECORD_TTL_S = 7 * 86400.0

#: The text that opens a member's marker at the end of its payload.
MARKER = ',"wf":['


class WorkflowRef(NamedTuple):
    """Where a workflow record lives: its home queue (the hash tag) and its id."""

    home: str
    id: str


class MemberRef(NamedTuple):
    """The workflow a job belongs to, and as what (``m`` member, ``c`` callback)."""

    workflow: WorkflowRef
    role: str


def add_marker(payload: str, ref: WorkflowRef, role: str) -> str:
    """``payload`` (a JSON object as the producer writes it) with the member marker as its last field."""
    if not payload.endswith("}"):
        raise ValueError("a workflow member's payload must be a JSON object")
    return payload[:-1] + MARKER + json.dumps([ref.home, ref.id, role], separators=(",", ":"))[1:] + "}"


def member_of(payload: str) -> MemberRef | None:
    """The marker at the end of ``payload``, or ``None`` for a job that belongs to no workflow."""
    start = payload.rfind(MARKER)
    if start < 0 or not payload.endswith("]}"):
        return None
    try:
        home, wf_id, role = json.loads(payload[start + len(MARKER) - 1 : -1])
    except (ValueError, TypeError):
        return None
    if not (isinstance(home, str) and isinstance(wf_id, str) and role in ("m", "c")):
        return None
    return MemberRef(WorkflowRef(home, wf_id), role)


def workflow_member(payload: str) -> WorkflowRef | None:
    """The workflow whose outcome this job's outcome moves (role ``m``), or ``None``: the worker's one test, made
    on every outcome it writes, so it first looks at the payload's last two characters."""
    if not payload.endswith("]}"):
        return None
    ref = member_of(payload)
    return ref.workflow if ref is not None and ref.role == "m" else None


@dataclass(frozen=True)
class WorkflowSpec:
    """A workflow record as ``Backend.enqueue_workflow`` writes it.

    ``members`` names what the workflow waits for: ``(queue, job id)`` of a job, or ``("", chain id)`` of a chain
    (a batch member). ``steps`` are a chain's members after the first, enqueued one by one as each succeeds.
    ``parent`` is the batch a chain belongs to. Callbacks are built (ids fixed) when the workflow is sent, so an
    outcome that fires one only has to enqueue it.
    """

    ref: WorkflowRef
    kind: WorkflowKind
    name: str
    members: tuple[tuple[str, str], ...]
    steps: tuple[NewJob, ...] = ()
    pipe: bool = False
    allow_failures: bool = False
    then: NewJob | None = None
    catch: NewJob | None = None
    finally_: NewJob | None = None
    on_failure: NewJob | None = None
    parent: str = ""
    record_ttl_s: float = DEFAULT_RECORD_TTL_S
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """How many outcomes the workflow waits for: its members, or a chain's steps."""
        return len(self.members) + len(self.steps)


def workflow_queues(specs: Sequence[WorkflowSpec], jobs: Sequence[NewJob]) -> set[str]:
    """Every queue a workflow may put a job in: its first jobs', its later steps' and its callbacks'."""
    later = (job for spec in specs for job in (*spec.steps, spec.then, spec.catch, spec.finally_, spec.on_failure))
    return {job.queue for job in (*jobs, *later) if job is not None}


@dataclass(frozen=True)
class WorkflowInfo:
    """What the datastore knows of one workflow: its counters, times and state."""

    ref: WorkflowRef
    kind: WorkflowKind
    name: str
    state: WorkflowState
    total: int
    pending: int
    succeeded: int
    failed: int
    cancelled: int
    created_at: float
    finished_at: float | None
    allow_failures: bool = False
    parent: str = ""
    error: str | None = None
    current: tuple[str, str] | None = None

    @property
    def finished(self) -> bool:
        return self.finished_at is not None


def pack_job(job: NewJob | None) -> str:
    """A job as one JSON array (id, queue, payload, max_attempts, run_at or '', signature), or '' for none."""
    if job is None:
        return ""
    run_at = "" if job.run_at is None else repr(float(job.run_at))
    return json.dumps([job.id, job.queue, job.payload, str(job.max_attempts), run_at, job.signature])


def unpack_job(text: str, *, now: float) -> NewJob | None:
    """The job ``pack_job`` wrote, enqueued at ``now``; ``None`` for ''."""
    if not text:
        return None
    job_id, queue, payload, max_attempts, run_at, signature = json.loads(text)
    due = float(run_at) if run_at else None
    return NewJob(job_id, queue, payload, int(max_attempts), now, due, signature)
