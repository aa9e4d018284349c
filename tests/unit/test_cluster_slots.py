"""The pure part of the Redis Cluster backend: its URLs, and queues cut into slot groups in priority order."""

from __future__ import annotations

import pytest

from tasks.backends.redis.slots import is_cluster_url, plain_url, slot_groups
from tasks.config import normalize_url
from tasks.errors import ConfigurationError


@pytest.mark.parametrize(
    ("url", "plain"),
    [
        ("redis+cluster://host:7000", "redis://host:7000"),
        ("redis+cluster://host:7000/", "redis://host:7000"),
        ("redis+cluster://host:7000/0", "redis://host:7000"),
        ("rediss+cluster://:pw@host:7000/0?ssl_cert_reqs=none", "rediss://:pw@host:7000?ssl_cert_reqs=none"),
    ],
)
def test_a_cluster_url_becomes_the_url_redis_py_reads(url: str, plain: str) -> None:
    assert is_cluster_url(url)
    assert plain_url(url) == plain
    assert normalize_url(url) == url


@pytest.mark.parametrize("url", ["redis+cluster://host:7000/1", "rediss+cluster://host:7000/15"])
def test_a_cluster_url_naming_another_database_is_refused_with_the_fix(url: str) -> None:
    with pytest.raises(ConfigurationError, match=r"only database 0.*drop the path or write /0"):
        normalize_url(url)


def test_a_cluster_url_without_a_host_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="names one of its nodes"):
        plain_url("redis+cluster:///0")


def test_plain_redis_urls_are_not_cluster_urls() -> None:
    assert not is_cluster_url("redis://host:6379/0")
    with pytest.raises(ConfigurationError):
        plain_url("redis://host:6379/0")


def test_neighbours_sharing_a_slot_form_one_group_and_the_priority_order_is_kept() -> None:
    # Given queues whose slots are a=1, b=1, c=2, d=1
    slots = {"a": 1, "b": 1, "c": 2, "d": 1}
    # When they are grouped
    groups = slot_groups(["a", "b", "c", "d"], slots.__getitem__)
    # Then d stays behind c even though it shares a's slot: a group is a run of neighbours
    assert groups == [["a", "b"], ["c"], ["d"]]


def test_no_queues_make_no_groups() -> None:
    assert slot_groups([], lambda queue: 0) == []
