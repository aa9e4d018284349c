"""A FastAPI app that hands slow work to tasks: one endpoint dispatches a job and answers with its id at once,
another reads the job's status and, once it succeeded, its result.

The endpoints are plain ``def`` functions: dispatching and reading a status are quick blocking calls to the
backend, which FastAPI runs in its thread pool (from an ``async def`` endpoint, call them through
``fastapi.concurrency.run_in_threadpool``).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel
from reports import build_report

from tasks import JobFailed, JobHandle

app = FastAPI(title="reports, built by tasks")


class ReportJob(BaseModel):
    id: str
    status: str
    result: dict[str, Any] | None = None
    error: str | None = None


@app.post("/reports", status_code=202)
def request_report(day: str) -> ReportJob:
    """Dispatch the report's job; the answer (202 Accepted) names the job to poll."""
    handle = build_report.delay(day)
    return ReportJob(id=handle.id, status="queued")


@app.get("/reports/{job_id}")
def read_report(job_id: str) -> ReportJob:
    """The job's status; its result once it succeeded, its error once it failed for good."""
    handle: JobHandle[dict[str, Any]] = JobHandle(job_id, build_report.options.queue)
    try:
        status = handle.status()
    except LookupError:
        raise HTTPException(status_code=404, detail="no such report job (or its result expired)") from None
    if status == "succeeded":
        return ReportJob(id=job_id, status=status, result=handle.result(timeout=0))
    if status == "failed":
        try:
            handle.result(timeout=0)
        except JobFailed as exc:
            return ReportJob(id=job_id, status=status, error=f"{exc.error_type}: {exc.message}")
    return ReportJob(id=job_id, status=status)


def mount_dashboard(target: FastAPI, path: str = "/tasks") -> bool:
    """Mount tasks' dashboard (an ASGI app) at ``path`` when this install of tasks has one; say whether it did."""
    try:
        from tasks.dashboard import app as dashboard_app
    except ImportError:  # a version of tasks without a dashboard
        return False
    target.mount(path, dashboard_app())  # read-write on this machine only: give it token=... before exposing it
    return True


dashboard_mounted = mount_dashboard(app)
