"""Timeline data of every video (storyboard, peaks, keyframes; videos/engine/timeline.py),
made once per video in the background, never in the request that stores it.

Storing a video (upload, import, a job's result: services.video_create) begins an
attempt: the Timeline row reads `making` with a fresh attempt token, and once that is
committed, "make the timeline of video N, attempt T" goes to a Celery worker when a
broker is configured (task videos.tasks.make_timeline, queue JOB_QUEUE_TIMELINE or the
default), else to this web process's one timeline thread, which makes them one at a
time from a queue (so a burst of uploads never starts a burst of FFmpeg runs).

Nothing has to survive a crash: a making attempt whose heartbeat has been silent for
TIMELINE_STALE_SECONDS is presumed dead, and the next request for the timeline begins
another (a new token: the old one's worker, if it was only slow, finds its token
replaced and its files are dropped). A failed one is tried again on request after
TIMELINE_RETRY_SECONDS. Videos stored before this existed get theirs on request too, or
from `manage.py make_timelines`.
"""

import logging
import queue
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

from celery import current_app
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import IntegrityError, close_old_connections, transaction
from django.utils import timezone
from kombu.exceptions import OperationalError

from . import storage
from .engine import timeline as engine
from .engine.media import hide_paths
from .models import Timeline, Video

logger = logging.getLogger(__name__)

TASK = "videos.tasks.make_timeline"  # sent by name: the task module imports this one
FOLDER = "timelines"
HEARTBEAT_EVERY = 15  # seconds between a making attempt's signs of life


def timeline_folder(video_id: int, attempt: uuid.UUID) -> str:
    """Each attempt's files in a folder of their own, named by the video and attempt."""
    return f"{FOLDER}/{video_id}-{attempt.hex[:12]}"


def _needs_attempt(row: Timeline) -> bool:
    now = timezone.now()
    if row.state == Timeline.State.MAKING:
        stale = timedelta(seconds=settings.TIMELINE_STALE_SECONDS)
        return row.heartbeat_at < now - stale
    if row.state == Timeline.State.FAILED:
        return row.finished_at is None or row.finished_at < now - timedelta(
            seconds=settings.TIMELINE_RETRY_SECONDS
        )
    return False


def timeline_begin(*, video: Video, force: bool = False, send: bool = True) -> Timeline:
    """The video's timeline row; a new attempt is begun (and, with send, sent to be made
    once committed) when there is none, the last one died or failed long enough ago, or
    with force."""
    with transaction.atomic():
        row = Timeline.objects.select_for_update().filter(video=video).first()
        if row is None:
            try:
                with transaction.atomic():
                    row = _new_attempt(Timeline(video=video), send=send)
            except IntegrityError:  # begun by another request at the same moment
                return Timeline.objects.get(video=video)
            return row
        if force or _needs_attempt(row):
            _new_attempt(row, send=send)
        return row


def _new_attempt(row: Timeline, *, send: bool = True) -> Timeline:
    now = timezone.now()
    row.state = Timeline.State.MAKING
    row.attempt = uuid.uuid4()
    row.requested_at = row.heartbeat_at = now
    row.finished_at = None
    row.error = ""
    row.save()
    video_id, attempt = row.video_id, row.attempt
    if send:
        transaction.on_commit(lambda: _send(video_id, attempt))
    return row


def timeline_on_store(*, video: Video) -> None:
    """When a video is stored: begin its timeline (TIMELINE_AUTO), in the caller's
    transaction, sent once that commits."""
    if settings.TIMELINE_AUTO and video.has_picture:
        timeline_begin(video=video)


def _send(video_id: int, attempt: uuid.UUID) -> None:
    if settings.CELERY_BROKER_URL:
        queue_name = settings.JOB_QUEUES.get("timeline", settings.JOB_QUEUE_DEFAULT)
        try:
            current_app.send_task(TASK, args=(video_id, str(attempt)), queue=queue_name)
            return
        except OperationalError as error:  # no broker now: make it here rather than never
            logger.warning(
                "timeline of video %s made here: the broker is away (%s)", video_id, error
            )
    _local_put(video_id, attempt)


# This process's timeline thread and its queue: one FFmpeg run at a time, the others wait.
_queue: queue.Queue = queue.Queue()
_thread: threading.Thread | None = None
_thread_lock = threading.Lock()


