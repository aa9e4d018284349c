"""The Redis backend on a Redis Cluster (``redis+cluster://host:7000``, ``rediss+cluster://``).

The same Lua scripts run, through redis-py's ``RedisCluster``; what changes is how they are called:

- every key of a queue carries the queue's hash tag, so each script call already lands in one slot; calls for
  several queues (a round trip of completions and a reserve, a bulk dispatch, renewals) go out as a cluster
  pipeline, which sends each node its own commands;
- a reserve over several queues is one script call per slot group (``slots.slot_groups``), run in priority
  order and stopped as soon as the batch is full, so a lower queue is never served before a higher one;
- an idle worker of queues in several slots cannot block on all their wake lists in one ``BLPOP`` (a cluster
  refuses it): it blocks on the highest-priority group's lists for at most ``WAKE_SLICE_S`` and, between two
  blocks, checks the other groups' wake lists in one pipelined round trip (docs/scaling.md gives the
  measurements behind this choice);
- scripts are loaded on every master; a node that answers NOSCRIPT (a replica just promoted, a node added by a
  reshard) gets them loaded and only the calls it refused are sent again, since the others did run;
- during a failover or a reshard, calls are retried for up to ``patience_s`` on connection errors,
  CLUSTERDOWN, TRYAGAIN and moved slots (the slot map is read again before each try), then reported as
  ``BackendUnavailable``, which workers already wait out.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from typing import Any, TypeVar, cast

import redis
from redis.cluster import RedisCluster
from redis.crc import key_slot
from redis.exceptions import (
    ClusterDownError,
    MovedError,
    NoScriptError,
    ReadOnlyError,
    RedisClusterException,
    SlotNotCoveredError,
    TryAgainError,
)

from ...model import Lease, WorkerInfo
from . import calls
from .backend import TOLERANT, RedisBackend, _worker_info
from .slots import plain_url, slot_groups

T = TypeVar("T")

log = logging.getLogger("tasks.backends")

#: Errors a failover or a reshard causes for a while: worth retrying once the slot map is read again.
TRANSIENT = (
    redis.ConnectionError,
    redis.TimeoutError,
    ClusterDownError,
    TryAgainError,
    MovedError,
    ReadOnlyError,
    SlotNotCoveredError,
)
#: What redis-py says, in a bare ``RedisClusterException``, while no node it knows serves the slot map whole.
TRANSIENT_MESSAGES = ("cannot be connected", "not covered", "could not agree", "No targets", "no redis_connection")
#: Longest one block of an idle worker whose queues lie in several slots (its lower queues wait this at most).
WAKE_SLICE_S = 0.05
#: First pause between two tries during a failover; it doubles up to ``RETRY_PAUSE_MAX_S``.
RETRY_PAUSE_S = 0.05
RETRY_PAUSE_MAX_S = 0.5


class Cluster(RedisCluster):
    """redis-py's cluster client, with pipelines that behave as the backend's code expects of a pipeline."""

    def pipeline(self, transaction: Any = None, shard_hint: Any = None) -> Any:
        """A cluster pipeline that encodes keys as the client does (redis-py gives it a strict encoder, which
        cannot route a key holding the surrogate escapes of bytes that are not UTF-8), and whose ``evalsha``
        works: redis-py refuses that method in a cluster pipeline, yet routes the very same command by its
        keys when it comes as a plain command."""
        pipe = super().pipeline(transaction=transaction, shard_hint=shard_hint)  # type: ignore[no-untyped-call]
        pipe.encoder = self.encoder
        pipe.evalsha = partial(pipe.execute_command, "EVALSHA")
        return pipe


class ClusterBackend(RedisBackend):
    """``RedisBackend`` over a ``RedisCluster`` client; thread-safe as redis-py's cluster client is."""

    #: How long a call keeps retrying through a failover before it reports the backend unavailable.
    patience_s: float = 20.0
    cluster = True

    def __init__(self, client: RedisCluster, *, prefix: str = "tasks", description: str = "redis cluster") -> None:
        super().__init__(cast(Any, client), prefix=prefix, description=description)
        self.pads_wait_leases = False  # the reserve runs after the wait ends, with the clock read then
        self._slots: dict[str, int] = {}

    @classmethod
    def from_url(cls, url: str, *, prefix: str = "tasks") -> ClusterBackend:
        """A backend on the cluster one of whose nodes ``url`` names (the client reads the others from it).

        redis-py reads the cluster's slot map here, so an unreachable cluster is reported at once.
        """
        from ...config import mask_url

        description = mask_url(url)
        try:
            client = Cluster.from_url(
                plain_url(url), decode_responses=True, encoding_errors=TOLERANT, health_check_interval=30
            )
        except (redis.RedisError, RedisClusterException) as exc:
            from ...errors import BackendUnavailable

            raise BackendUnavailable(f"cannot reach the Redis Cluster {description}: {exc}") from exc
        return cls(client, prefix=prefix, description=description)

    # --- reserving, one slot group at a time -----------------------------------------------------------------

    def slot(self, queue: str) -> int:
        """The cluster slot every key of ``queue`` lives in."""
        slot = self._slots.get(queue)
        if slot is None:
            if len(self._slots) >= 4096:
                self._slots.clear()
            slot = self._slots[queue] = key_slot(self.queue_keys(queue).ready.encode())
        return slot

    def complete_and_reserve(
        self,
        completions: Sequence[tuple[Lease, str, float]],
        queues: Sequence[str],
        *,
        worker_id: str,
        now: float,
        lease_s: float,
        count: int,
    ) -> tuple[list[bool], list[Lease]]:
        """Acknowledgements and the first slot group's reserve in one round trip; the next groups, in priority
        order, only while the batch is not full."""
        groups = slot_groups(queues, self.slot) if queues else []
        commands = calls.complete(self.scripts, self.queue_keys, completions, now=now, metrics_of=self._metrics_of(now))
        first = [
            self._reserve_call(group, worker_id=worker_id, now=now, lease_s=lease_s, count=count)
            for group in groups[:1]
        ]
        replies = self._commands([*commands, *first])
        done = [flag == "1" for reply in replies[: len(commands)] for flag in reply]
        leases = calls.parse_reserve(groups[0], replies[-1], now) if groups else []
        for group in groups[1:]:
            if len(leases) >= count:
                break
            call = self._reserve_call(group, worker_id=worker_id, now=now, lease_s=lease_s, count=count - len(leases))
            leases += calls.parse_reserve(group, self._commands([call])[0], now)
        return done, leases

    # --- idle waiting without a cross-slot BLPOP -------------------------------------------------------------

    def wait_and_reserve(
        self,
        queues: Sequence[str],
        *,
        worker_id: str,
        clock: Callable[[], float],
        lease_s: float,
        count: int,
        timeout_s: float,
    ) -> list[Lease]:
        """Wait (see ``wait_for_jobs``), then reserve with the clock read when the wait ended."""
        self.wait_for_jobs(queues, timeout_s=timeout_s)
        return self.reserve(queues, worker_id=worker_id, now=clock(), lease_s=lease_s, count=count)

    def wait_for_jobs(self, queues: Sequence[str], *, timeout_s: float) -> None:
        """Block until a wake list of ``queues`` holds a token, or ``timeout_s`` passes.

        Queues of one slot group: one ``BLPOP`` for the whole wait, as on a single Redis. Several groups: the
        highest-priority group's ``BLPOP`` in slices of ``WAKE_SLICE_S``, each after one pipelined look at the
        other groups' wake lists (a token left there means work).
        """
        if timeout_s <= 0 or not queues:
            return
        groups = slot_groups(queues, self.slot)
        head = [self.queue_keys(q).wake for q in groups[0]]
        rest = [self.queue_keys(q).wake for group in groups[1:] for q in group]
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            if rest and any(self._pipeline(lambda pipe: [pipe.exists(key) for key in rest])):
                return
            block = max(min(left, WAKE_SLICE_S) if rest else left, 0.001)
            if self._patiently(partial(self.client.blpop, head, timeout=block)) is not None:
                return

    # --- keys in several slots -------------------------------------------------------------------------------

    def workers(self, *, now: float) -> list[WorkerInfo]:
        """The announcements live one key per worker, each in its own slot: read them node by node."""
        ids = self._patiently(lambda: self.client.zrangebyscore(self.keys.workers, now, "+inf"))
        blobs = self._patiently(lambda: self.client.mget_nonatomic([self.keys.worker(i) for i in ids])) if ids else []
        return [info for info in map(_worker_info, blobs) if info is not None]

    def unregister_worker(self, worker_id: str) -> None:
        def build(pipe: Any) -> None:
            pipe.zrem(self.keys.workers, worker_id)
            pipe.delete(self.keys.worker(worker_id))  # a cluster pipeline's ``delete`` does not chain

        self._pipeline(build)

    # --- sending, with NOSCRIPT per node and patience through failovers --------------------------------------

    def _run(self, name: str, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        return self._patiently(lambda: self.scripts.run(name, keys, args))

    def _pipeline(self, build: Callable[[Any], object]) -> list[Any]:
        def execute() -> list[Any]:
            pipe = self.client.pipeline(transaction=False)
            build(pipe)
            replies: list[Any] = pipe.execute()
            return replies

        return self._patiently(lambda: self.scripts.reloading(execute))

    def _streamed(self, make_commands: Callable[[], Iterator[tuple[Any, ...]]]) -> list[Any]:
        """Every command through one cluster pipeline; the calls a node refused with NOSCRIPT are sent again
        (alone: the others ran) once the scripts are loaded on every master."""
        commands = list(make_commands())
        return self._patiently(lambda: self._send(commands))

    def _send(self, commands: Sequence[tuple[Any, ...]]) -> list[Any]:
        replies = self._pipelined(commands)
        refused = [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
        if refused:
            self.scripts.load_all()
            for i, reply in zip(refused, self._pipelined([commands[i] for i in refused])):
                replies[i] = reply
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        return replies

    def _pipelined(self, commands: Sequence[tuple[Any, ...]]) -> list[Any]:
        pipe = self.client.pipeline(transaction=False)
        for command in commands:
            pipe.execute_command(*command)
        replies: list[Any] = pipe.execute(raise_on_error=False)
        return replies

    def _patiently(self, call: Callable[[], T]) -> T:
        """``call()``, tried again through a failover for up to ``patience_s``; then ``BackendUnavailable``."""
        deadline = time.monotonic() + self.patience_s
        pause = RETRY_PAUSE_S
        while True:
            try:
                with self._errors():
                    return call()
            except Exception as exc:
                cause = exc.__cause__ if exc.__cause__ is not None else exc
                if not transient(cause) or time.monotonic() + pause > deadline:
                    raise
                log.info("redis cluster: %s; trying again in %.2f s", cause, pause)
            time.sleep(pause)
            pause = min(pause * 2, RETRY_PAUSE_MAX_S)
            self._refresh_slots()

    def _refresh_slots(self) -> None:
        """Read the slot map again (a node may be gone or a replica promoted); a failure leaves it for later."""
        try:
            self.client.nodes_manager.initialize()
        except (redis.RedisError, RedisClusterException) as exc:
            log.debug("redis cluster: slot map not read yet: %s", exc)

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Also reports the errors of a cluster mid-failover as ``BackendUnavailable``."""
        try:
            yield
        except (*TRANSIENT, RedisClusterException) as exc:
            if not transient(exc):
                raise
            raise self._unavailable(exc) from exc


def transient(exc: BaseException) -> bool:
    """Whether ``exc`` is what a failover or a reshard causes for a while (and not a mistake of the call)."""
    if isinstance(exc, TRANSIENT):
        return True
    return type(exc) is RedisClusterException and any(text in str(exc) for text in TRANSIENT_MESSAGES)
