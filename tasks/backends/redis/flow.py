"""Flow control on Redis: paused queues (and the limits' transitions), as a mixin of ``RedisBackend``.

Kept apart from ``backend.py`` so that the hot paths there stay as they are: a job that uses no limit runs
exactly the scripts it ran before. Every script called here touches the keys of one queue only (one Redis
Cluster slot); the index of paused queue names is written beside it, by a separate command.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from .keys import Keys, QueueKeys
from .scripts import Scripts


class RedisFlowControl:
    """``pause``/``resume``/``paused_queues`` of the Redis backend (see ``Backend``)."""

    client: Any
    keys: Keys
    scripts: Scripts
    queue_keys: Callable[[str], QueueKeys]
    _errors: Callable[[], AbstractContextManager[None]]

    def pause(self, queue: str) -> None:
        """Set the queue's own ``paused`` key (what the reserve reads), then list the queue in the index."""
        qk = self.queue_keys(queue)
        with self._errors():
            self.client.set(qk.paused, "1")
            self.client.sadd(self.keys.paused_queues, queue)

    def resume(self, queue: str) -> None:
        """Drop the ``paused`` key and wake a worker when jobs wait (one script), then unlist the queue."""
        qk = self.queue_keys(queue)
        with self._errors():
            self.scripts.run("resume", [qk.paused, qk.ready, qk.wake], [])
            self.client.srem(self.keys.paused_queues, queue)

    def paused_queues(self) -> set[str]:
        """The listed queues whose ``paused`` key is set: the key decides, should the index have drifted."""
        with self._errors():
            listed = sorted(self.client.smembers(self.keys.paused_queues))
            if not listed:
                return set()
            pipe = self.client.pipeline(transaction=False)
            for queue in listed:
                pipe.exists(self.queue_keys(queue).paused)
            found = pipe.execute()
        return {queue for queue, flag in zip(listed, found) if flag}
