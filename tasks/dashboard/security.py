"""What makes the dashboard safe to expose: the access token, CSRF tokens, and the headers on every response.

* Access: with a token configured, every request must carry it, as ``Authorization: Bearer <token>`` or as
  a session cookie that a first visit with ``?token=<token>`` sets (and is then redirected without it, so the
  token leaves the address bar and the history). Both are compared in constant time.
* CSRF: every state-changing request is a POST whose form carries ``csrf``, an HMAC of a random cookie under
  this app's secret. A page of another site can neither read the cookie nor compute the HMAC; the cookie is
  also ``SameSite=Strict``.
* Headers: a Content-Security-Policy that allows scripts, styles and requests only from the dashboard itself
  (no inline script or style), no framing, no referrer, no sniffing, no caching.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
]
SESSION_COOKIE = "tasks_dashboard_session"
CSRF_COOKIE = "tasks_dashboard_csrf"


def _mac(key: bytes, message: str) -> str:
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


def session_value(token: str) -> str:
    """The session cookie for ``token``: derived from it, so a cookie is worth no more than the token."""
    return _mac(token.encode(), "tasks-dashboard-session")


def cookie_path(scope: Scope) -> str:
    return str(scope.get("root_path") or "") + "/"


#: The Host names a dashboard bound to a loopback address answers to without a token (anything else may be a
#: DNS-rebinding page of another site, which the browser would treat as same-origin).
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")


class Guard:
    """ASGI middleware: the Host check and access token (when set), and the security headers on every response."""

    def __init__(self, app: ASGIApp, *, token: str | None, allowed_hosts: Sequence[str] | None = None) -> None:
        self.app = app
        self.token = token
        self.allowed_hosts = None if allowed_hosts is None else {h.lower() for h in allowed_hosts}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *HEADERS]
            await send(message)

        request = Request(scope)
        refusal = self._wrong_host(request) or self._wrong_origin(request)
        if refusal is None and self.token:
            refusal = self._refusal(request)
        if refusal is not None:
            await refusal(scope, receive, send_with_headers)
        else:
            await self.app(scope, receive, send_with_headers)

    def _wrong_host(self, request: Request) -> Response | None:
        if self.allowed_hosts is None or (request.url.hostname or "").lower() in self.allowed_hosts:
            return None
        return PlainTextResponse("400: this dashboard does not answer to that host name", status_code=400)

    @staticmethod
    def _wrong_origin(request: Request) -> Response | None:
        """A POST that a browser says comes from another origin is refused before anything else is looked at."""
        origin = request.headers.get("origin")
        if request.method != "POST" or not origin or origin == "null":
            return None
        if urlsplit(origin).netloc.lower() == request.headers.get("host", "").lower():
            return None
        return PlainTextResponse("403: a request from another site", status_code=403)

    def _refusal(self, request: Request) -> Response | None:
        """``None`` when the request carries the token; else the response that refuses it (or that turns a
        ``?token=`` visit into a session)."""
        assert self.token is not None
        bearer = request.headers.get("authorization", "")
        if bearer.startswith("Bearer ") and hmac.compare_digest(bearer[7:].encode(), self.token.encode()):
            return None
        cookie = request.cookies.get(SESSION_COOKIE, "")
        if cookie and hmac.compare_digest(cookie.encode(), session_value(self.token).encode()):
            return None
        given = request.query_params.get("token")
        if given is not None and hmac.compare_digest(given.encode(), self.token.encode()):
            rest = urlencode([(k, v) for k, v in parse_qsl(request.url.query) if k != "token"])
            target = request.url.path + (f"?{rest}" if rest else "")
            response = RedirectResponse(target, status_code=303)
            response.set_cookie(
                SESSION_COOKIE,
                session_value(self.token),
                httponly=True,
                samesite="strict",
                path=cookie_path(request.scope),
            )
            return response
        return PlainTextResponse(
            "401: this dashboard needs its token: open it once with ?token=<token>, or send "
            "'Authorization: Bearer <token>'",
            status_code=401,
        )


class Csrf:
    """CSRF tokens: an HMAC, under ``secret``, of a random per-browser cookie."""

    def __init__(self, secret: bytes) -> None:
        self.secret = secret

    def token_for(self, request: Request) -> tuple[str, str | None]:
        """The form token for ``request``, and the cookie to set when the browser has none yet."""
        cookie = request.cookies.get(CSRF_COOKIE)
        fresh = None
        if not cookie or len(cookie) != 64:
            cookie = fresh = secrets.token_hex(32)
        return _mac(self.secret, cookie), fresh

    def valid(self, request: Request, form: dict[str, Any]) -> bool:
        cookie = request.cookies.get(CSRF_COOKIE, "")
        given = form.get("csrf")
        if not cookie or not isinstance(given, str):
            return False
        return hmac.compare_digest(given.encode(), _mac(self.secret, cookie).encode())

    @staticmethod
    def set_cookie(response: Response, request: Request, value: str) -> None:
        response.set_cookie(CSRF_COOKIE, value, httponly=True, samesite="strict", path=cookie_path(request.scope))
