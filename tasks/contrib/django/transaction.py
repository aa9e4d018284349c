"""``after_commit(job)``: dispatches that wait for the current database transaction to commit.

A job dispatched inside ``transaction.atomic()`` may start on a worker before the transaction commits, and
then not see the rows it was sent for; if the transaction rolls back, it works on rows that never existed.
``after_commit(send_receipt).delay(order.pk)`` hands the dispatch to Django's ``transaction.on_commit``: it is
sent when the outermost transaction commits, and never if it rolls back. Outside a transaction (autocommit)
it is sent at once.

The arguments are checked at the call (encoded once, and dropped), so a value the serializer cannot encode
raises ``SerializationError`` there, in the view, rather than after the commit; the commit sends them through
``Job.delay`` as they are then (pass values, such as a primary key, not objects changed afterwards). The job's
id is chosen at the call too: the handle returned is the one the job will have (``status()`` raises
``LookupError`` until the commit sends it).
"""

from __future__ import annotations

import time
from functools import partial
from typing import Any, Generic, TypeVar

from django.db import transaction
from typing_extensions import ParamSpec

from ... import producer
from ...handle import JobHandle
from ...job import Job, When, run_at_from

P = ParamSpec("P")
R = TypeVar("R")


class AfterCommit(Generic[P, R]):
    """``job``'s dispatches, deferred to the commit of the current transaction on database ``using``."""

    def __init__(self, job: Job[P, R], *, using: str | None = None) -> None:
        self.job = job
        self.using = using

    def __repr__(self) -> str:
        return f"<AfterCommit {self.job!r} using={self.using or 'default'!r}>"

    def delay(self, *args: P.args, **kwargs: P.kwargs) -> JobHandle[R]:
        """Send the job when the transaction commits, to run as soon as a worker is free."""
        view = self._with_id()
        self._check(view, args, kwargs)
        return self._defer(view, partial(view.delay, *args, **kwargs))

    def later(self, when: When, /, *args: P.args, **kwargs: P.kwargs) -> JobHandle[R]:
        """Send the job when the transaction commits, to run at ``when``: a delay counts from the commit."""
        view = self._with_id()
        run_at_from(when, now=time.time())  # a bad ``when`` fails here, as for ``Job.later``
        self._check(view, args, kwargs)
        return self._defer(view, partial(view.later, when, *args, **kwargs))

    def _with_id(self) -> Job[P, R]:
        """The job with its id chosen now (an id given with ``with_options(job_id=...)`` is kept)."""
        if self.job.options.job_id is not None:
            return self.job
        return self.job.with_options(job_id=producer.new_job_id())

    @staticmethod
    def _check(view: Job[P, R], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Encode the dispatch now, and drop it: what cannot be sent fails here, before the transaction goes on."""
        producer.build(view.options, args, kwargs, now=time.time())

    def _defer(self, view: Job[P, R], send: partial[JobHandle[R]]) -> JobHandle[R]:
        transaction.on_commit(send, using=self.using)
        job_id = view.options.job_id
        assert job_id is not None  # set by _with_id
        return JobHandle(job_id, view.options.queue)


def after_commit(job: Job[P, R], *, using: str | None = None) -> AfterCommit[P, R]:
    """``job``, with ``delay``/``later`` deferred until the current transaction on ``using`` commits.

    ``after_commit(send_receipt).delay(order.pk)``; ``after_commit(send_receipt.on("high"), using="orders")``.
    """
    return AfterCommit(job, using=using)
