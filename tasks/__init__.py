"""tasks: plain Python functions as background jobs, on Redis.

The public API is what ``__all__`` lists; everything else is internal and may change.
"""

from . import limits
from .config import configure
from .context import JobContext, current_job
from .decorators import job, schedule, scheduled
from .errors import (
    BackendUnavailable,
    ConfigurationError,
    Fail,
    JobCancelled,
    JobFailed,
    JobTimeout,
    Retry,
    SerializationError,
    SignatureError,
    TasksError,
)
from .handle import JobHandle
from .job import AsyncJob, Call, Job, call, dispatch
from .limits import RateLimit
from .observe.middleware import Dispatch, Middleware, RunOutcome
from .producer import bulk
from .queue import FailedRecord, Queue, queue
from .workflows.api import batch, chain, find_batch, find_chain
from .workflows.handles import BatchHandle, BatchProgress, ChainHandle

__all__ = [
    "AsyncJob",
    "BackendUnavailable",
    "BatchHandle",
    "BatchProgress",
    "Call",
    "ChainHandle",
    "ConfigurationError",
    "Dispatch",
    "Fail",
    "FailedRecord",
    "Job",
    "JobCancelled",
    "JobContext",
    "JobFailed",
    "JobHandle",
    "JobTimeout",
    "Middleware",
    "Queue",
    "RateLimit",
    "Retry",
    "RunOutcome",
    "SerializationError",
    "SignatureError",
    "TasksError",
    "batch",
    "bulk",
    "call",
    "chain",
    "configure",
    "current_job",
    "dispatch",
    "find_batch",
    "find_chain",
    "job",
    "limits",
    "queue",
    "schedule",
    "scheduled",
]
