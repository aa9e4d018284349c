"""The wire envelope of a job and the serializers of its arguments and result.

Two serializers sit behind one protocol: ``json`` (the default, readable from any language) and ``dill``
(arbitrary Python values, opt-in). Dill can run code when it loads, so a dill blob is only ever loaded after
its HMAC-SHA256 verifies against the deployment's secret; without a secret, dill cannot be used at all.
The layout of the envelope is documented in docs/protocol.md; ``PROTOCOL_VERSION`` changes with it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

from .errors import ConfigurationError, SerializationError, SignatureError

#: Version of the payload layout (docs/protocol.md). A worker refuses payloads of a version it does not know.
PROTOCOL_VERSION = 1


class Serializer(Protocol):
    """Turns Python values into text stored in the datastore, and back."""

    name: str

    def dumps(self, value: Any) -> str: ...

    def loads(self, text: str) -> Any: ...


#: One encoder for every dump: ``json.dumps`` with options builds a new encoder per call, which costs more
#: than encoding a small payload.
_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False)


def _c_encode() -> Callable[[Any], str] | None:
    """CPython's C encoder built once (``JSONEncoder.encode`` builds it on every call: two thirds of the cost
    of encoding a job's arguments). It keeps no memory of objects seen, so threads may share it; a cycle, which
    that memory would catch, ends in ``RecursionError``. ``None`` where the C encoder is missing."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - not CPython
        return None
    e = _ENCODER
    encode = make(None, e.default, json.encoder.encode_basestring_ascii, None, ":", ",", False, False, False)
    return lambda value: "".join(encode(value, 0))


_C_ENCODE = _c_encode()


class JsonSerializer:
    """Strict JSON: NaN and infinities are refused, so every payload is valid JSON for other languages."""

    name = "json"

    def dumps(self, value: Any) -> str:
        try:
            return _C_ENCODE(value) if _C_ENCODE is not None else _ENCODER.encode(value)
        except RecursionError as exc:
            raise SerializationError("circular reference (or nesting too deep) in the value") from exc
        except (TypeError, ValueError) as exc:
            raise SerializationError(str(exc)) from exc

    def loads(self, text: str) -> Any:
        return json.loads(text)


class DillSerializer:
    """Dill pickles, base64-encoded and prefixed with their HMAC so that nothing unsigned is ever loaded."""

    name = "dill"

    def __init__(self, secret: str | None) -> None:
        if not secret:
            raise ConfigurationError(
                "serializer='dill' needs a secret to sign payloads: set TASKS_SECRET or configure(secret=...)"
            )
        self._secret = secret

    def dumps(self, value: Any) -> str:
        import dill  # imported here: most deployments never use dill

        try:
            blob = base64.b64encode(dill.dumps(value)).decode("ascii")
        except Exception as exc:  # dill raises many types; the caller only needs to know it failed
            raise SerializationError(f"dill cannot encode {type(value).__name__}: {exc}") from exc
        return f"{sign(self._secret, blob)}.{blob}"

    def loads(self, text: str) -> Any:
        """The value of signed ``text``: ``SignatureError`` unless it verifies, ``PayloadError`` if it then does
        not load (a class the process cannot import, a damaged blob)."""
        import dill

        signature, _, blob = text.partition(".")
        if not verify(self._secret, blob, signature):
            raise SignatureError("bad signature")
        try:
            return dill.loads(base64.b64decode(blob))
        except Exception as exc:  # unpickling raises anything: the blob is signed by us, but may be stale
            raise PayloadError(f"dill data does not load: {type(exc).__name__}: {exc}") from exc


def sign(secret: str, text: str) -> str:
    """Hex HMAC-SHA256 of ``text`` under ``secret``, both as their UTF-8 bytes.

    Text read from the datastore may hold bytes that are not UTF-8 (kept as surrogate escapes): they are signed
    as the very bytes stored.
    """
    return hmac.new(secret.encode(), text.encode("utf-8", "surrogateescape"), hashlib.sha256).hexdigest()


def verify(secret: str, text: str, signature: object) -> bool:
    """Constant-time check that ``signature`` is ``sign(secret, text)``; anything but an ASCII string (a
    damaged or forged record) simply does not verify."""
    if not isinstance(signature, str) or not signature.isascii():
        return False
    return hmac.compare_digest(sign(secret, text), signature)


def get_serializer(name: str, secret: str | None) -> Serializer:
    """The serializer called ``name``; raises ``ConfigurationError`` for an unknown name."""
    if name == "json":
        return JSON
    if name == "dill":
        return DillSerializer(secret)
    raise ConfigurationError(f"unknown serializer {name!r}: use 'json' (default) or 'dill'")


JSON = JsonSerializer()


class PayloadError(ValueError):
    """A payload that cannot be decoded: not JSON, a wrong version, or fields missing."""


