"""The ONLY place Redis key strings are built (a golden test in tests/ pins this layout; docs/protocol.md shows it).

Every key of a queue carries the queue's hash tag ``{<queue>}``, so each script touches a single Redis
Cluster slot. Keys that belong to no queue (the queue index, cron ticks, workers) live beside them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class QueueKeys:
    """The keys of one queue."""

    #: LIST of job ids ready to run, oldest on the left (RPUSH to enqueue, LPOP to reserve).
    ready: str
    #: LIST of wake-up tokens: non-empty while ``ready`` is; idle workers block on it.
    wake: str
    #: ZSET job id -> run_at: delayed jobs and retries waiting for their time.
    scheduled: str
    #: ZSET job id -> lease expiry: jobs being run.
    leases: str
    #: ZSET job id -> failed_at: the dead letters.
    failed: str
    #: Prefix of the job HASH keys; ``job(id)`` appends the id.
    job_prefix: str

    def job(self, job_id: str) -> str:
        """HASH of one job: payload, state, attempts, token, result, error and timestamps."""
        return self.job_prefix + job_id


@dataclass(frozen=True)
class Keys:
    """Key names under one prefix (``configure(prefix=...)``)."""

    prefix: str

    def queue(self, name: str) -> QueueKeys:
        base = f"{self.prefix}:{{{name}}}"
        return QueueKeys(
            ready=f"{base}:ready",
            wake=f"{base}:wake",
            scheduled=f"{base}:scheduled",
            leases=f"{base}:leases",
            failed=f"{base}:failed",
            job_prefix=f"{base}:job:",
        )

    @property
    def queues(self) -> str:
        """SET of every queue name that ever held a job."""
        return f"{self.prefix}:queues"

    @property
    def cron_ticks(self) -> str:
        """ZSET schedule name -> latest tick claimed (epoch seconds)."""
        return f"{self.prefix}:cron:ticks"

    @property
    def workers(self) -> str:
        """ZSET worker id -> heartbeat expiry."""
        return f"{self.prefix}:workers"

    def worker(self, worker_id: str) -> str:
        """STRING holding a worker's JSON announcement, expiring with its heartbeat."""
        return f"{self.prefix}:worker:{worker_id}"

    # --- workflows (tasks/workflows); lua/workflow_lib.lua builds the same names from the prefix ---------------

    def workflow(self, home: str, workflow_id: str) -> str:
        """HASH of one batch or chain, under its home queue's hash tag (with ``:members`` SET and ``:steps`` LIST)."""
        return f"{self.prefix}:{{{home}}}:wf:{workflow_id}"

    @property
    def workflows(self) -> str:
        """ZSET '<home><TAB><id>' -> created_at: the batches, newest last (for listings; pruned as records expire)."""
        return f"{self.prefix}:workflows"
