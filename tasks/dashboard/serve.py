"""``python -m tasks dashboard``: its options, the safety checks on them, and serving the app with uvicorn."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os

from ..errors import ConfigurationError
from . import TOKEN_ENV

log = logging.getLogger("tasks.dashboard")

#: The address served by default: this machine only.
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8700


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address to bind ({DEFAULT_HOST}: this machine only)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port ({DEFAULT_PORT})")
    parser.add_argument(
        "--token",
        nargs="?",
        const="",
        default=None,
        help=f"require this access token (without a value, or by default: {TOKEN_ENV}); "
        "required to bind anything but a loopback address",
    )
    parser.add_argument("--read-only", action="store_true", help="show everything, change nothing (no actions)")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def chosen_token(args: argparse.Namespace) -> str | None:
    """The access token: ``--token VALUE``, else ``TASKS_DASHBOARD_TOKEN``; refuses to serve another address
    without one (anyone who can reach the port could otherwise retry and delete jobs)."""
    token = args.token or os.environ.get(TOKEN_ENV) or None
    if args.token == "" and token is None:
        raise ConfigurationError(f"--token without a value reads {TOKEN_ENV}, which is not set")
    if token is None and not is_loopback(args.host):
        raise ConfigurationError(
            f"binding {args.host} exposes the dashboard to other machines: give it a token "
            f"({TOKEN_ENV}=<secret> or --token), or bind 127.0.0.1"
        )
    return token


def serve(args: argparse.Namespace) -> int:
    """Serve the dashboard of the configured backend until interrupted."""
    from .. import config
    from . import app

    token = chosen_token(args)
    backend = config.get_backend()
    backend.ping()
    try:
        import uvicorn
    except ImportError as exc:
        raise ConfigurationError("the dashboard needs its extra: pip install 'tasks[dashboard]'") from exc
    from .security import LOOPBACK_HOSTS

    hosts = None if token else LOOPBACK_HOSTS  # without a token: loopback names only (no DNS rebinding)
    asgi = app(backend, token=token, read_only=args.read_only, allowed_hosts=hosts)
    shown_host = f"[{args.host}]" if ":" in args.host else args.host
    log.info(
        "dashboard of %s on http://%s:%d/%s%s",
        backend.description,
        shown_host,
        args.port,
        " (open it once with ?token=<token>)" if token else "",
        " read-only" if args.read_only else "",
    )
    uvicorn.run(asgi, host=args.host, port=args.port, log_level="warning", server_header=False)
    return 0
