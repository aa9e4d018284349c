"""The app mounted under a path of another ASGI app (Starlette, FastAPI): every link, script and redirect
stays under that path."""

from __future__ import annotations

import re

from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from tasks.backends.base import Backend
from tasks.dashboard import app
from tests.dashboard.conftest import csrf_of, make_failed


def test_mounted_under_a_path_every_link_stays_under_it(backend: Backend) -> None:
    make_failed(backend, "q", "f1")
    outer = Starlette(routes=[Mount("/ops/tasks", app=app(backend))])
    with TestClient(outer) as http:
        page = http.get("/ops/tasks/failed?queue=q")
        assert page.status_code == 200
        links = re.findall(r'(?:href|src|action|data-live)="([^"]+)"', page.text)
        local = [link for link in links if not link.startswith(("data:", "#"))]
        assert local and all(link.startswith("/ops/tasks/") for link in local), local
        assert http.get("/ops/tasks/static/dashboard.css").status_code == 200
        assert http.get("/ops/tasks/api/live/failed?queue=q").json()["html"]

        reply = http.post(
            "/ops/tasks/actions/retry",
            data={"queue": "q", "one": "f1", "csrf": csrf_of(page.text), "next": "/failed?queue=q"},
            follow_redirects=False,
        )
    assert reply.status_code == 303 and reply.headers["location"].startswith("/ops/tasks/failed?queue=q&notice=")
    assert backend.queue_stats("q").ready == 1


def test_mounted_in_fastapi(backend: Backend) -> None:
    from fastapi import FastAPI

    api = FastAPI()
    api.mount("/dashboard", app(backend, read_only=True))
    with TestClient(api) as http:
        assert http.get("/dashboard/").status_code == 200
        assert 'href="/dashboard/queues"' in http.get("/dashboard/queues").text
