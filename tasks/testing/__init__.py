"""Helpers for the tests of applications that use tasks: a fake that records dispatches, eager mode, a backend
and a worker of the test's own, and a pytest plugin (``tasks.testing.plugin``). See docs/testing.md.

Nothing here imports pytest, except the plugin.
"""

from .eager import EagerRunner, eager
from .fake import Dispatch, FakeDispatches, fake
from .inprocess import BurstWorker, memory
from .runner import FinishedJob, SkippingClock

__all__ = [
    "BurstWorker",
    "Dispatch",
    "EagerRunner",
    "FakeDispatches",
    "FinishedJob",
    "SkippingClock",
    "eager",
    "fake",
    "memory",
]
