"""The ASGI app: routes for the pages, their live refresh, and the actions (POST, CSRF-checked).

Templates are rendered by Jinja2 with autoescape on every template, so nothing read from the datastore (a
job's arguments, an error message) can become markup.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qs, urlencode

import jinja2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from ..backends.base import Backend
from ..errors import BackendUnavailable
from . import data, pages
from .security import Csrf, Guard

#: The longest form body an action accepts (a "retry selected" of a page of ids fits many times over).
MAX_FORM_BYTES = 256 * 1024


def _utc(epoch: float | None) -> str:
    if epoch is None:
        return "-"
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _ago(epoch: float | None) -> str:
    return "-" if epoch is None else _duration(time.time() - epoch)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = max(seconds, 0.0)
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds // 60:.0f} min {seconds % 60:02.0f} s"
    if seconds < 86400:
        return f"{seconds // 3600:.0f} h {seconds % 3600 // 60:02.0f} min"
    return f"{seconds // 86400:.0f} d {seconds % 86400 // 3600:.0f} h"


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("tasks.dashboard", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters.update(utc=_utc, ago=_ago, duration=_duration)
    macros = env.get_template("macros.html").module  # globals: a page's live block is rendered on its own too
    env.globals.update(action=macros.action, chart=macros.chart)  # type: ignore[attr-defined]
    return env


class Dashboard:
    """The app's state: the backend it reads, its templates, its CSRF secret and whether it is read-only."""

    def __init__(self, backend: Callable[[], Backend], *, read_only: bool, secret: bytes) -> None:
        self.backend = backend
        self.read_only = read_only
        self.csrf = Csrf(secret)
        self.env = environment()

    def context(self, request: Request, name: str, values: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        csrf, fresh = self.csrf.token_for(request)
        base = str(request.scope.get("root_path") or "")
        backend = self.backend()
        return {
            **values,
            "page": name,
            "title": pages.PAGES[name][1],
            "base": base,
            "csrf": csrf,
            "read_only": self.read_only,
            "backend": backend.description,
            "notice": request.query_params.get("notice"),
            "path": request.url.path[len(base) :] or "/",
            "query": request.url.query,
        }, fresh

    def page(self, name: str) -> Callable[[Request], Awaitable[Response]]:
        """The GET route of page ``name``."""

        async def route(request: Request) -> Response:
            return await run_in_threadpool(self.render, request, name)  # backend calls block: not on the loop

        return route

    def render(self, request: Request, name: str) -> Response:
        template, _, build = pages.PAGES[name]
        try:
            values = build(self.backend(), request.query_params)
        except pages.NotFound as exc:
            return PlainTextResponse(f"404: {exc}", status_code=404)
        except BackendUnavailable as exc:
            return PlainTextResponse(f"503: {exc}", status_code=503)
        ctx, fresh = self.context(request, name, values)
        response = HTMLResponse(self.env.get_template(template).render(ctx))
        if fresh:
            self.csrf.set_cookie(response, request, fresh)
        return response

    async def live(self, request: Request) -> Response:
        """The ``live`` block of a page, as JSON: what the page's script swaps in every two seconds."""
        return await run_in_threadpool(self.render_live, request)

    def render_live(self, request: Request) -> Response:
        name = request.path_params["page"]
        if name not in pages.PAGES:
            return JSONResponse({"error": f"no page {name!r}"}, status_code=404)
        template, _, build = pages.PAGES[name]
        try:
            values = build(self.backend(), request.query_params)
        except pages.NotFound as exc:
            return JSONResponse({"error": str(exc)}, status_code=404)
        except BackendUnavailable as exc:
            return JSONResponse({"error": str(exc)}, status_code=503)
        ctx, _ = self.context(request, name, values)
        compiled = self.env.get_template(template)
        html = "".join(compiled.blocks["live"](compiled.new_context(ctx)))
        return JSONResponse({"html": html, "at": time.time()})

    def action(self, act: Callable[[Backend, dict[str, Any]], str]) -> Callable[[Request], Awaitable[Response]]:
        """A POST route running ``act`` (which returns the notice to show) once the request is allowed."""

        async def route(request: Request) -> Response:
            if self.read_only:
                return PlainTextResponse("403: this dashboard is read-only", status_code=403)
            body = await request.body()
            if len(body) > MAX_FORM_BYTES:
                return PlainTextResponse("413: form too large", status_code=413)
            form = _form(body)
            if not self.csrf.valid(request, form):
                return PlainTextResponse("403: missing or wrong CSRF token: reload the page", status_code=403)
            try:
                notice = await run_in_threadpool(act, self.backend(), form)
            except (ValueError, BackendUnavailable) as exc:
                notice = f"Not done: {exc}"
            return RedirectResponse(_next(request, form, notice), status_code=303)

        return route


def _form(body: bytes) -> dict[str, Any]:
    """An urlencoded form: each field's value, or the list of values of a repeated field (``ids``)."""
    parsed = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {key: values if key == "ids" else values[-1] for key, values in parsed.items()}


def _next(request: Request, form: dict[str, Any], notice: str) -> str:
    """Where an action returns: the page it came from (a path of this dashboard only), with its notice."""
    base = str(request.scope.get("root_path") or "")
    target = str(form.get("next") or "/")
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        target = "/"
    path, _, query = target.partition("?")
    kept = [(k, v) for k, vs in parse_qs(query).items() if k != "notice" for v in vs]
    return base + path + "?" + urlencode([*kept, ("notice", notice)])


def _queue(form: dict[str, Any]) -> str:
    queue = form.get("queue")
    if not isinstance(queue, str) or not queue:
        raise ValueError("no queue named")
    return queue


def _chosen(form: dict[str, Any]) -> list[str] | None:
    """The failed jobs an action names: one (a row's button), those selected, or ``None`` for all of the queue."""
    one = form.get("one")
    if one:
        return [str(one)]
    if form.get("all") == "1":
        return None
    return [str(i) for i in form.get("ids", []) if i]


def retry(backend: Backend, form: dict[str, Any]) -> str:
    queue, ids = _queue(form), _chosen(form)
    if ids == []:
        return "Nothing selected"
    moved = data.retry_failed(backend, queue, ids)
    return f"{moved} job(s) of {queue} moved back to ready"


def delete_failed(backend: Backend, form: dict[str, Any]) -> str:
    queue, ids = _queue(form), _chosen(form)
    if ids == []:
        return "Nothing selected"
    return f"{data.delete_failed(backend, queue, ids)} failed job(s) of {queue} deleted"


def pause(backend: Backend, form: dict[str, Any]) -> str:
    queue, paused = _queue(form), form.get("paused") == "1"
    data.set_paused(backend, queue, paused)
    return f"{queue} {'paused' if paused else 'resumed'}"


def cancel(backend: Backend, form: dict[str, Any]) -> str:
    queue, job_id = _queue(form), str(form.get("id") or "")
    done = data.cancel(backend, queue, job_id)
    return {
        "cancelled": f"{job_id} cancelled: it will not run",
        "abort_requested": f"{job_id} is running: asked to stop",
        "running": f"{job_id} is running",
        "finished": f"{job_id} had already ended",
        "unknown": f"no job {job_id} in {queue}",
    }[done]


def cancel_batch(backend: Backend, form: dict[str, Any]) -> str:
    workflow_id = str(form.get("id") or "")
    if data.cancel_batch(backend, workflow_id):
        return f"{workflow_id} cancelled: its members not yet started will not run"
    return f"{workflow_id} had already ended"


def build_app(
    backend: Callable[[], Backend],
    *,
    read_only: bool,
    token: str | None,
    secret: bytes | None,
    allowed_hosts: Sequence[str] | None,
) -> Any:
    dash = Dashboard(backend, read_only=read_only, secret=secret or secrets.token_bytes(32))
    paths = {
        "overview": "/",
        "queues": "/queues",
        "jobs": "/jobs",
        "job": "/job",
        "failed": "/failed",
        "workers": "/workers",
        "schedules": "/schedules",
        "batches": "/batches",
    }
    routes: list[BaseRoute] = [Route(path, dash.page(name), name=name) for name, path in paths.items()]
    routes += [
        Route("/api/live/{page}", dash.live),
        Route("/actions/retry", dash.action(retry), methods=["POST"]),
        Route("/actions/delete-failed", dash.action(delete_failed), methods=["POST"]),
        Route("/actions/pause", dash.action(pause), methods=["POST"]),
        Route("/actions/cancel", dash.action(cancel), methods=["POST"]),
        Route("/actions/cancel-batch", dash.action(cancel_batch), methods=["POST"]),
        Mount("/static", StaticFiles(packages=[("tasks.dashboard", "static")]), name="static"),
    ]
    app = Starlette(routes=routes)
    app.state.dashboard = dash
    return Guard(app, token=token, allowed_hosts=allowed_hosts)
