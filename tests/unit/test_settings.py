"""Settings: configure() over the environment over the defaults, and URLs fit for a log line."""

from __future__ import annotations

import pytest

from tasks import ConfigurationError, configure
from tasks.config import mask_url, settings


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("redis://:hunter2@localhost:6379/0", "redis://:***@localhost:6379/0"),
        ("redis://app:hunter2@localhost:6379/0", "redis://app:***@localhost:6379/0"),
        ("rediss://default:p4:ss@cache.example.com:6380/1", "rediss://default:***@cache.example.com:6380/1"),
        ("unix://:hunter2@/run/redis.sock", "unix://:***@/run/redis.sock"),
        ("redis://localhost:6379/0", "redis://localhost:6379/0"),
        ("redis://app@localhost/0", "redis://***@localhost/0"),  # old URLs put the password there
        ("memory://t-1", "memory://t-1"),
    ],
)
def test_mask_url_hides_the_password_and_nothing_else(url: str, masked: str) -> None:
    assert mask_url(url) == masked


def test_configure_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given settings in the environment
    monkeypatch.setenv("TASKS_URL", "memory://from-env")
    monkeypatch.setenv("TASKS_PREFIX", "envprefix")
    monkeypatch.setenv("TASKS_SECRET", "env-secret")
    assert settings().url == "memory://from-env"
    assert (settings().prefix, settings().secret) == ("envprefix", "env-secret")

    # When code configures some of them, Then those win and the rest still come from the environment
    configure(prefix="codeprefix")
    assert (settings().url, settings().prefix, settings().secret) == ("memory://from-env", "codeprefix", "env-secret")


def test_defaults_apply_when_nothing_is_set() -> None:
    current = settings()
    assert current.prefix == "tasks"
    assert current.secret is None


def test_an_unsupported_url_is_refused_by_configure_with_the_password_masked() -> None:
    with pytest.raises(ConfigurationError) as caught:
        configure(url="postgres://app:hunter2@db/app")
    assert "unsupported backend URL" in str(caught.value)
    assert "hunter2" not in str(caught.value)
