"""The Redis side of workflows: record fields, the member scripts' calls, and the reads of records.

Each workflow script is ``lua/lib_flow.lua`` and ``lua/workflow_lib.lua`` followed by the transition's own
file (``complete_member``, ``fail_member``, ``cancel_workflow``, ``enqueue_workflow``, ``add_members``): one
file per transition, shared libraries, loaded from package data and called by SHA like the others.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from functools import cache
from typing import Any

from redis.exceptions import NoScriptError

from ...model import ErrorInfo, Lease, NewJob
from ...workflows.records import WorkflowInfo, WorkflowRef, WorkflowSpec, pack_job, workflow_queues
from .calls import _PACK, _ttl_ms
from .observe import metric_keys, sample_args
from .scripts import script_source

#: Entries of the listing index checked (and dropped once their record expired) per workflow sent.
PRUNE = 10

WORKFLOW_SCRIPTS = (
    "complete_member",
    "fail_member",
    "cancel_workflow",
    "enqueue_workflow",
    "add_members",
    "bury_expired_members",
    "complete_members",
)


@cache
def workflow_script(name: str) -> str:
    """The library and the transition ``name``, as one script."""
    return script_source(name, ("lib_flow", "lib_metrics", "workflow_lib"))


class WorkflowScripts:
    """The workflow scripts of one client, called by SHA and loaded again by a server that lost them."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.shas = {name: hashlib.sha1(workflow_script(name).encode()).hexdigest() for name in WORKFLOW_SCRIPTS}

    def load_all(self) -> None:
        for each in WORKFLOW_SCRIPTS:
            self.client.script_load(workflow_script(each))

    def queue(self, pipe: Any, name: str, keys: Sequence[Any], args: Sequence[Any]) -> None:
        """Queue one call on ``pipe`` (the backend's pipeline reloads the scripts of both sets on NOSCRIPT)."""
        pipe.evalsha(self.shas[name], len(keys), *keys, *args)

    def run(self, name: str, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        try:
            return self.client.evalsha(self.shas[name], len(keys), *keys, *args)
        except NoScriptError:
            self.load_all()
            return self.client.evalsha(self.shas[name], len(keys), *keys, *args)


def member_ref(queue: str, job_id: str) -> str:
    """A batch member as its record's ``members`` set names it: a job, or (``queue`` empty) a chain."""
    return f"{queue}\t{job_id}"


def record_fields(spec: WorkflowSpec) -> dict[str, str]:
    """The hash fields of a new record (``created_at`` is written by the script, from its ``now``)."""
    current = member_ref(*spec.members[0]) if spec.kind == "chain" and spec.members else ""
    return {
        "kind": spec.kind,
        "name": spec.name,
        "state": "running",
        "total": str(spec.total),
        "pending": str(spec.total),
        "succeeded": "0",
        "failed": "0",
        "cancelled": "0",
        "allow": "1" if spec.allow_failures else "0",
        "pipe": "1" if spec.pipe else "0",
        "parent": spec.parent,
        "then": pack_job(spec.then),
        "catch": pack_job(spec.catch),
        "finally": pack_job(spec.finally_),
        "on_failure": pack_job(spec.on_failure),
        "ttl_ms": _ttl_ms(spec.record_ttl_s),
        "current": current,
    }


def pack_records(specs: Sequence[WorkflowSpec]) -> str:
    """The ``records`` argument of ``enqueue_workflow`` and ``add_members``."""
    return json.dumps(
        [
            [
                spec.ref.id,
                record_fields(spec),
                [member_ref(q, i) for q, i in spec.members],
                [pack_job(s) for s in spec.steps],
            ]
            for spec in specs
        ]
    )


def pack_jobs(jobs: Sequence[NewJob]) -> str:
    """The ``jobs`` argument: one JSON array of jobs, each an array of six strings as ``pack_job`` writes one."""
    return _PACK.encode(
        [
            [
                job.id,
                job.queue,
                job.payload,
                str(job.max_attempts),
                "" if job.run_at is None else repr(float(job.run_at)),
                job.signature,
            ]
            for job in jobs
        ]
    )


def complete_args(lease: Lease, result: str, *, now: float, ttl_s: float, prefix: str, home: str) -> list[Any]:
    return [lease.job_id, lease.token, repr(now), result, _ttl_ms(ttl_s), prefix, home]


def fail_args(lease: Lease, error: ErrorInfo, *, now: float, prefix: str, home: str) -> list[Any]:
    return [lease.job_id, lease.token, repr(now), error.to_json(), prefix, home]


#: The fields a read of a record asks for, in the order ``info_from_fields`` reads them.
INFO_FIELDS = (
    "kind", "name", "state", "total", "pending", "succeeded", "failed", "cancelled", "created_at", "finished_at",
    "allow", "parent", "error", "current",
)  # fmt: skip


def info_from_fields(ref: WorkflowRef, values: Sequence[str | None]) -> WorkflowInfo | None:
    """The ``WorkflowInfo`` of a record's fields (``INFO_FIELDS``), or ``None`` when it is gone or damaged."""
    row = dict(zip(INFO_FIELDS, values))
    if row["kind"] not in ("batch", "chain") or row["state"] is None:
        return None
    try:
        current = row["current"] or ""
        queue, _, job_id = current.partition("\t")
        return WorkflowInfo(
            ref=ref,
            kind=row["kind"],  # type: ignore[arg-type]
            name=row["name"] or "",
            state=row["state"],  # type: ignore[arg-type]
            total=int(row["total"] or 0),
            pending=int(row["pending"] or 0),
            succeeded=int(row["succeeded"] or 0),
            failed=int(row["failed"] or 0),
            cancelled=int(row["cancelled"] or 0),
            created_at=float(row["created_at"] or 0),
            finished_at=None if row["finished_at"] is None else float(row["finished_at"]),
            allow_failures=row["allow"] == "1",
            parent=row["parent"] or "",
            error=row["error"],
            current=(queue, job_id) if current else None,
        )
    except ValueError:
        return None


class RedisWorkflows:
    """The workflow transitions of ``RedisBackend`` (a mixin: it uses the backend's client, keys and errors)."""

    # ``client``, ``keys``, ``queue_keys`` and ``_errors`` are the backend's own: reached through ``_me``.

    @property
    def _me(self) -> Any:
        return self

    @property
    def _wf_scripts(self) -> WorkflowScripts:
        scripts = self.__dict__.get("_wf_scripts_")
        if scripts is None:
            scripts = self.__dict__["_wf_scripts_"] = WorkflowScripts(self._me.client)
        return scripts

    def _bury_expired_members(self, queues: Sequence[str], *, now: float, limit: int) -> int:
        """Before ``requeue_expired``'s own calls (and in a round trip of its own, so that a server that lost the
        scripts never runs that one without this): bury the expired members whose attempts are spent
        (``bury_expired_members``), their workflows told in the same step. Returns how many."""
        scripts = self._wf_scripts
        keys = self._me.keys

        def send() -> list[Any]:
            pipe = self._me.client.pipeline(transaction=False)
            for queue in queues:
                qk = keys.queue(queue)
                scripts.queue(
                    pipe, "bury_expired_members", [qk.leases, qk.failed], [qk.job_prefix, now, limit, keys.prefix]
                )
            return list(pipe.execute())

        with self._me._errors():
            try:
                replies = send()
            except NoScriptError:
                scripts.load_all()
                replies = send()
        return sum(int(reply) for reply in replies)

    def _index_queues(self, specs: Sequence[WorkflowSpec], jobs: Sequence[NewJob]) -> None:
        """Name the workflow's queues in the queue index before its script runs: the index lies in a slot of its
        own, which a script of the workflow's slot may not touch on a cluster."""
        queues = workflow_queues(specs, jobs)
        if queues:
            with self._me._errors():
                self._me.client.sadd(self._me.keys.queues, *queues)

    def _wf_run(self, name: str, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        with self._me._errors():
            return self._wf_scripts.run(name, keys, args)

    def enqueue_workflow(self, specs: Sequence[WorkflowSpec], jobs: Sequence[NewJob], *, now: float) -> bool:
        home = specs[0].ref.home
        key = self._me.keys.workflow(home, specs[0].ref.id)
        args = [self._me.keys.prefix, home, repr(now), pack_records(specs), pack_jobs(jobs)]
        self._index_queues(specs, jobs)
        stored = bool(self._wf_run("enqueue_workflow", [key], args))
        if stored:
            with self._me._errors():
                index = {f"{home}\t{spec.ref.id}": now for spec in specs if spec.kind == "batch" or not spec.parent}
                self._me.client.zadd(self._me.keys.workflows, index)
                self._prune_index()
        return stored

    def _prune_index(self) -> None:
        """Drop the oldest entries of the listing index whose records expired: each send prunes up to
        ``PRUNE`` of them, so the index stays as long as the records it lists."""
        client, keys = self._me.client, self._me.keys
        oldest = client.zrange(keys.workflows, 0, PRUNE - 1)
        pipe = client.pipeline(transaction=False)
        for entry in oldest:
            home, _, wf_id = entry.partition("\t")
            pipe.exists(keys.workflow(home, wf_id))
        gone = [entry for entry, found in zip(oldest, pipe.execute()) if not found]
        if gone:
            client.zrem(keys.workflows, *gone)

    def complete_member(
        self, lease: Lease, result: str, *, now: float, result_ttl_s: float, workflow: WorkflowRef
    ) -> bool:
        qk = self._me.queue_keys(lease.queue)
        keys = [qk.job(lease.job_id), qk.leases, self._me.keys.workflow(*workflow)]
        args = complete_args(
            lease, result, now=now, ttl_s=result_ttl_s, prefix=self._me.keys.prefix, home=workflow.home
        )
        mkeys, margs = self._member_metrics(lease, now)
        return bool(self._wf_run("complete_member", [*keys, *mkeys], [*args, *margs]))

    def _member_metrics(self, lease: Lease, now: float) -> tuple[list[str], list[Any]]:
        """The metric keys and trailing arguments of a member's outcome script (both empty: metrics off)."""
        mkeys, margs = metric_keys(self._me.keys, lease.queue, now, self._me.record_metrics)
        return mkeys, ([*sample_args(lease, now), *margs] if mkeys else [])

    def complete_members(self, items: Sequence[tuple[Lease, str, float, WorkflowRef]], *, now: float) -> list[bool]:
        """One ``complete_members`` call per run of members of the same queue, all in one round trip on the
        backend's own wire (the worker's batched acknowledgement; each member still moves its workflow)."""
        me, scripts = self._me, self._wf_scripts
        runs: list[tuple[str, list[list[str]]]] = []
        for lease, result, ttl, workflow in items:
            if not runs or runs[-1][0] != lease.queue:
                runs.append((lease.queue, []))
            sample = sample_args(lease, now) if me.record_metrics else []
            runs[-1][1].append([lease.job_id, lease.token, result, _ttl_ms(ttl), workflow.home, workflow.id, *sample])

        def commands() -> list[tuple[Any, ...]]:
            made = []
            for queue, members in runs:
                qk = me.queue_keys(queue)
                mkeys, margs = metric_keys(me.keys, queue, now, me.record_metrics)
                args = [repr(now), qk.job_prefix, me.keys.prefix, _PACK.encode(members), *margs]
                made.append(("EVALSHA", scripts.shas["complete_members"], 1 + len(mkeys), qk.leases, *mkeys, *args))
            return made

        if not items:
            return []
        try:
            replies = me._commands(commands())
        except NoScriptError:
            with me._errors():
                scripts.load_all()
            replies = me._commands(commands())
        return [flag == "1" for reply in replies for flag in reply]

    def fail_member(self, lease: Lease, *, error: ErrorInfo, now: float, workflow: WorkflowRef) -> bool:
        qk = self._me.queue_keys(lease.queue)
        keys = [qk.job(lease.job_id), qk.leases, qk.failed, self._me.keys.workflow(*workflow)]
        args = fail_args(lease, error, now=now, prefix=self._me.keys.prefix, home=workflow.home)
        mkeys, margs = self._member_metrics(lease, now)
        return bool(self._wf_run("fail_member", [*keys, *mkeys], [*args, *margs]))

    def cancel_workflow(self, workflow: WorkflowRef, *, now: float) -> bool:
        keys = [self._me.keys.workflow(*workflow)]
        args = [self._me.keys.prefix, workflow.home, repr(now), workflow.id]
        return bool(self._wf_run("cancel_workflow", keys, args))

    def add_members(
        self,
        batch: WorkflowRef,
        specs: Sequence[WorkflowSpec],
        jobs: Sequence[NewJob],
        members: Sequence[tuple[str, str]],
        *,
        now: float,
    ) -> bool:
        refs = json.dumps([member_ref(q, i) for q, i in members])
        args = [self._me.keys.prefix, batch.home, repr(now), pack_records(specs), pack_jobs(jobs), refs]
        self._index_queues(specs, jobs)
        return bool(self._wf_run("add_members", [self._me.keys.workflow(*batch)], args))

    def workflow_info(self, workflow: WorkflowRef) -> WorkflowInfo | None:
        with self._me._errors():
            values = self._me.client.hmget(self._me.keys.workflow(*workflow), INFO_FIELDS)
        return info_from_fields(workflow, values)

    def workflow_members(self, workflow: WorkflowRef) -> list[tuple[str, str]]:
        with self._me._errors():
            refs = self._me.client.smembers(self._me.keys.workflow(*workflow) + ":members")
        return sorted((ref.partition("\t")[0], ref.partition("\t")[2]) for ref in refs)

    def workflows(self, *, limit: int = 50) -> list[WorkflowInfo]:
        with self._me._errors():
            entries = self._me.client.zrevrange(self._me.keys.workflows, 0, max(limit, 1) * 2)
            found: list[WorkflowInfo] = []
            gone = []
            for entry in entries:
                home, _, wf_id = entry.partition("\t")
                info = self.workflow_info(WorkflowRef(home, wf_id))
                if info is None:
                    gone.append(entry)
                elif len(found) < limit:
                    found.append(info)
            if gone:
                self._me.client.zrem(self._me.keys.workflows, *gone)
        return found
