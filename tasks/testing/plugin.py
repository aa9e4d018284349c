"""The pytest plugin of tasks, registered through the ``pytest11`` entry point (or ``-p tasks.testing.plugin``).

Fixtures only: nothing is configured, patched or run unless a test asks for one of them.

- ``tasks_fake``: a ``FakeDispatches`` recording every dispatch of the test instead of sending it;
- ``tasks_memory``: the process configured for a fresh ``memory://`` backend of the test's own (its settings);
- ``tasks_worker``: a ``BurstWorker``; ``tasks_worker()`` runs every job of the configured backend in the test's
  process, retries and ``later()`` jobs included, and returns how many attempts ran.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ..config import Settings
from .fake import FakeDispatches, fake
from .inprocess import BurstWorker, memory


@pytest.fixture
def tasks_fake() -> Iterator[FakeDispatches]:
    """Every dispatch of the test recorded, not sent; ``run_all()`` runs them."""
    with fake() as recorder:
        yield recorder


@pytest.fixture
def tasks_memory() -> Iterator[Settings]:
    """A fresh ``memory://`` backend for the test (needs fakeredis: ``tasks[testing]``); settings put back after."""
    with memory() as current:
        yield current


@pytest.fixture
def tasks_worker() -> BurstWorker:
    """Drains the configured backend in the test's process: ``tasks_worker()``, or ``tasks_worker("emails")``."""
    return BurstWorker()
