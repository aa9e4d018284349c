"""What a page may show of a stored payload or result: the job's name and JSON arguments, nothing secret.

A payload is read as JSON only and never run through a serializer: dill data (signed pickles) is neither
loaded nor shown, and a signature never reaches a page. A payload that is not what a producer writes
(damaged, or written by hand) shows as such instead of failing the page. Escaping is the templates' job
(Jinja2 autoescape): the text returned here is raw.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

#: The longest argument or result text a page shows; the rest is cut, with a marker.
SHOW_LIMIT = 20_000


@dataclass(frozen=True)
class Shown:
    """A payload as a page shows it."""

    name: str
    args: str
    kwargs: str
    serializer: str
    options: dict[str, Any]


def _body(payload: str | None) -> dict[str, Any] | None:
    if not payload:
        return None
    try:
        body = json.loads(payload)
    except (ValueError, TypeError, RecursionError):
        return None
    return body if isinstance(body, dict) else None


def job_name(payload: str | None) -> str:
    """The job's registered name, or ``?`` when the payload does not say."""
    body = _body(payload)
    name = body.get("name") if body else None
    return name if isinstance(name, str) else "?"


def cut(text: str, limit: int = SHOW_LIMIT) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... [{len(text) - limit} more characters]"


def shown(payload: str | None) -> Shown:
    """Name, arguments and dispatch options of a payload, for the job page."""
    body = _body(payload)
    if body is None:
        return Shown("?", "(payload missing or not JSON)", "", "?", {})
    serializer = str(body.get("serializer", "json"))
    if serializer == "json":
        args, kwargs = cut(_dump(body.get("args", []))), cut(_dump(body.get("kwargs", {})))
    else:
        args, kwargs = f"({serializer}-encoded arguments are not shown)", ""
    options: dict[str, Any] = {key: body.get(key) for key in ("max_attempts", "timeout", "result_ttl") if key in body}
    return Shown(job_name(payload), args, kwargs, serializer, options)


def shown_result(result: str | None) -> str | None:
    """A result as stored when it is JSON (the json serializer's); any other encoding is not shown."""
    if result is None:
        return None
    try:
        json.loads(result)
    except (ValueError, TypeError, RecursionError):
        return "(result in another encoding, not shown)"
    return cut(result)


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=None)
