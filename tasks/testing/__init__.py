"""Helpers for the tests of applications that use tasks: a fake that records dispatches (docs/testing.md)."""

from .fake import Dispatch, FakeDispatches, fake
from .runner import FinishedJob, SkippingClock

__all__ = [
    "Dispatch",
    "FakeDispatches",
    "FinishedJob",
    "SkippingClock",
    "fake",
]
