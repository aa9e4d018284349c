"""Fixtures of the core specification tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tasks import registry


@pytest.fixture(params=["memory", "redis"])
def app(request: pytest.FixtureRequest) -> str:
    """The process configured for fakeredis (``memory://``) and then for the real Redis, each under its own prefix."""
    return str(request.getfixturevalue(f"{request.param}_app"))


@pytest.fixture
def forget_jobs() -> Iterator[list[str]]:
    """Names appended here are removed from the registry after the test (for jobs a test declares itself)."""
    names: list[str] = []
    yield names
    for name in names:
        registry.unregister(name)
