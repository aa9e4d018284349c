"""Placeholder replaced in the Prometheus step."""

from __future__ import annotations

from ..backends.base import Backend


def serve(backend: Backend, *, host: str, port: int) -> None:
    raise NotImplementedError