def _local_put(video_id: int, attempt: uuid.UUID) -> None:
    global _thread
    with _thread_lock:
        if _thread is None or not _thread.is_alive():  # first use, or after a fork
            _thread = threading.Thread(target=_local_work, name="timelines", daemon=True)
            _thread.start()
    _queue.put((video_id, attempt))


def _local_work() -> None:
    while True:
        video_id, attempt = _queue.get()
        try:
            timeline_make(video_id=video_id, attempt=attempt)
        except Exception:
            logger.exception("timeline of video %s", video_id)
        finally:
            close_old_connections()
            _queue.task_done()


def local_queue_join() -> None:
    """Wait until this process's timeline thread has nothing left to do (tests, bench)."""
    _queue.join()


def timeline_make(*, video_id: int, attempt: uuid.UUID | str) -> None:
    """Make attempt `attempt` of a video's timeline, if it is still the current one: the
    engine's work on a local copy, its files stored in their folder, then the row, in
    which the files of an earlier attempt are replaced (and deleted)."""
    attempt = uuid.UUID(str(attempt))
    current = Timeline.objects.filter(
        video_id=video_id, attempt=attempt, state=Timeline.State.MAKING
    )
    if not current.update(heartbeat_at=timezone.now()):
        logger.info("timeline of video %s: attempt %s is no longer current", video_id, attempt)
        return
    video = Video.objects.filter(pk=video_id).first()
    if video is None:
        return
    last_beat = time.monotonic()

    def heartbeat(_fraction: float) -> None:
        nonlocal last_beat
        if time.monotonic() - last_beat >= HEARTBEAT_EVERY:
            last_beat = time.monotonic()
            current.update(heartbeat_at=timezone.now())

    stored: list[str] = []
    try:
        with storage.local_path(video.file.name) as source, storage.scratch_dir("tl-") as work:
            made = engine.make(
                source=source,
                demuxer=video.demuxer,
                duration=video.duration,
                width=video.width,
                height=video.height,
                sample_aspect_ratio=video.sample_aspect_ratio,
                rotation=video.rotation,
                has_audio=bool(video.audio_codec),
                workdir=Path(work),
                on_progress=heartbeat,
                facts=video.stream_facts,
            )
            folder = timeline_folder(video_id, attempt)
            sprites = [storage.store(path, f"{folder}/{path.name}") for path in made.sprites]
            stored += sprites
            text = made.storyboard.read_text()
            for path, name in zip(made.sprites, sprites, strict=True):
                if name.rsplit("/", 1)[-1] != path.name:  # the storage renamed it
                    text = text.replace(f"\n{path.name}#", f"\n{name.rsplit('/', 1)[-1]}#")
            made.storyboard.write_text(text)
            storyboard = storage.store(made.storyboard, f"{folder}/{made.storyboard.name}")
            stored.append(storyboard)
            waveform = ""
            if made.waveform is not None:
                waveform = storage.store(made.waveform, f"{folder}/{made.waveform.name}")
                stored.append(waveform)
    except Exception as error:
        _files_delete(stored)
        current.update(
            state=Timeline.State.FAILED,
            error=hide_paths(str(error))[:2000] or type(error).__name__,
            finished_at=timezone.now(),
        )
        logger.exception("timeline of video %s could not be made", video_id)
        return
    with transaction.atomic():
        row = current.select_for_update().first()
        if row is None:  # the video was deleted, or a newer attempt began meanwhile
            transaction.on_commit(lambda: _files_delete(stored))
            return
        replaced = [name for name in row.names if name not in stored]
        row.state = Timeline.State.READY
        row.folder = folder
        row.storyboard, row.sprites, row.waveform = storyboard, sprites, waveform
        row.keyframes_ms = [round(seconds * 1000) for seconds in made.keyframes]
        row.finished_at = timezone.now()
        row.error = ""
        row.save()
        transaction.on_commit(lambda: _files_delete(replaced))
    logger.info("timeline of video %s made: %d thumbnails", video_id, made.plan.count)


def _files_delete(names: list[str]) -> None:
    for name in names:
        if name:
            default_storage.delete(name)


def timeline_names(*, video: Video) -> list[str]:
    """The stored files of a video's timeline (none when it has none)."""
    row = Timeline.objects.filter(video=video).first()
    return row.names if row else []


def timeline_folder_of(name: str) -> str | None:
    """The timeline folder a stored name is in, or None when it is not in one."""
    if not name.startswith(f"{FOLDER}/") or name.count("/") != 2:
        return None
    return name.rsplit("/", 1)[0]
