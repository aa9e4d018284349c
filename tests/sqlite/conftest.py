"""The SQLite tests drive time by hand, as the conformance suite does."""

from __future__ import annotations

import pytest

from tests.contract.conftest import Clock


@pytest.fixture
def clock() -> Clock:
    return Clock()
