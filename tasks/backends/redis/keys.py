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
    #: STRING present while the queue is paused (``Backend.pause``): the reserve then leases none of its jobs.
    paused: str = ""

    def job(self, job_id: str) -> str:
        """HASH of one job: payload, state, attempts, token, result, error and timestamps."""
        return self.job_prefix + job_id

    # Flow control (tasks.limits): each limit's keys carry the queue's hash tag, so a limit is counted per queue.

    def unique(self, key: str) -> str:
        """STRING: the id of the job holding the unique lock ``key`` (job name and key text), expiring."""
        return self._limit("unique", key)

    def slots(self, key: str) -> str:
        """SET of the ids of the running jobs holding a concurrency slot of ``key``."""
        return self._limit("slots", key)

    def held(self, key: str) -> str:
        """LIST of the ids of jobs held back until a slot of ``key`` frees, oldest on the left."""
        return self._limit("held", key)

    def rate(self, key: str) -> str:
        """ZSET of the recent starts (unique member -> start time) counted by the rate limit ``key``."""
        return self._limit("rate", key)

    def _limit(self, kind: str, key: str) -> str:
        return f"{self.job_prefix[: -len('job:')]}{kind}:{key}"


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
            paused=f"{base}:paused",
        )

    @property
    def queues(self) -> str:
        """SET of every queue name that ever held a job."""
        return f"{self.prefix}:queues"

    @property
    def paused_queues(self) -> str:
        """SET of the names of paused queues, for listings (each queue's own ``paused`` key is what counts)."""
        return f"{self.prefix}:paused"

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

    def metric_minutes(self, queue: str) -> str:
        """ZSET minute -> minute: the minutes of ``queue`` that have metric counters (tasks/observe/series.py)."""
        return f"{self.prefix}:{{{queue}}}:metrics"

    def metrics(self, queue: str, minute: int | str) -> str:
        """HASH job name -> its packed counters (tasks/observe/series.py) for ``queue`` in one minute (epoch s)."""
        return f"{self.prefix}:{{{queue}}}:metrics:{minute}"

    # --- workflows (tasks/workflows); lua/workflow_lib.lua builds the same names from the prefix ---------------

    def workflow(self, home: str, workflow_id: str) -> str:
        """HASH of one batch or chain, under its home queue's hash tag (with ``:members`` SET and ``:steps`` LIST)."""
        return f"{self.prefix}:{{{home}}}:wf:{workflow_id}"

    @property
    def workflows(self) -> str:
        """ZSET '<home><TAB><id>' -> created_at: the batches, newest last (for listings; pruned as records expire)."""
        return f"{self.prefix}:workflows"
