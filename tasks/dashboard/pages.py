"""Each page as a function of the backend and the query string: the template to render and its values.

The same function serves the page and its live refresh (``/api/live/<page>``), which renders only the
template's ``live`` block: what the browser replaces every two seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..backends.base import Backend
from ..model import JobState, WorkerInfo
from . import charts, data
from .payload import job_name, shown, shown_result

#: Jobs or failed jobs per page.
PAGE_SIZE = 50
#: Fire times listed per schedule.
NEXT_FIRES = 3

Params = Mapping[str, str]
Page = Callable[[Backend, Params], dict[str, Any]]


class NotFound(Exception):
    """The page names something that does not exist (a job id); the message says what."""


def _offset(params: Params) -> int:
    text = params.get("offset", "0")
    return int(text) if text.isdigit() else 0


def overview(backend: Backend, params: Params) -> dict[str, Any]:
    now = time.time()
    found = data.overview(backend, now=now)
    drawn = None if found.metrics is None else charts.overview_charts(found.metrics, now=now)
    return {"overview": found, "charts": drawn}


def queues(backend: Backend, params: Params) -> dict[str, Any]:
    now = time.time()
    rows = data.queue_rows(backend, now=now, workers=backend.workers(now=now))
    return {"rows": rows}


def jobs(backend: Backend, params: Params) -> dict[str, Any]:
    names = data.queue_names(backend)
    queue = params.get("queue") or (names[0] if names else "default")
    state: JobState = params.get("state", "queued") if params.get("state") in data.LISTED_STATES else "queued"  # type: ignore[assignment]
    name, offset = params.get("name", "").strip(), _offset(params)
    found, following = data.list_jobs(backend, queue, state, limit=PAGE_SIZE, offset=offset, name=name)
    rows = [(info, job_name(info.payload)) for info in found]
    return {
        "queues": names,
        "queue": queue,
        "state": state,
        "states": data.LISTED_STATES,
        "name": name,
        "rows": rows,
        "following": following,
        "offset": offset,
        "page_size": PAGE_SIZE,
        "stats": backend.queue_stats(queue),
    }


def job(backend: Backend, params: Params) -> dict[str, Any]:
    job_id, queue = params.get("id", "").strip(), params.get("queue", "").strip()
    if not job_id:
        raise NotFound("no job id given")
    queues = [queue] if queue else data.queue_names(backend)
    info = data.find_job(backend, job_id, queues)
    if info is None:
        where = f"queue {queue!r}" if queue else "any queue"
        raise NotFound(f"no job with id {job_id!r} in {where} (succeeded jobs are kept for their result_ttl only)")
    return {"job": info, "shown": shown(info.payload), "result": shown_result(info.result)}


def failed(backend: Backend, params: Params) -> dict[str, Any]:
    names = data.queue_names(backend)
    counts = {name: backend.queue_stats(name).failed for name in names}
    queue = params.get("queue") or next((n for n in names if counts[n]), names[0] if names else "default")
    offset = _offset(params)
    entries = data.failed_page(backend, queue, limit=PAGE_SIZE, offset=offset)
    rows = [(entry, job_name(entry.payload)) for entry in entries]
    return {
        "queues": names,
        "counts": counts,
        "queue": queue,
        "rows": rows,
        "offset": offset,
        "page_size": PAGE_SIZE,
        "total": counts.get(queue, 0),
    }


@dataclass(frozen=True)
class WorkerRow:
    info: Any
    supervisor: str
    concurrency: int


def workers(backend: Backend, params: Params) -> dict[str, Any]:
    found = sorted(backend.workers(now=time.time()), key=lambda w: (w.host, w.started_at, w.id))
    pools: dict[tuple[str, str], int] = {}
    for w in found:
        key = (w.host, str(w.extra.get("supervisor_pid", w.pid)))
        pools[key] = pools.get(key, 0) + 1
    rows = [
        WorkerRow(
            w, str(w.extra.get("supervisor_pid", "-")), pools[(w.host, str(w.extra.get("supervisor_pid", w.pid)))]
        )
        for w in found
    ]
    return {"rows": rows}


def _pool(worker: WorkerInfo) -> tuple[str, str]:
    return worker.host, str(worker.extra.get("supervisor_pid", worker.pid))


@dataclass(frozen=True)
class ScheduleRow:
    schedule: Any
    next_fires: list[datetime]
    last: float | None


def schedules(backend: Backend, params: Params) -> dict[str, Any]:
    now = time.time()
    found = data.schedules()
    last = backend.last_ticks([s.name for s in found])
    rows = [ScheduleRow(s, [datetime.fromtimestamp(t, s.tz) for t in next_fires(s, now)], last[s.name]) for s in found]
    return {"rows": rows}


#: Next fire times already worked out, by schedule: each holds until it passes, and working them all out again
#: (croniter, about half a millisecond a fire) would cost a page of 200 schedules a third of a second.
_fires: dict[tuple[str, str, str], list[float]] = {}


def next_fires(schedule: Any, now: float) -> list[float]:
    """The next ``NEXT_FIRES`` fire times of ``schedule`` after ``now``, oldest first; only the ones not yet
    known are worked out (one, after each fire)."""
    key = (schedule.name, schedule.cron.fields, schedule.tz_name)
    fires = [t for t in _fires.get(key, ()) if t > now]
    after = fires[-1] if fires else now
    while len(fires) < NEXT_FIRES:
        after = schedule.next_fire(after)
        fires.append(after)
    if len(_fires) >= 10_000:  # schedules made on the fly: keep the memory bounded
        _fires.clear()
    _fires[key] = fires
    return fires


def batches(backend: Backend, params: Params) -> dict[str, Any]:
    return {"rows": data.batches(backend, limit=PAGE_SIZE)}


#: Every page: its path, template, title, and function.
PAGES: dict[str, tuple[str, str, Page]] = {
    "overview": ("overview.html", "Overview", overview),
    "queues": ("queues.html", "Queues", queues),
    "jobs": ("jobs.html", "Jobs", jobs),
    "job": ("job.html", "Job", job),
    "failed": ("failed.html", "Failed", failed),
    "workers": ("workers.html", "Workers", workers),
    "schedules": ("schedules.html", "Schedules", schedules),
    "batches": ("batches.html", "Batches", batches),
}
