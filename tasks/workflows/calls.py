"""``Call[R]``: a job and its arguments, prepared and not sent (``job.prepare(...)``), as a workflow's member.

``prepare`` is typed by the job's own signature (a wrong argument is a mypy error, as with ``delay``) and the
arguments are checked against the function when a workflow is built from it. A step of a piping chain takes the
previous step's result as its first positional argument: prepare it with ``prepare_piped(...)`` (the rest of
its arguments), whose first argument is then left out of the check.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from .. import producer
from ..model import NewJob
from ..serialization import sign
from .records import WorkflowRef, add_marker

R = TypeVar("R")

#: What a piped step is checked with in place of the value it will receive.
_PIPED = object()


class Call(Generic[R]):
    """One job with its arguments and dispatch options, to be sent as part of a chain or a batch."""

    def __init__(
        self,
        options: producer.DispatchOptions,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        check: Callable[..., object] | None = None,
        *,
        piped: bool = False,
    ) -> None:
        self.options = options
        self.args = args
        self.kwargs = kwargs
        self.piped = piped
        self._check = check

    @property
    def name(self) -> str:
        return self.options.name

    @property
    def queue(self) -> str:
        return self.options.queue

    def __repr__(self) -> str:
        return f"<Call {self.name}{'(piped)' if self.piped else ''} queue={self.queue!r}>"

    def check(self, *, receives: bool = False) -> None:
        """Raise ``TypeError`` when the arguments do not fit the function (known here); ``receives``: the call
        gets the previous step's result first."""
        if self._check is None:
            return
        args = (_PIPED, *self.args) if receives else self.args
        try:
            self._check(*args, **self.kwargs)
        except TypeError as exc:
            how = " (after the piped value)" if receives else ""
            raise TypeError(f"cannot prepare {self.name}{how}: {exc}; nothing was sent") from None

    def build(
        self, *, now: float, secret: str | None, workflow: WorkflowRef, role: str, run_at: float | None = None
    ) -> NewJob:
        """The ``NewJob`` of this call as a member (``role`` ``m``) or a callback (``c``) of ``workflow``."""
        options = self.options if run_at is None else _with_run_at(self.options, run_at)
        job = producer._build(options, self.args, self.kwargs, now=now, secret=None)
        payload = add_marker(job.payload, workflow, role)
        return job._replace(payload=payload, signature=sign(secret, payload) if secret else "")


def _with_run_at(options: producer.DispatchOptions, run_at: float) -> producer.DispatchOptions:
    from dataclasses import replace

    return replace(options, run_at=run_at)
