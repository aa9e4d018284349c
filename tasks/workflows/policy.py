"""Pure policy: what a batch or a chain does on one member's outcome. No I/O; the transitions apply it.

The SQLite backend calls these functions inside its transaction; the Redis member scripts
(``workflow_lib.lua``) follow them line for line, and the contract tests hold both to the same results.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

#: What happened to one member: it succeeded, failed for good, or was cancelled before it ran.
MemberOutcome = Literal["succeeded", "failed", "cancelled"]
#: The callbacks a batch may fire, each at most once.
Callback = Literal["then", "catch", "finally"]


@dataclass(frozen=True)
class Counters:
    """A workflow's counters and state, as stored."""

    total: int
    pending: int
    succeeded: int = 0
    failed: int = 0
    cancelled: int = 0
    state: str = "running"
    allow_failures: bool = False
    finished: bool = False


@dataclass(frozen=True)
class Decision:
    """The counters after one outcome, the callbacks to enqueue now, and whether to cancel the members left."""

    counters: Counters
    fire: tuple[Callback, ...] = ()
    cancel_rest: bool = False


def count(before: Counters, outcome: MemberOutcome) -> Decision:
    """Count one member's ``outcome``, before anything is settled.

    The first failure fires ``catch`` and, unless failures are allowed, cancels the batch (its members not yet
    started are then cancelled and counted with ``add_cancelled``). A report for a batch with nothing pending (a
    duplicate) changes nothing.
    """
    if before.pending <= 0:
        return Decision(before)
    after = replace(before, pending=before.pending - 1)
    if outcome == "succeeded":
        return Decision(replace(after, succeeded=after.succeeded + 1))
    if outcome == "cancelled":
        return Decision(replace(after, cancelled=after.cancelled + 1))
    after = replace(after, failed=after.failed + 1)
    fire: tuple[Callback, ...] = ("catch",) if after.failed == 1 else ()
    if not after.allow_failures and after.state == "running":
        return Decision(replace(after, state="cancelled"), fire, cancel_rest=True)
    return Decision(after, fire)


def add_cancelled(counters: Counters, n: int) -> Counters:
    """``n`` members not yet started were cancelled: they are no longer pending."""
    return replace(counters, pending=counters.pending - n, cancelled=counters.cancelled + n)


def settle(counters: Counters) -> Decision:
    """Once nothing is pending: fire ``then`` (the batch still runs, and nothing failed or failures are allowed)
    and ``finally``, and take the final state. While members are pending, nothing changes."""
    if counters.pending > 0 or counters.finished:
        return Decision(counters)
    fire: list[Callback] = []
    if counters.state == "running" and (counters.failed == 0 or counters.allow_failures):
        fire.append("then")
    fire.append("finally")
    return Decision(finish(counters), tuple(fire))


def batch_outcome(before: Counters, outcome: MemberOutcome, *, cancelled_now: int = 0) -> Decision:
    """One member ended with ``outcome``: ``count``, then (when it cancels the batch) the ``cancelled_now`` members
    not yet started, then ``settle``; the callbacks of both steps, in order."""
    counted = count(before, outcome)
    after = add_cancelled(counted.counters, cancelled_now) if counted.cancel_rest else counted.counters
    settled = settle(after) if counted.counters != before else Decision(after)
    return Decision(settled.counters, counted.fire + settled.fire, counted.cancel_rest)


def cancel_batch(before: Counters) -> Counters:
    """``cancel()``: a running batch becomes cancelled (its members not yet started are then cancelled one by one
    with ``batch_outcome``); a batch already cancelled or finished stays as it is."""
    return replace(before, state="cancelled") if before.state == "running" else before


def finish(counters: Counters) -> Counters:
    """The final state of a workflow whose last member ended: failed when a member failed, else cancelled when it
    was cancelled, else succeeded."""
    if counters.failed:
        return replace(counters, state="failed", finished=True)
    cancelled = counters.state == "cancelled" or counters.cancelled > 0
    return replace(counters, state="cancelled" if cancelled else "succeeded", finished=True)


#: What a chain does when its current step ends: go on to the next step, or end (and how).
ChainMove = Literal["next", "succeeded", "failed", "cancelled"]


def chain_outcome(state: str, outcome: MemberOutcome, *, steps_left: int) -> ChainMove:
    """The current step of a chain ended with ``outcome``.

    A success moves to the next step while there is one and the chain still runs; the last success ends it
    succeeded. A failure ends it failed (``on_failure`` then fires once). A chain cancelled while its step ran
    ends cancelled once that step ends well.
    """
    if outcome == "failed":
        return "failed"
    if outcome == "cancelled" or state != "running":
        return "cancelled"
    return "next" if steps_left > 0 else "succeeded"
