"""When a pool should grow or shrink: a pure policy, ``now`` passed in, no I/O (the supervisor applies it).

The signal is how long the job longest in line has waited (``Backend.oldest_ready_at``). Longer than the
target wait: the workers are behind, the pool grows (doubling, so a burst is met in a few steps). Nothing in
line for a whole quiet period: the pool shrinks by one process, then by one more each cooldown while it stays
quiet. Jobs in line that wait less than the target change nothing: the pool keeps up. No change comes within
a cooldown of the previous one (a new process needs a moment before it helps), and the size stays between
the bounds.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from ..errors import ConfigurationError
from ..model import WorkerInfo

#: The ``extra["role"]`` of an autoscaling pool's own entry in the worker list (it is no worker process).
POOL_ROLE = "autoscaling pool"


@dataclass(frozen=True)
class AutoscaleSettings:
    """The bounds and timings of an autoscaling pool (``--autoscale MIN,MAX --target-wait S``)."""

    minimum: int
    maximum: int
    #: Seconds the job longest in line may wait before the pool grows.
    target_wait_s: float = 1.0
    #: Seconds with nothing in line before the pool shrinks.
    quiet_s: float = 30.0
    #: Seconds after a change before the next one.
    cooldown_s: float = 10.0
    #: Seconds between two looks at the queues.
    check_s: float = 1.0

    def __post_init__(self) -> None:
        if not 1 <= self.minimum <= self.maximum:
            raise ConfigurationError(
                f"autoscale bounds {self.minimum},{self.maximum}: give MIN,MAX with 1 <= MIN <= MAX (e.g. 2,16)"
            )
        for name in ("target_wait_s", "quiet_s", "cooldown_s", "check_s"):
            value = getattr(self, name)
            least_ok = value > 0 if name == "check_s" else value >= 0
            if not least_ok or value == float("inf"):
                raise ConfigurationError(f"autoscale {name} is {value!r}: give a finite number of seconds >= 0")

    @classmethod
    def parse(cls, bounds: str, **timings: float) -> AutoscaleSettings:
        """Settings from ``"MIN,MAX"`` (as ``--autoscale`` takes them) and the timings given."""
        parts = bounds.split(",")
        try:
            minimum, maximum = (int(part) for part in parts)
        except ValueError:
            raise ConfigurationError(f"--autoscale {bounds!r}: give MIN,MAX, two whole numbers (e.g. 2,16)") from None
        return cls(minimum, maximum, **timings)


@dataclass(frozen=True)
class Decision:
    """One change of the pool's size, and why."""

    at: float
    previous: int
    size: int
    reason: str


class Autoscaler:
    """The pool's size as the policy wants it, from one look at the queues after another."""

    def __init__(self, settings: AutoscaleSettings, *, now: float) -> None:
        self.settings = settings
        self.size = settings.minimum
        self._changed_at = now - settings.cooldown_s  # the first look may already decide
        self._quiet_since: float | None = now

    def observe(self, *, now: float, oldest_wait_s: float | None) -> Decision | None:
        """Take one look (``oldest_wait_s``: how long the job longest in line has waited; ``None``: nothing in
        line) and return the change it calls for, if any; ``size`` is then the new size."""
        if oldest_wait_s is not None:
            self._quiet_since = None
        elif self._quiet_since is None:
            self._quiet_since = now
        if now - self._changed_at < self.settings.cooldown_s:
            return None
        target = self._wanted(now, oldest_wait_s)
        if target is None:
            return None
        size, reason = target
        decision = Decision(now, self.size, size, reason)
        self.size, self._changed_at = size, now  # still quiet a cooldown later: one process fewer again
        return decision

    def _wanted(self, now: float, oldest_wait_s: float | None) -> tuple[int, str] | None:
        s = self.settings
        if oldest_wait_s is not None and oldest_wait_s > s.target_wait_s and self.size < s.maximum:
            size = min(s.maximum, self.size * 2)
            return size, f"the oldest ready job waited {oldest_wait_s:.1f} s > {s.target_wait_s:g} s"
        quiet_for = None if self._quiet_since is None else now - self._quiet_since
        if quiet_for is not None and quiet_for >= s.quiet_s and self.size > s.minimum:
            return self.size - 1, f"no job waiting for {quiet_for:.0f} s"
        return None


def describe_pools(pools: Sequence[WorkerInfo]) -> Iterator[str]:
    """Lines for ``python -m tasks workers``: each autoscaling pool's bounds and size, then its latest decisions."""
    for pool in pools:
        x = pool.extra
        yield (
            f"autoscaling pool {pool.pid} on {pool.host}: {x.get('size')} worker process(es), "
            f"between {x.get('minimum')} and {x.get('maximum')}, target wait {x.get('target_wait_s')} s"
        )
        for d in x.get("decisions", []):
            at = time.strftime("%H:%M:%S", time.localtime(float(d.get("at", 0))))
            yield f"  {at} {d.get('previous')} -> {d.get('size')}: {d.get('reason')}"
