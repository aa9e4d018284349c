"""The outcomes a worker process computed but has not written yet, kept where its supervisor can read them.

A worker process acknowledges finished jobs in batches, in the round trip that reserves the next ones, so at
any moment it holds outcomes (a result, a retry, a failure) that only its memory knows. If the process dies
then (a crash, ``os._exit``, the OOM killer, a hard timeout), those jobs must not run again: their work is
done. So each outcome is appended here, in memory shared with the supervisor, before the job counts as
finished, and the supervisor writes what it finds once the process is dead.

There is one writer (the worker process, under its ledger's lock) and one reader (the supervisor, only after
the writer is dead), so no reader ever sees a record being written: a record counts once the end offset
that follows it is stored, and a process killed mid-record leaves only that record out. When every outcome
held is written, the worker clears the journal, so it stays small. An outcome that does not fit (the
journal is full) is not kept: should the process die before writing it, that job runs again, as it would
have without a journal.
"""

from __future__ import annotations

import struct
from multiprocessing.context import BaseContext
from typing import Any

from ..model import Aborted, Completed, Dead, Deferred, ErrorInfo, Lease, Outcome, RetryAt

#: Bytes of shared memory per worker process: room for thousands of typical outcomes.
JOURNAL_BYTES = 1 << 20

#: The first bytes hold the end offset of the last complete record.
_END = struct.Struct("<Q")
#: A record's head: lengths of the job id, the token and the data, the kind, and a number (TTL or run_at).
_HEAD = struct.Struct("<HHIBd")
_COMPLETED, _RETRY, _DEAD, _DEFERRED, _ABORTED = 1, 2, 3, 4, 5


class OutcomeJournal:
    """Append-only records of ``(job id, token) -> outcome`` in a block of memory shared across processes."""

    def __init__(self, context: BaseContext, size: int = JOURNAL_BYTES) -> None:
        self._cells: Any = context.RawArray("B", size)
        self._view: memoryview | None = None
        self._end = _END.size  # the writer's own copy of the end offset (it alone writes)
        self.clear()

    def __getstate__(self) -> dict[str, Any]:
        return {"_cells": self._cells, "_view": None, "_end": self._end}  # a memoryview is made again there

    def _memory(self) -> memoryview:
        if self._view is None:
            self._view = memoryview(self._cells).cast("B")
        return self._view

    def append(self, lease: Lease, outcome: Outcome) -> bool:
        """Keep ``outcome`` of ``lease``; ``False`` when it does not fit (it is then not kept)."""
        kind, number, data = _encode(outcome)
        job_id = lease.job_id.encode("utf-8", "surrogateescape")
        token = lease.token.encode("utf-8", "surrogateescape")
        memory = self._view or self._memory()
        start = self._end
        end = start + _HEAD.size + len(job_id) + len(token) + len(data)
        if end > len(memory) or len(job_id) > 0xFFFF or len(token) > 0xFFFF:
            return False
        memory[start:end] = _HEAD.pack(len(job_id), len(token), len(data), kind, number) + job_id + token + data
        _END.pack_into(memory, 0, end)  # last: until here, the record does not exist
        self._end = end
        return True

    def clear(self) -> None:
        """Forget every record (the worker wrote every outcome it held)."""
        self._end = _END.size
        _END.pack_into(self._memory(), 0, self._end)

    def read(self) -> dict[tuple[str, str], Outcome]:
        """Every complete record, by ``(job id, token)``: what the supervisor writes for a dead process."""
        memory = self._memory()
        (end,) = _END.unpack_from(memory, 0)
        end = min(end, len(memory))
        found: dict[tuple[str, str], Outcome] = {}
        position = _END.size
        while position + _HEAD.size <= end:
            id_len, token_len, data_len, kind, number = _HEAD.unpack_from(memory, position)
            position += _HEAD.size
            stop = position + id_len + token_len + data_len
            if stop > end:
                break
            job_id = bytes(memory[position : position + id_len]).decode("utf-8", "surrogateescape")
            position += id_len
            token = bytes(memory[position : position + token_len]).decode("utf-8", "surrogateescape")
            position += token_len
            outcome = _decode(kind, number, bytes(memory[position:stop]))
            position = stop
            if outcome is not None:
                found[(job_id, token)] = outcome
        return found


def _encode(outcome: Outcome) -> tuple[int, float, bytes]:
    if isinstance(outcome, Completed):
        return _COMPLETED, outcome.result_ttl_s, outcome.result.encode("utf-8", "surrogateescape")
    if isinstance(outcome, RetryAt):
        return _RETRY, outcome.run_at, outcome.error.to_json().encode()
    if isinstance(outcome, Deferred):
        return _DEFERRED, outcome.run_at, outcome.reason.encode("utf-8", "surrogateescape")
    if isinstance(outcome, Aborted):
        return _ABORTED, 0.0, outcome.reason.encode("utf-8", "surrogateescape")
    return _DEAD, 0.0, outcome.error.to_json().encode()


def _decode(kind: int, number: float, data: bytes) -> Outcome | None:
    if kind == _COMPLETED:
        return Completed(data.decode("utf-8", "surrogateescape"), number)
    if kind == _DEFERRED:
        return Deferred(number, data.decode("utf-8", "surrogateescape"))
    if kind == _ABORTED:
        return Aborted(data.decode("utf-8", "surrogateescape"))
    error = ErrorInfo.from_json(data)
    if error is None:
        return None
    return RetryAt(number, error) if kind == _RETRY else Dead(error)
