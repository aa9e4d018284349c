"""Secrets in backend URLs: masked in every form a URL can take, and never quoted by a configuration error."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

import pytest

from tasks import ConfigurationError, configure
from tasks.config import Settings, mask_url, normalize_url


@dataclass(frozen=True)
class Case:
    """A URL, the secrets it holds (none may appear once masked), and the parts that must stay readable."""

    url: str
    secrets: tuple[str, ...]
    readable: tuple[str, ...]

    def __str__(self) -> str:  # the test id
        return self.url


CASES = [
    Case("redis://app:s3cret@cache.example.com:6379/0", ("s3cret",), ("redis://app:", "@cache.example.com:6379/0")),
    Case("redis://:s3cret@cache.example.com:6379/2", ("s3cret",), ("@cache.example.com:6379/2",)),
    Case("redis://s3cret@cache.example.com:6379/0", ("s3cret",), ("@cache.example.com:6379/0",)),
    Case("redis://cache.example.com:6379/0?password=s3cret", ("s3cret",), ("cache.example.com:6379/0?password=",)),
    Case(
        "redis://cache.example.com:6379/0?db=3&password=s3cret&socket_timeout=5",
        ("s3cret",),
        ("cache.example.com:6379/0?db=3&password=", "&socket_timeout=5"),
    ),
    Case("redis://cache.example.com:6379/0?PASSWORD=s3cret", ("s3cret",), ("cache.example.com:6379/0",)),
    Case("redis://cache.example.com:6379/0?Password=s3cret", ("s3cret",), ("cache.example.com:6379/0",)),
    Case("redis://cache.example.com:6379/0?ssl_password=s3cret", ("s3cret",), ("cache.example.com:6379/0",)),
    Case("redis://cache.example.com:6379/0?token=s3cret&db=1", ("s3cret",), ("cache.example.com:6379/0", "&db=1")),
    Case("redis://cache.example.com:6379/0?password=s3&cret&db=1", ("s3&cret", "cret"), ("cache.example.com", "&db=1")),
    Case("redis://cache.example.com:6379/0?password=s3#cret", ("s3#cret", "cret"), ("cache.example.com:6379/0",)),
    Case("redis://:p@ss@cache.example.com:6379/0", ("p@ss", "ss@"), ("@cache.example.com:6379/0",)),
    Case("redis://:pa/ss@cache.example.com:6379/0", ("pa/ss", "ss@"), ("@cache.example.com:6379/0",)),
    Case("redis://:pa:ss@cache.example.com:6379/0", ("pa:ss", "ss@"), ("@cache.example.com:6379/0",)),
    Case("redis://:12/34@cache.example.com:6379/0", ("12/34", "34@"), ("@cache.example.com:6379/0",)),
    Case("redis://:pa?ss@cache.example.com:6379/0", ("pa?ss", "ss@"), ("@cache.example.com:6379/0",)),
    Case("redis://:pa#ss@cache.example.com:6379/0", ("pa#ss", "ss@"), ("@cache.example.com:6379/0",)),
    Case(
        "redis://app:" + quote("s3cr/et@x:y", safe="") + "@cache.example.com:6379/0",
        ("s3cr/et@x:y", quote("s3cr/et@x:y", safe=""), "s3cr"),
        ("redis://app:", "@cache.example.com:6379/0"),
    ),
    Case("redis://cache.example.com/0?password=s3cr%2Fet%40x", ("s3cr%2Fet%40x", "s3cr"), ("cache.example.com/0",)),
    Case("redis://cache.example.com/0?pass%77ord=s3cret", ("s3cret",), ("cache.example.com/0",)),
    Case("redis://cache.example.com/0?password=p@zz", ("p@zz", "zz"), ()),
    Case("rediss://app:s3cret@cache.example.com:6380/1", ("s3cret",), ("rediss://app:", "@cache.example.com:6380/1")),
    Case("unix://:s3cret@/run/redis/redis.sock?db=1", ("s3cret",), ("@/run/redis/redis.sock?db=1",)),
    Case("unix:///run/redis/redis.sock?db=0&password=s3cret", ("s3cret",), ("unix:///run/redis/redis.sock?db=0&",)),
    Case("redis:/:s3cret@cache.example.com/0", ("s3cret",), ("@cache.example.com/0",)),
    Case(":s3cret@cache.example.com:6379", ("s3cret",), ("@cache.example.com:6379",)),
    Case("memory://app:s3cret@name", ("s3cret",), ("memory://app:",)),
]

#: URLs that hold no secret come back unchanged.
PLAIN = [
    "redis://cache.example.com:6379/0",
    "redis://cache.example.com:6379/0?db=2&socket_timeout=5&ssl_keyfile=/etc/redis/client.key",
    "rediss://cache.example.com:6380/1",
    "unix:///run/redis/redis.sock?db=1",
    "sqlite:///tasks.db",
    "sqlite:////var/lib/app/tasks.db",
    "sqlite:////srv/app@2024/tasks.db",
    "memory://",
    "memory://t-1",
    "tasks.db",
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_no_secret_survives_masking_and_the_rest_stays_readable(case: Case) -> None:
    # When the URL is masked
    masked = mask_url(case.url)

    # Then no secret (nor a piece of one) is left, the mask shows, and the host, port and db can still be read
    for secret in case.secrets:
        assert secret not in masked
    assert "***" in masked
    for part in case.readable:
        assert part in masked


@pytest.mark.parametrize("url", PLAIN)
def test_a_url_without_a_secret_is_left_unchanged(url: str) -> None:
    assert mask_url(url) == url


def test_one_secret_reads_as_one_mask() -> None:
    assert mask_url("redis://app:s3cret@cache.example.com:6379/0") == "redis://app:***@cache.example.com:6379/0"
    assert (
        mask_url("redis://cache.example.com/0?password=s3cret&db=1") == "redis://cache.example.com/0?password=***&db=1"
    )
    assert mask_url("redis://:a?password=b@cache.example.com/0") == "redis://:***"


def test_a_password_with_a_slash_is_refused_by_configure_with_the_fix_and_without_the_password() -> None:
    # When a URL whose password holds a raw "/" is configured (redis-py would fail on "port 'pa'")
    with pytest.raises(ConfigurationError) as caught:
        configure(url="redis://:pa/ss@127.0.0.1:6379/0")

    # Then the error says how to write it, shows the URL masked, and carries no trace of the password
    message = str(caught.value)
    assert "pa/ss" not in message and "'pa'" not in message
    assert "percent-encode" in message and "%2F" in message
    assert "redis://:***@127.0.0.1:6379/0" in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


@pytest.mark.parametrize(
    "url",
    [
        "redis://:12/34@127.0.0.1:6379/0",  # parses, as port 12 on localhost with no password
        "redis://:12?34@127.0.0.1:6379/0",
        "rediss://app:pa#ss@127.0.0.1:6380/0",
        "unix://:pa/ss@/run/redis/redis.sock",  # parses, as the socket /ss@/run/redis/redis.sock
        "redis://127.0.0.1:6379/0?socket_timeout=soon",
    ],
)
def test_a_url_redis_py_would_misread_is_refused_without_its_secret(url: str) -> None:
    with pytest.raises(ConfigurationError, match="percent-encode") as caught:
        normalize_url(url)
    assert mask_url(url) in str(caught.value)


@pytest.mark.parametrize(
    "url",
    [
        "redis://:" + quote("pa/ss@x", safe="") + "@127.0.0.1:6379/0",
        "redis://:p@ss@127.0.0.1:6379/0",  # redis-py splits at the last "@": a raw "@" reads as meant
        "redis://127.0.0.1:6379/0?password=" + quote("pa/ss@x", safe=""),
        "redis://127.0.0.1:6379/0?username=ops@example.com",
        "unix:///run/redis/redis@6379.sock",
    ],
)
def test_a_url_redis_py_reads_as_meant_is_accepted(url: str) -> None:
    assert normalize_url(url) == url


def test_the_settings_repr_leaves_out_the_secret() -> None:
    assert "hmac-key" not in repr(Settings(url="memory://", secret="hmac-key"))
