"""The jobs of the FastAPI example: work too slow for a request, done by a worker."""

from __future__ import annotations

import time

from tasks import current_job, job


@job(queue="reports", max_attempts=3, backoff=1, timeout=60)
def build_report(day: str) -> dict[str, object]:
    """Stands for a slow query: the endpoint answers at once, a worker builds the report."""
    current_job().log(f"building the report for {day}")
    time.sleep(0.2)
    return {"day": day, "orders": 42, "revenue_eur": 1234.5}
