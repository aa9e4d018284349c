"""Flow control: unique jobs, debounce, concurrency per key, rate limits, and paused queues.

``limits.define("stripe", "25/s")`` names a rate limit shared by several jobs (``@job(limits=["stripe"])``);
the other options are ``@job``'s and ``with_options``' (docs/flow-control.md). Every check happens inside the
datastore's reserve or enqueue transition; this package holds the options and the pure policy.
"""

from __future__ import annotations

from .options import FlowOptions, JobFlow, RateLimit, parse_rate
from .shared import define, defined

__all__ = ["FlowOptions", "JobFlow", "RateLimit", "define", "defined", "parse_rate"]