class Envelope(NamedTuple):
    """The decoded payload of one job (docs/protocol.md). A named tuple: one is made per job run, and a tuple is
    made in a fraction of the time a frozen dataclass takes."""

    id: str
    name: str
    queue: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    serializer: str
    max_attempts: int
    timeout_s: float | None
    result_ttl_s: float
    enqueued_at: float
    run_at: float | None


def check_arguments(serializer: Serializer, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Raise ``SerializationError`` naming the first argument ``serializer`` cannot encode."""
    for index, value in enumerate(args):
        _check_one(serializer, f"positional argument {index}", value)
    for key, value in kwargs.items():
        _check_one(serializer, f"argument {key!r}", value)


def _check_one(serializer: Serializer, label: str, value: Any) -> None:
    try:
        serializer.dumps(value)
    except SerializationError as exc:
        raise SerializationError(
            f"{label} ({type(value).__name__}) cannot be encoded by the {serializer.name!r} serializer: {exc}"
        ) from exc


class PayloadTemplate:
    """The payload fields that a job's dispatch options fix, encoded once; ``fill`` adds one dispatch's own.

    A producer dispatching many jobs of one kind encodes only the id, the times and the arguments of each.
    The text is the same JSON object ``encode_envelope`` would write, with its keys in another order.
    """

    def __init__(
        self,
        *,
        name: str,
        queue: str,
        serializer: Serializer,
        max_attempts: int,
        timeout_s: float | None,
        result_ttl_s: float,
    ) -> None:
        self.serializer = serializer
        fixed = {
            "v": PROTOCOL_VERSION,
            "name": name,
            "queue": queue,
            "serializer": serializer.name,
            "max_attempts": max_attempts,
            "timeout": timeout_s,
            "result_ttl": result_ttl_s,
        }
        self._head = JSON.dumps(fixed)[:-1] + ","  # '{...,' : the rest comes from fill()

    def fill(
        self, job_id: str, args: tuple[Any, ...], kwargs: dict[str, Any], *, enqueued_at: float, run_at: float | None
    ) -> str:
        """The payload of one dispatch; raises ``SerializationError`` naming an argument that cannot be encoded.

        Written piece by piece: one encoder call for the arguments, none for the rest (an encoder call costs
        more than the few values it would write).
        """
        serializer = self.serializer
        try:
            if serializer.name == "json":
                data = f'"args":{JSON.dumps(list(args))},"kwargs":{JSON.dumps(kwargs) if kwargs else "{}"}'
            else:
                data = f'"data":{_quote(serializer.dumps([list(args), kwargs]))}'
            run_at_text = "null" if run_at is None else _number(run_at)
            times = f'"enqueued_at":{_number(enqueued_at)},"run_at":{run_at_text}'
        except SerializationError:
            check_arguments(serializer, args, kwargs)  # names the culprit
            raise
        job_id_text = _quote(job_id) if isinstance(job_id, str) else JSON.dumps(job_id)
        return f'{self._head}"id":{job_id_text},{times},{data}}}'


def _number(value: float) -> str:
    """A time as JSON writes it (``float.__repr__``); NaN and infinities are refused like everywhere else."""
    if type(value) is float and math.isfinite(value):
        return float.__repr__(value)
    return JSON.dumps(value)


#: JSON text of a string, exactly as the encoder writes it (ASCII, escaped).
_quote = json.encoder.encode_basestring_ascii


def encode_envelope(envelope: Envelope, serializer: Serializer) -> str:
    """The payload text of ``envelope``; raises ``SerializationError`` naming an argument that cannot be encoded."""
    template = PayloadTemplate(
        name=envelope.name,
        queue=envelope.queue,
        serializer=serializer,
        max_attempts=envelope.max_attempts,
        timeout_s=envelope.timeout_s,
        result_ttl_s=envelope.result_ttl_s,
    )
    return template.fill(
        envelope.id, envelope.args, envelope.kwargs, enqueued_at=envelope.enqueued_at, run_at=envelope.run_at
    )


def decode_envelope(payload: str, secret: str | None, *, with_arguments: bool = True) -> Envelope:
    """Parse and check a payload; raises ``PayloadError`` (malformed) or ``SignatureError`` (dill data not signed
    by us). Every field is checked here, so that a payload written by hand or damaged fails as a whole, with a
    message naming the field, before the job is run; nothing downstream meets a NaN or a wrong type.

    ``with_arguments=False`` leaves the arguments undecoded (empty): for a process that needs only the job's
    name and options (the supervisor settling a dead process's job), and must not load dill data.
    """
    try:
        body = json.loads(payload)
    except (ValueError, TypeError, RecursionError) as exc:
        raise PayloadError(f"payload is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise PayloadError("payload is not a JSON object")
    if body.get("v") != PROTOCOL_VERSION:
        version = _show(body.get("v"))
        raise PayloadError(f"unsupported protocol version {version} (this worker speaks {PROTOCOL_VERSION})")
    get = body.get
    job_id: Any = get("id")
    name: Any = get("name")
    queue: Any = get("queue")
    serializer = get("serializer", "json")
    max_attempts, timeout, ttl = get("max_attempts", 1), get("timeout"), get("result_ttl", 86400.0)
    enqueued_at, run_at = get("enqueued_at", 0.0), get("run_at")
    # One test for the payloads every producer writes (comparisons with infinity also refuse NaN); a payload that
    # fails it goes through the checks one by one, which name the field.
    if not (
        type(job_id) is str
        and type(name) is str
        and type(queue) is str
        and serializer in _SERIALIZERS
        and type(max_attempts) is int
        and max_attempts >= 1
        and (timeout is None or (type(timeout) in _NUMBERS and 0 <= timeout < math.inf))
        and type(ttl) in _NUMBERS
        and 0 <= ttl < math.inf
        and type(enqueued_at) in _NUMBERS
        and -math.inf < enqueued_at < math.inf
        and (run_at is None or (type(run_at) in _NUMBERS and -math.inf < run_at < math.inf))
    ):
        _check_fields(body)
    args, kwargs = _decode_arguments(body, secret) if with_arguments else ([], {})
    return Envelope(
        job_id,
        name,
        queue,
        tuple(args),
        kwargs,
        serializer,
        max_attempts if type(max_attempts) is int else int(max_attempts),
        float(timeout) if timeout else None,
        float(ttl),
        float(enqueued_at),
        None if run_at is None else float(run_at),
    )


#: The types a number of the payload may have (``bool`` is not one), and the serializers a worker knows.
_NUMBERS = (int, float)
_SERIALIZERS = ("json", "dill")


def _check_fields(body: dict[str, Any]) -> None:
    """Raise ``PayloadError`` naming the first field of ``body`` that is missing or malformed."""
    for key in ("id", "name", "queue"):
        if not isinstance(body.get(key), str):
            raise PayloadError(f"field {key} is {_show(body.get(key))}, not a string")
    serializer = body.get("serializer", "json")
    if serializer not in _SERIALIZERS:
        raise PayloadError(f"field serializer is {_show(serializer)}, not 'json' or 'dill'")
    _count(body, "max_attempts", 1)
    _seconds(body, "timeout", None, optional=True)
    _seconds(body, "result_ttl", 86400.0, optional=False)
    _time(body, "enqueued_at", 0.0, optional=False)
    _time(body, "run_at", None, optional=True)


def _count(body: dict[str, Any], key: str, default: int) -> int:
    """An integer field >= 1 (``3`` or ``3.0``)."""
    value = body.get(key, default)
    if type(value) is int and value >= 1:
        return value
    if type(value) is float and value.is_integer() and value >= 1:
        return int(value)
    raise PayloadError(f"field {key} is {_show(value)}, not an integer >= 1")


def _seconds(body: dict[str, Any], key: str, default: float | None, *, optional: bool) -> float | None:
    """A duration field: a finite number of seconds >= 0 (or null where ``optional``)."""
    value: Any = body.get(key, default)
    if value is None and optional:
        return None
    if type(value) in (int, float) and value >= 0 and math.isfinite(value):
        return float(value)
    raise PayloadError(f"field {key} is {_show(value)}, not a finite number of seconds >= 0")


def _time(body: dict[str, Any], key: str, default: float | None, *, optional: bool) -> float | None:
    """An instant field: finite epoch seconds (or null where ``optional``)."""
    value: Any = body.get(key, default)
    if value is None and optional:
        return None
    if type(value) in (int, float) and math.isfinite(value):
        return float(value)
    raise PayloadError(f"field {key} is {_show(value)}, not a finite number of epoch seconds")


def _show(value: Any) -> str:
    """A short, printable rendering of a field's value for an error message."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _decode_arguments(body: dict[str, Any], secret: str | None) -> tuple[list[Any], dict[str, Any]]:
    if body.get("serializer", "json") == "json":
        args, kwargs = body.get("args", []), body.get("kwargs", {})
    else:
        if not secret:
            raise SignatureError("bad signature: dill payload but this worker has no secret (set TASKS_SECRET)")
        data = body.get("data")
        if not isinstance(data, str):
            raise PayloadError(f"field data is {_show(data)}, not a string")
        try:
            args, kwargs = DillSerializer(secret).loads(data)
        except (TypeError, ValueError) as exc:  # not a pair
            raise PayloadError(f"dill data is not [args, kwargs]: {exc}") from exc
    if not isinstance(args, list):
        raise PayloadError(f"field args is {_show(args)}, not an array")
    if not isinstance(kwargs, dict):
        raise PayloadError(f"field kwargs is {_show(kwargs)}, not an object")
    return args, kwargs
