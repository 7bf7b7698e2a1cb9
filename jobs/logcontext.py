"""Which job a log line is about. While a job runs (or is recovered), every line logged
from its thread, by any module, carries its id, kind, request code and attempt: the
filter below adds them to each record, and the log format in settings prints them.

Loaded by the logging configuration, before the apps: no model imports here.
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_job: ContextVar[str] = ContextVar("job", default="")


@contextmanager
def job_context(job) -> Iterator[None]:
    """Tag the lines logged inside the block with the job."""
    token = _job.set(
        f"[job {job.id} {job.kind} request={job.request_code!r} attempt={job.attempts}] "
    )
    try:
        yield
    finally:
        _job.reset(token)


class JobContextFilter(logging.Filter):
    """Adds `job` (empty outside a job) to every record, for the format to print."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.job = _job.get()
        return True
