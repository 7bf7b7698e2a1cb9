"""This machine's FFmpeg run slots: how many job runs may go at once, shared by every
process and thread here."""

import fcntl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings

SLOT_POLL_INTERVAL = 0.5  # seconds between looks for a free slot


class FFmpegBusy(Exception):
    """Every FFmpeg slot of this machine is taken."""


@contextmanager
def ffmpeg_slot(*, wait: bool) -> Iterator[None]:
    """Hold one of this machine's FFMPEG_MAX_RUNS slots while running a job's FFmpeg.

    A slot is a lock file in FFMPEG_SLOTS_DIR, so every process and thread here shares them, and
    the kernel frees the slot of a holder that dies. Raises FFmpegBusy when all are
    taken, unless `wait`: then waits for one to free.
    """
    folder = Path(settings.FFMPEG_SLOTS_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    while True:
        for index in range(settings.FFMPEG_MAX_RUNS):
            handle = open(folder / f"slot{index}", "a")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            try:
                yield
            finally:
                handle.close()  # and with it the lock
            return
        if not wait:
            raise FFmpegBusy(f"all {settings.FFMPEG_MAX_RUNS} FFmpeg slots are busy")
        time.sleep(SLOT_POLL_INTERVAL)
