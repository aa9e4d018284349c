"""Golden test of the Redis key layout: every key string tasks/backends/redis/keys.py builds, pinned.

A change here is a change of the wire protocol (docs/protocol.md): existing deployments would lose their jobs.
"""

from __future__ import annotations

import dataclasses
import re

import pytest

from tasks import ConfigurationError, configure, queue
from tasks.backends.redis.keys import Keys, QueueKeys
from tests.support.processes import ROOT

GOLDEN_QUEUE = {
    "ready": "tasks:{emails}:ready",
    "wake": "tasks:{emails}:wake",
    "scheduled": "tasks:{emails}:scheduled",
    "leases": "tasks:{emails}:leases",
    "failed": "tasks:{emails}:failed",
    "job_prefix": "tasks:{emails}:job:",
    "paused": "tasks:{emails}:paused",
}


def test_every_queue_key_is_pinned() -> None:
    qk = Keys("tasks").queue("emails")
    assert dataclasses.asdict(qk) == GOLDEN_QUEUE
    assert qk.job("3f2a") == "tasks:{emails}:job:3f2a"


def test_no_queue_key_goes_unpinned() -> None:
    # A new key added to QueueKeys must be added to the golden table (and to docs/protocol.md)
    assert {f.name for f in dataclasses.fields(QueueKeys)} == set(GOLDEN_QUEUE)


def test_the_keys_outside_queues_are_pinned() -> None:
    keys = Keys("tasks")
    assert keys.queues == "tasks:queues"
    assert keys.cron_ticks == "tasks:cron:ticks"
    assert keys.workers == "tasks:workers"
    assert keys.paused_queues == "tasks:paused"
    assert keys.worker("host:42:ab12cd") == "tasks:worker:host:42:ab12cd"
    assert keys.metric_minutes("emails") == "tasks:{emails}:metrics"
    assert keys.metrics("emails", 1795958400) == "tasks:{emails}:metrics:1795958400"


def test_every_queue_key_carries_the_queue_hash_tag() -> None:
    # So each script's keys land in one Redis Cluster slot: the tag is the first {...} of the key
    qk = Keys("tasks").queue("emails")
    for key in [*dataclasses.asdict(qk).values(), qk.job("any-id")]:
        assert re.match(r"^[^{]*\{emails\}", key), key
        assert key.count("{") == 1 and key.count("}") == 1, key


def test_the_prefix_and_queue_are_used_verbatim() -> None:
    qk = Keys("t-1a2b").queue("reports.daily-v2")
    assert qk.ready == "t-1a2b:{reports.daily-v2}:ready"
    assert qk.job("x") == "t-1a2b:{reports.daily-v2}:job:x"
    assert Keys("t-1a2b").workers == "t-1a2b:workers"


def test_no_key_has_an_empty_segment() -> None:
    # rq drifted into "rq:job::<id>:dependencies"; a double colon here would be the same slip
    keys = Keys("tasks")
    qk = keys.queue("emails")
    every = [*dataclasses.asdict(qk).values(), qk.job("id"), keys.queues, keys.cron_ticks, keys.workers]
    every.append(keys.worker("w"))
    assert not [k for k in every if "::" in k]


@pytest.mark.parametrize("prefix", ["my app", "app{1}", "tasks\n", "a:b", ""])
def test_a_prefix_that_would_break_the_layout_is_refused(prefix: str) -> None:
    # A brace would steal the hash tag, a colon or a space would make keys ambiguous
    with pytest.raises(ConfigurationError, match="prefix"):
        configure(prefix=prefix)


@pytest.mark.parametrize("prefix", ["my app", "app{1}", "a:b"])
def test_a_prefix_from_the_environment_is_checked_too(prefix: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given TASKS_PREFIX set to a prefix configure() would refuse
    monkeypatch.setenv("TASKS_PREFIX", prefix)
    monkeypatch.setenv("TASKS_URL", "memory://prefix-check")

    # When the backend is first needed, Then the prefix is refused before any key is written
    with pytest.raises(ConfigurationError, match="prefix"):
        queue("default").size()


def test_the_protocol_document_shows_the_same_layout() -> None:
    # docs/protocol.md is a contract for foreign producers: its key table must be what keys.py builds
    doc = (ROOT / "docs" / "protocol.md").read_text()
    documented = set(re.findall(r"^\| `(P:[^`]+)`", doc, flags=re.MULTILINE))
    keys = Keys("P")
    qk = keys.queue("Q")
    built = {
        *(value for name, value in dataclasses.asdict(qk).items() if name != "job_prefix"),
        qk.job("<id>"),
        keys.queues,
        keys.cron_ticks,
        keys.workers,
        keys.worker("<id>"),
        keys.metric_minutes("Q"),
        keys.metrics("Q", "<minute>"),
        keys.paused_queues,
    }
    assert documented == built
