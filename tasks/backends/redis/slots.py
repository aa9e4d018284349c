"""Pure helpers of the Redis Cluster backend: its URLs, and how a worker's queues split into slot groups.

No I/O here. A cluster refuses a script or a blocking pop whose keys lie in more than one hash slot, and every
key of a queue carries the queue's hash tag, so one queue is always one slot; a worker's queues are split into
runs of neighbours that share a slot, kept in priority order (see ``slot_groups``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from urllib.parse import urlsplit, urlunsplit

from ...errors import ConfigurationError

#: The URL schemes of a Redis Cluster, and the redis-py scheme each becomes.
CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}


def is_cluster_url(url: str) -> bool:
    """Whether ``url`` names a Redis Cluster (``redis+cluster://`` or ``rediss+cluster://``)."""
    return url.split("://", 1)[0].lower() in CLUSTER_SCHEMES


def plain_url(url: str) -> str:
    """The ``redis://`` (or ``rediss://``) URL redis-py's ``RedisCluster.from_url`` reads for a cluster URL.

    A cluster has only database 0, so the path may be empty, ``/`` or ``/0``; any other database is refused
    here, with the fix, rather than by redis-py deep inside a connection attempt.
    """
    parts = urlsplit(url)
    scheme = CLUSTER_SCHEMES.get(parts.scheme.lower())
    if scheme is None:
        raise ConfigurationError("not a Redis Cluster URL: write redis+cluster://host:7000 or rediss+cluster://")
    if parts.path not in ("", "/", "/0"):
        raise ConfigurationError(
            f"a Redis Cluster has only database 0, but the URL names {parts.path.lstrip('/')!r}: "
            "drop the path or write /0 (redis+cluster://host:7000/0)"
        )
    if not parts.hostname:
        raise ConfigurationError("a Redis Cluster URL names one of its nodes: redis+cluster://host:7000")
    return urlunsplit((scheme, parts.netloc, "", parts.query, parts.fragment))


def slot_groups(queues: Sequence[str], slot_of: Callable[[str], int]) -> list[list[str]]:
    """``queues`` (in strict priority order) cut into runs of neighbours that share a slot.

    Each run can go to one script call; running the calls in order keeps the priority order whole, since a
    queue is never served before one listed ahead of it. Two queues in one slot but not side by side stay
    in separate runs for the same reason.
    """
    groups: list[list[str]] = []
    last: int | None = None
    for queue in queues:
        slot = slot_of(queue)
        if groups and slot == last:
            groups[-1].append(queue)
        else:
            groups.append([queue])
        last = slot
    return groups
