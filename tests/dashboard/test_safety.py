"""The dashboard's safety over HTTP, on Redis and SQLite: token, CSRF, POST-only actions, read-only mode, no
secret on any page, and redirects that stay on the dashboard."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest
from starlette.testclient import TestClient

import tasks.config
from tasks.backends.base import Backend
from tasks.dashboard import app
from tasks.dashboard.security import SESSION_COOKIE
from tasks.dashboard.serve import chosen_token, is_loopback
from tasks.errors import ConfigurationError
from tests.dashboard.conftest import TOKEN, csrf_of, enqueue, make_failed
from tests.support.redis_server import RedisServer

PAGES = ("/", "/queues", "/jobs", "/failed", "/workers", "/schedules", "/batches", "/job?queue=q&id=f1")


def test_actions_are_post_only_and_need_the_csrf_token(client: TestClient, backend: Backend) -> None:
    make_failed(backend, "q", "f1", "f2")
    page = client.get("/failed", params={"queue": "q"}).text
    token = csrf_of(page)

    # A GET, a POST without a token, with a wrong one, or without the cookie it is bound to: nothing moves
    assert client.get("/actions/retry", params={"queue": "q", "all": "1"}).status_code == 405
    assert client.post("/actions/retry", data={"queue": "q", "all": "1"}).status_code == 403
    assert client.post("/actions/retry", data={"queue": "q", "all": "1", "csrf": "0" * 64}).status_code == 403
    with TestClient(app(backend)) as stranger:  # another browser: its own cookie, so our token is not its
        stranger.get("/")
        assert stranger.post("/actions/retry", data={"queue": "q", "all": "1", "csrf": token}).status_code == 403
    assert backend.queue_stats("q").failed == 2

    # With the page's token the action runs, and the page it came from says what it did
    reply = client.post("/actions/retry", data={"queue": "q", "one": "f1", "csrf": token, "next": "/failed?queue=q"})
    assert reply.status_code == 200 and "1 job(s) of q moved back to ready" in reply.text
    assert [i.id for i in backend.jobs("q", "queued")] == ["f1"]


def test_failed_jobs_are_retried_or_deleted_one_selected_or_all(client: TestClient, backend: Backend) -> None:
    make_failed(backend, "q", "f1", "f2", "f3", "f4")
    token = csrf_of(client.get("/failed?queue=q").text)

    client.post("/actions/retry", data={"queue": "q", "ids": ["f1", "f3"], "csrf": token})
    assert sorted(i.id for i in backend.jobs("q", "queued")) == ["f1", "f3"]
    client.post("/actions/retry", data={"queue": "q", "all": "1", "csrf": token})
    assert backend.queue_stats("q").failed == 0
    assert backend.queue_stats("q").ready == 4

    make_failed(backend, "other", "g1", "g2", "g3", "g4")
    client.post("/actions/delete-failed", data={"queue": "other", "one": "g1", "csrf": token})
    assert [i.id for i in backend.jobs("other", "failed")] == ["g4", "g3", "g2"]
    reply = client.post("/actions/delete-failed", data={"queue": "other", "ids": ["g2", "g4"], "csrf": token})
    assert "2 failed job(s) of other deleted" in reply.text
    assert [i.id for i in backend.jobs("other", "failed")] == ["g3"]
    assert "Nothing selected" in client.post("/actions/delete-failed", data={"queue": "other", "csrf": token}).text
    client.post("/actions/delete-failed", data={"queue": "other", "all": "1", "csrf": token})
    assert backend.queue_stats("other").failed == 0 and backend.failed_job("other", "g3") is None


def test_an_action_returns_only_to_a_page_of_the_dashboard(client: TestClient, backend: Backend) -> None:
    make_failed(backend, "q", "f1")
    token = csrf_of(client.get("/failed?queue=q").text)
    for target in ("//evil.example/x", "https://evil.example/", "\\\\evil.example"):
        reply = client.post(
            "/actions/retry", data={"queue": "q", "one": "f1", "csrf": token, "next": target}, follow_redirects=False
        )
        assert reply.status_code == 303 and reply.headers["location"].startswith("/?notice=")


def test_read_only_mode_hides_every_action_and_refuses_them(backend: Backend) -> None:
    make_failed(backend, "q", "f1")
    enqueue(backend, "q", "j1")
    with TestClient(app(backend, read_only=True)) as http:
        for path in PAGES:
            html = http.get(path).text
            assert "/actions/" not in html and 'method="post"' not in html and "Retry" not in html, path
        reply = http.post("/actions/retry", data={"queue": "q", "all": "1", "csrf": "0" * 64})
    assert reply.status_code == 403 and "read-only" in reply.text
    assert backend.queue_stats("q").failed == 1


def test_with_a_token_every_request_needs_it(backend: Backend) -> None:
    enqueue(backend, "q", "j1")
    with TestClient(app(backend, token=TOKEN)) as http:
        # Without it, or with a wrong one, nothing is served: pages, live data, static files, actions
        for path in ("/", "/api/live/queues", "/static/dashboard.js", "/job?queue=q&id=j1"):
            assert http.get(path).status_code == 401, path
        assert http.get("/", headers={"Authorization": "Bearer wrong-token-wrong-token"}).status_code == 401
        assert http.get("/?token=wrong-token-wrong-token").status_code == 401
        assert http.post("/actions/retry", data={"queue": "q", "all": "1"}).status_code == 401

        # A bearer header works for scripts
        assert http.get("/queues", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200

        # A browser opens ?token= once: it gets a session cookie and is sent to the address without the token
        first = http.get(f"/jobs?queue=q&token={TOKEN}", follow_redirects=False)
        assert first.status_code == 303 and first.headers["location"] == "/jobs?queue=q"
        cookie = first.cookies.get(SESSION_COOKIE) or http.cookies.get(SESSION_COOKIE)
        assert cookie and TOKEN not in cookie
        assert "httponly" in first.headers["set-cookie"].lower() and "samesite=strict" in first.headers[
            "set-cookie"
        ].lower()
        page = http.get("/jobs?queue=q")
        assert page.status_code == 200 and "j1" in page.text and TOKEN not in page.text


def test_a_short_token_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="at least 16 characters"):
        app(token="short")


def test_binding_beyond_this_machine_needs_a_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TASKS_DASHBOARD_TOKEN", raising=False)

    def args(host: str, token: str | None = None) -> argparse.Namespace:
        return argparse.Namespace(host=host, token=token)

    assert chosen_token(args("127.0.0.1")) is None
    assert chosen_token(args("::1")) is None and is_loopback("localhost") and not is_loopback("0.0.0.0")
    with pytest.raises(ConfigurationError, match="give it a token"):
        chosen_token(args("0.0.0.0"))
    with pytest.raises(ConfigurationError, match="TASKS_DASHBOARD_TOKEN, which is not set"):
        chosen_token(args("0.0.0.0", ""))
    assert chosen_token(args("0.0.0.0", TOKEN)) == TOKEN
    monkeypatch.setenv("TASKS_DASHBOARD_TOKEN", TOKEN)
    assert chosen_token(args("10.1.2.3")) == TOKEN and chosen_token(args("10.1.2.3", "")) == TOKEN


def test_no_page_shows_the_redis_password_or_the_signing_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a Redis that needs a password, and a signing key for dill jobs
    password, secret = "hunter2-dash-password", "signing-key-never-shown-0123456789"
    server = RedisServer(tmp_path, appendonly=False, extra=("--requirepass", password))
    server.start()
    try:
        url = f"redis://:{password}@127.0.0.1:{server.port}/0"
        tasks.config.configure(url=url, secret=secret)
        backend = tasks.config.get_backend()
        from tests import jobs

        handle = jobs.dill_apply.delay(len, [1, 2, 3])
        make_failed(backend, "errors", "f1")
        with TestClient(app()) as http:  # the configured backend
            pages = [http.get(path).text for path in PAGES]
            pages.append(http.get("/job", params={"queue": handle.queue, "id": handle.id}).text)
            pages += [http.get(f"/api/live/{name}").text for name in ("overview", "queues", "failed")]
        stored = backend.status(handle.queue, handle.id)
        assert stored is not None and stored.payload is not None
        signature = re.search(r'"data": ?"([0-9a-f]{16,})\.', stored.payload)
        for html in pages:
            assert password not in html and secret not in html
            assert signature is None or signature.group(1) not in html
        assert "***" in pages[0]  # the backend is named, its password masked
        assert "(dill-encoded arguments are not shown)" in pages[-4]
    finally:
        tasks.config.reset()
        server.kill()


def test_without_a_token_the_command_answers_only_to_loopback_host_names(backend: Backend) -> None:
    from tasks.dashboard.security import LOOPBACK_HOSTS

    local = app(backend, allowed_hosts=LOOPBACK_HOSTS)  # what python -m tasks dashboard serves without a token
    for base_url in ("http://127.0.0.1:8700", "http://localhost:8700", "http://[::1]:8700"):
        with TestClient(local, base_url=base_url) as http:
            assert http.get("/queues").status_code == 200, base_url
    with TestClient(local, base_url="http://rebound.evil.example:8700") as http:  # DNS rebinding
        refused = http.get("/queues")
    assert refused.status_code == 400 and "host name" in refused.text
    assert "content-security-policy" in refused.headers


def test_a_post_from_another_origin_is_refused_even_with_the_csrf_token(client: TestClient, backend: Backend) -> None:
    make_failed(backend, "q", "f1")
    form = {"queue": "q", "one": "f1", "csrf": csrf_of(client.get("/failed?queue=q").text)}
    foreign = client.post("/actions/retry", data=form, headers={"Origin": "https://evil.example"})
    assert foreign.status_code == 403 and backend.queue_stats("q").failed == 1
    own = client.post("/actions/retry", data=form, headers={"Origin": "http://testserver"})
    assert own.status_code == 200 and backend.queue_stats("q").ready == 1
