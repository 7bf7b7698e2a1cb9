"""Recovery runs in every web process: a daemon thread that gives back jobs whose process
died and reports jobs queued too long, once at start-up and then every
JOB_HEARTBEAT_INTERVAL seconds.

Why the web processes: they exist in every mode (the embedded one has no worker and no
beat), they never wait behind the jobs they are meant to rescue (a task in the jobs'
queue did), and any number of them are safe together (a pass takes the stale rows with
SKIP LOCKED, so each job is given back once).
"""

import logging
import threading
import time

from django.conf import settings
from django.db import connections

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_thread: "_Recovery | None" = None


class _Recovery(threading.Thread):
    def __init__(self):
        super().__init__(name="job-recovery", daemon=True)
        self.last_pass: float | None = None  # time.monotonic() when the last pass ended

    def run(self) -> None:
        from . import services  # loaded once Django is set up

        while True:
            try:
                services.jobs_recover()
                services.jobs_report_stuck()
                self.last_pass = time.monotonic()
            except Exception:  # a database or broker outage: log it, try again next pass
                logger.exception("job recovery pass failed")
            finally:
                connections.close_all()  # this thread's own; a pass reconnects afresh
            time.sleep(settings.JOB_HEARTBEAT_INTERVAL)


def start() -> None:
    """Start this process's recovery thread, unless it runs already."""
    global _thread
    with _lock:
        if _thread is None or not _thread.is_alive():
            _thread = _Recovery()
            _thread.start()


def running() -> bool:
    """Whether this process's recovery has completed a pass within three intervals."""
    thread = _thread
    return (
        thread is not None
        and thread.is_alive()
        and thread.last_pass is not None
        and time.monotonic() - thread.last_pass < 3 * settings.JOB_HEARTBEAT_INTERVAL + 5
    )
