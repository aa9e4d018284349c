"""Helpers for the tests of applications that use tasks: a fake that records dispatches, and eager mode
(docs/testing.md)."""

from .eager import EagerRunner, eager
from .fake import Dispatch, FakeDispatches, fake
from .runner import FinishedJob, SkippingClock

__all__ = [
    "Dispatch",
    "EagerRunner",
    "FakeDispatches",
    "FinishedJob",
    "SkippingClock",
    "eager",
    "fake",
]
