"""examples/fastapi_app through FastAPI's TestClient, on memory://, with a burst worker run in the test."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from fastapi.testclient import TestClient

from tasks import registry
from tests.unit.helpers import drain

pytestmark = pytest.mark.timeout(30)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fastapi_app"
#: The example's top-level modules: imported afresh by each test, forgotten after it (the job's name too).
MODULES = ("webapp", "reports")


@pytest.fixture
def webapp(memory_app: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    monkeypatch.syspath_prepend(str(EXAMPLE))
    yield importlib.import_module("webapp")
    for name in MODULES:
        sys.modules.pop(name, None)
    registry.unregister("reports.build_report")


@pytest.fixture
def client(webapp: ModuleType) -> Iterator[TestClient]:
    with TestClient(webapp.app) as client:
        yield client


def test_asking_for_a_report_dispatches_its_job_and_answers_at_once(client: TestClient) -> None:
    # When a report is asked for
    response = client.post("/reports", params={"day": "2026-11-29"})

    # Then the answer is 202 Accepted with the id of a job that waits for a worker
    assert response.status_code == 202
    job_id = response.json()["id"]
    assert client.get(f"/reports/{job_id}").json()["status"] == "queued"


def test_the_report_is_there_once_a_worker_ran_its_job(client: TestClient) -> None:
    # Given a report asked for
    job_id = client.post("/reports", params={"day": "2026-11-29"}).json()["id"]

    # When a worker drains the queue
    assert drain(["reports"]) == 0

    # Then its endpoint shows the job's result
    assert client.get(f"/reports/{job_id}").json() == {
        "id": job_id,
        "status": "succeeded",
        "result": {"day": "2026-11-29", "orders": 42, "revenue_eur": 1234.5},
        "error": None,
    }


def test_a_job_nobody_sent_is_not_found(client: TestClient) -> None:
    assert client.get("/reports/0123456789abcdef").status_code == 404


def test_the_dashboard_is_mounted_when_tasks_has_one(webapp: ModuleType) -> None:
    # tasks.dashboard does not exist yet: when it comes, this says whether the example still finds it
    assert webapp.dashboard_mounted == (importlib.util.find_spec("tasks.dashboard") is not None)
