"""Running jobs: the worker loop of one process, and the supervised pool of worker processes.

- ``loop``: ``Worker``, the loop of one process (reserve, run, acknowledge, heartbeat, stop cleanly);
- ``executor``: runs ONE leased job as a pipeline of named steps, and turns its outcome into one transition;
- ``ledger``, ``heartbeat``, ``async_runner``: what a worker holds, the thread that keeps it leased, the event
  loop of ``async def`` jobs;
- ``pool``, ``process``, ``journal``, ``keeper``: the supervisor, one worker process as it reports to it, the
  outcomes a process computed but has not written, and the supervisor's datastore work.
"""

from .loop import Worker, WorkerSettings, default_queues

__all__ = ["Worker", "WorkerSettings", "default_queues"]
