"""Operations on videos: upload (all or nothing), storing job outputs, import, re-probe,
delete and the media audit."""

import dataclasses
import logging
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import connection, transaction
from django.db.models import Q, Sum
from rest_framework import status

from videoproc import metrics, webhooks
from videoproc.access import scoped
from videoproc.errors import ServiceError

from . import storage, timelines
from .engine import thumbnails
from .engine.media import FORMATS, ProbeError, ProbeResult, SignedURL, probe
from .models import Timeline, Video
from .serializers import VideoSerializer

logger = logging.getLogger(__name__)


def upload_extension(filename: str) -> str:
    return filename.rsplit(".", 1)[-1].lower() if "." in filename else ""


def video_get(*, video_id: int, processed: bool = False, owner=None) -> Video:
    """The video with that id (only a job's output, when processed; only the owner's,
    with an owner), else a 404: another user's video does not exist for them."""
    videos = scoped(Video.objects.all(), owner)
    if processed:
        videos = videos.filter(kind=Video.Kind.RESULT)
    video = videos.filter(pk=video_id).first()
    if video is None:
        kind = "processed video" if processed else "video"
        raise ServiceError(f"No {kind} with id {video_id}", status.HTTP_404_NOT_FOUND)
    return video


def video_check_file(*, path: str | Path, filename: str) -> ProbeResult:
    """Probe one candidate file; refuse (415, naming it) anything but a real video of its kind."""
    return video_check_source(source=path, size=Path(path).stat().st_size, filename=filename)


def video_check_source(*, source: str | Path | SignedURL, size: int, filename: str) -> ProbeResult:
    """video_check_file for a local file or one read through a link (a resumable upload's
    object in the bucket), whose size the caller knows."""
    extension = upload_extension(filename)
    if extension not in FORMATS:
        raise ServiceError(
            f"'{filename}' is not a video format we accept: its name must end in one of "
            f"{', '.join('.' + name for name in FORMATS)}.",
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
        )
    if size == 0:
        raise ServiceError(
            f"'{filename}' is empty: there is no video in it.",
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
        )
    try:
        result = probe(source)
    except ProbeError as error:
        raise ServiceError(
            f"'{filename}' is not a playable {extension} video: {error}",
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
        ) from None
    if result.demuxer not in FORMATS[extension].demuxers:
        real = next((name for name, kind in FORMATS.items() if result.demuxer in kind.demuxers), "")
        raise ServiceError(
            f"'{filename}' is not a .{extension} video: its content is "
            f"{f'.{real} ({result.container})' if real else result.container}. Give it the "
            "extension of what it is.",
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
        )
    if reason := budget_refusal(
        width=result.width, height=result.height, frame_rate=result.fps, duration=result.duration
    ):
        raise ServiceError(
            f"'{filename}' is too much for this server: {reason}.",
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
        )
    return result


def budget_refusal(*, width: int, height: int, frame_rate: float, duration: float) -> str | None:
    """Why FFmpeg working on such a video is beyond this server's work budget, or None:
    the pixels of one frame, and of all frames (what an encode's time and memory grow with)."""
    pixels = width * height
    if pixels > settings.MAX_FRAME_PIXELS:
        return (
            f"frames of {width}x{height} hold {amount(pixels)} pixels each, more than this "
            f"server's limit of {amount(settings.MAX_FRAME_PIXELS)} (MAX_FRAME_PIXELS)"
        )
    work = pixels * frame_rate * duration
    if work > settings.MAX_WORK_PIXELS:
        return (
            f"{width}x{height} at {frame_rate:g} fps for {duration:g} s is {amount(work)} "
            f"pixels to process, more than this server's limit of "
            f"{amount(settings.MAX_WORK_PIXELS)} (MAX_WORK_PIXELS)"
        )
    return None


def amount(count: float) -> str:
    """A large count as a person reads it: "8.3 million", "4.1 billion"."""
    for size, name in ((1e12, "trillion"), (1e9, "billion"), (1e6, "million")):
        if count >= size:
            return f"{count / size:,.1f} {name}"
    return f"{count:,.0f}"


def readable_size(size: float) -> str:
    """Bytes as a person reads them: "512 bytes", "1.5 MB", "20.0 GB" (1 KB = 1024 bytes)."""
    if size < 1024:
        return f"{size:,.0f} bytes"
    for unit in ("KB", "MB", "GB"):
        size /= 1024
        if size < 1024:
            return f"{size:,.1f} {unit}"
    return f"{size / 1024:,.1f} TB"


@dataclasses.dataclass(frozen=True)
class StoredFiles:
    """A video's file and poster in storage, before (or without) a row for them."""

    file: str
    thumbnail: str  # "" when no poster could be grabbed

    def delete(self) -> None:
        _files_delete([self.file, self.thumbnail])


def video_files_store(
    *, path: str | Path, name: str, probed: ProbeResult, poster: Path | None = None
) -> StoredFiles:
    """Put a local video and its poster frame into storage, under unique variants of name.
    `poster`: the frame, where whoever made the video made it too (else it is grabbed).

    Done before the row is written, so a transaction never waits on a poster grab or a
    copy to remote storage; if the row is not written, the caller deletes the files.
    """
    return _files_store(
        source=Path(path),
        name=name,
        probed=probed,
        put=lambda target: storage.store(path, target),
        poster=poster,
    )


def _files_store(
    *,
    source: Path | SignedURL,
    name: str,
    probed: ProbeResult,
    put: Callable[[str], str],
    poster: Path | None = None,
) -> StoredFiles:
    """The poster (made, or grabbed from source), then the video put under (a variant of)
    name."""
    thumbnail = _poster_store(source=source, probed=probed, video_name=name, made=poster)
    try:
        return StoredFiles(file=put(name), thumbnail=thumbnail)
    except Exception:
        _files_delete([thumbnail])
        raise


def video_create(*, stored: StoredFiles, kind: str, probed: ProbeResult, **fields) -> Video:
    """The row of stored files, with their probe; its timeline is begun, to be made in
    the background once the caller's transaction commits."""
    video = Video.objects.create(
        file=stored.file,
        thumbnail=stored.thumbnail,
        kind=kind,
        **dataclasses.asdict(probed),
        **fields,
    )
    timelines.timeline_on_store(video=video)
    if kind == Video.Kind.UPLOAD:  # a job's result is told with its job.succeeded
        webhooks.event_emit(
            type=webhooks.VIDEO_CREATED,
            subject=f"video:{video.id}",
            owner_id=video.owner_id,
            data=VideoSerializer(video).data,
        )
    return video


def _poster_store(
    *, source: Path | SignedURL, probed: ProbeResult, video_name: str, made: Path | None = None
) -> str:
    """Store a video's poster frame, `made` or else grabbed; its stored name, or "" when
    that fails, because a missing poster must never refuse a video (the page shows a
    placeholder)."""
    if not probed.video_codec:
        return ""  # sound only: no frame to show
    try:
        if made and made.is_file() and made.stat().st_size:
            return storage.store(made, thumbnails.poster_name(video_name))
        with storage.scratch_dir("poster-") as directory:
            poster = thumbnails.poster_grab(
                source=source,
                demuxer=probed.demuxer,
                duration=probed.duration,
                output=Path(directory) / "poster.jpg",
            )
            return storage.store(poster, thumbnails.poster_name(video_name))
    except Exception:  # FFmpeg, the disk or a remote storage: log it, go on without
        logger.exception("no poster frame for %s", video_name)
        return ""


def _files_delete(names: list[str | None]) -> None:
    for name in names:
        if name:
            default_storage.delete(name)


def video_files_delete(*, video: Video) -> None:
    """Remove a video's file, its poster and its timeline's files from storage (the row
    is the caller's)."""
    _files_delete([video.file.name, video.thumbnail.name, *timelines.timeline_names(video=video)])


def _origin_name(filename: str) -> str:
    return storage.new_name(storage.ORIGIN, storage.safe_stem(filename), upload_extension(filename))


def video_quota_check(*, owner, incoming: int) -> None:
    """Refuse (413) what would take an owner past USER_STORAGE_QUOTA. 413, not 507: it
    is this request that is too large for this user; 507 means the server's disk is full.

    On its own an early check only: another request of the owner's may store videos
    before this one does. What decides is _quota_take, where the rows are made."""
    quota = settings.USER_STORAGE_QUOTA
    if owner is None or not quota:
        return
    used = Video.objects.filter(owner=owner).aggregate(used=Sum("size"))["used"] or 0
    if used + incoming > quota:
        raise ServiceError(
            f"Your storage quota is used up: you store {readable_size(used)} of your "
            f"{readable_size(quota)} and this needs {readable_size(incoming)} more. Delete "
            "videos, or ask for a larger quota.",
            status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )


def _quota_take(*, owner, incoming: int) -> None:
    """In the transaction that makes an owner's new video rows, before them: wait until no
    other such transaction of the owner's is open (the owner's row is locked until
    commit), then check the quota against what is stored now. Checked outside such a
    lock, parallel uploads each counted only what was stored before any of them, and
    all fitted. SQLite has no row locks; its transactions take the write lock up front
    (settings: transaction_mode IMMEDIATE), so they run one at a time anyway.

    Job results are stored without it (jobs call video_create): they are never refused
    for the quota, and may take an owner past it (docs/deployment.md)."""
    if owner is None or not settings.USER_STORAGE_QUOTA:
        return
    # NO KEY: a row that refers to the user (a job result being stored) need not wait.
    no_key = connection.features.has_select_for_no_key_update
    owners = get_user_model().objects.select_for_update(no_key=no_key).filter(pk=owner.pk)
    list(owners.values_list("pk"))
    video_quota_check(owner=owner, incoming=incoming)


# What an upload's declared length holds besides its files (the multipart boundaries and
# part headers), given back before it is weighed against the quota: generous, so that
# an upload whose files fit is never refused from its length alone; the files' real
# sizes are checked once they have arrived.
UPLOAD_FRAMING_ALLOWANCE = 1024 * 1024


def video_upload_admit(*, declared: int, owner=None) -> None:
    """Refuse (413), from the length its request declares and before a byte of its body
    is read, an upload that could not be stored: over MAX_UPLOAD_SIZE, or, less its
    framing, over what the owner's quota has left."""
    if declared > settings.MAX_UPLOAD_SIZE:
        raise ServiceError(
            f"The upload is larger than this server's limit of "
            f"{readable_size(settings.MAX_UPLOAD_SIZE)} (MAX_UPLOAD_SIZE).",
            status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    video_quota_check(owner=owner, incoming=max(0, declared - UPLOAD_FRAMING_ALLOWANCE))


def video_upload(*, files: list[UploadedFile], owner=None) -> list[Video]:
    """Store every file, or none: one refused file refuses the whole request."""
    if not files:
        raise ServiceError("No files were uploaded: send them in the multipart field 'files'.")
    incoming = sum(upload.size for upload in files)
    video_quota_check(owner=owner, incoming=incoming)  # early: before probing and copying
    checked = [
        (upload, video_check_file(path=upload.temporary_file_path(), filename=upload.name))
        for upload in files
    ]
    stored: list[StoredFiles] = []
    try:
        for upload, probed in checked:
            stored.append(
                video_files_store(
                    path=upload.temporary_file_path(), name=_origin_name(upload.name), probed=probed
                )
            )
    except Exception:
        for video_files in stored:
            video_files.delete()
        raise
    return _uploads_create(
        stored=stored,
        checked=[(upload.name, probed) for upload, probed in checked],
        owner=owner,
        incoming=incoming,
    )


def video_upload_in_bucket(*, key: str, filename: str, size: int, owner=None) -> Video:
    """video_upload for a file already in the bucket (S3 storage: a resumable upload's
    object, its parts joined by S3), which never comes to this machine: it is probed and
    its poster grabbed through a presigned link, and the bucket copies it into place. The
    object at key stays; the caller removes it."""
    video_quota_check(owner=owner, incoming=size)  # early: before probing and copying
    source = storage.signed_url(key)
    probed = video_check_source(source=source, size=size, filename=filename)
    stored = _files_store(
        source=source,
        name=_origin_name(filename),
        probed=probed,
        put=lambda target: storage.bucket_copy(key, target),
    )
    [video] = _uploads_create(
        stored=[stored], checked=[(filename, probed)], owner=owner, incoming=size
    )
    return video


def _uploads_create(
    *,
    stored: list[StoredFiles],
    checked: list[tuple[str, ProbeResult]],
    owner,
    incoming: int,
) -> list[Video]:
    """The rows of an upload's stored files (checked: each one's name as sent, and probe),
    all or none: the quota is taken first; when they are not made, the files go."""
    try:
        with transaction.atomic():
            _quota_take(owner=owner, incoming=incoming)
            videos = [
                video_create(
                    stored=video_files,
                    kind=Video.Kind.UPLOAD,
                    probed=probed,
                    original_name=name[:255],
                    owner=owner,
                )
                for video_files, (name, probed) in zip(stored, checked, strict=True)
            ]
    except Exception:
        for video_files in stored:
            video_files.delete()
        raise
    metrics.UPLOAD_BYTES.inc(incoming)
    return videos


def video_import(*, path: Path, owner=None) -> Video:
    """Add a local file as an upload, after the same checks; the file is copied, never
    moved, so the operator's own copy stays where it was."""
    probed = video_check_file(path=path, filename=path.name)
    video_quota_check(owner=owner, incoming=path.stat().st_size)
    with storage.scratch_dir("import-") as directory:
        copy = Path(directory) / "video"
        shutil.copyfile(path, copy)
        stored = video_files_store(path=copy, name=_origin_name(path.name), probed=probed)
    try:
        with transaction.atomic():
            _quota_take(owner=owner, incoming=probed.size)
            return video_create(
                stored=stored,
                kind=Video.Kind.UPLOAD,
                probed=probed,
                original_name=path.name[:255],
                owner=owner,
            )
    except Exception:
        stored.delete()
        raise


def video_refresh(*, video: Video) -> Video:
    """Probe a stored video again and grab a new poster (rows stored by an older version,
    a lost poster). A failed grab keeps the old poster."""
    if not default_storage.exists(video.file.name):
        raise ServiceError(
            f"The file of video {video.id} is missing from storage", status.HTTP_404_NOT_FOUND
        )
    with storage.local_path(video.file.name) as source:
        probed = video_check_file(path=source, filename=video.file.name)
        thumbnail = _poster_store(source=source, probed=probed, video_name=video.file.name)
    old_thumbnail = video.thumbnail.name
    for field, value in dataclasses.asdict(probed).items():
        setattr(video, field, value)
    if thumbnail:
        video.thumbnail = thumbnail
    video.save()
    if thumbnail and old_thumbnail:
        default_storage.delete(old_thumbnail)
    return video


def _owner_lock(owner_id: int | None) -> None:
    """Inside a transaction: hold the owner's row until it ends (nothing without an
    owner, with accounts off; SQLite's transactions take the write lock up front)."""
    if owner_id is not None:
        no_key = connection.features.has_select_for_no_key_update
        owners = get_user_model().objects.select_for_update(no_key=no_key).filter(pk=owner_id)
        list(owners.values_list("pk"))


def video_rename(*, video: Video, name: str) -> Video:
    """Show the video by another name (validated by VideoRenameSerializer); its stored
    file keeps its name, so its paths and links do not change."""
    video.original_name = name
    video.save(update_fields=["original_name"])
    return video


def video_delete(*, video: Video) -> None:
    """Delete a video's row, then its files once that is committed; refused (409) while
    an unfinished (pending, queued or running) job needs it as an input."""
    with transaction.atomic():
        # The owner's row, as queueing a job holds it (jobs/services.py, _owner_lock): a
        # job of the owner's being queued on this video commits before this looks, and
        # is seen. (Without an owner, accounts off, there is no such row to hold.)
        _owner_lock(video.owner_id)
        # Asked through the relation alone, so that videos needs nothing of the jobs app's
        # code: a job is unfinished exactly while its finished_at is null. In
        # jobs/transitions.py, which alone writes a job's status, every move to succeeded,
        # failed or cancelled sets finished_at, and every move back to pending (a retry)
        # clears it; a job is created pending without one, and it is null all through
        # queued and running (jobs_queue clears it on the way there).
        # A job needs it when it takes it as an input, or takes the output of the job that
        # made it ({"job_id": N} of a job that has run since: depends_on).
        jobs = video.input_of_jobs.model.objects
        busy = list(
            jobs.filter(Q(inputs=video) | Q(depends_on__output_video=video))
            .filter(finished_at__isnull=True)
            .values_list("id", flat=True)
            .distinct()
            .order_by("id")
        )
        if busy:
            raise ServiceError(
                f"Video {video.id} cannot be deleted: pending or running job "
                f"{', '.join(map(str, busy))} uses it",
                status.HTTP_409_CONFLICT,
            )
        names = [video.file.name, video.thumbnail.name, *timelines.timeline_names(video=video)]
        video.delete()
        # Files go only when the row is surely gone: a rollback must not leave a row
        # pointing at nothing.
        transaction.on_commit(lambda: _files_delete(names))


# The folders whose every file belongs to a row; anything else in the media root is not
# ours to judge.
OWNED_FOLDERS = (storage.ORIGIN, storage.MODI, thumbnails.FOLDER, timelines.FOLDER)


@dataclasses.dataclass
class MediaAudit:
    orphan_files: list[str]  # stored names no row refers to
    missing_files: list[Video]  # rows whose video file is gone
    refused: dict[int, str]  # rows that could not be deleted, with the reason


def _stored_names(folder: str) -> Iterator[str]:
    if not default_storage.exists(folder):
        return
    directories, files = default_storage.listdir(folder)
    for name in files:
        yield f"{folder}/{name}"
    for directory in directories:
        yield from _stored_names(f"{folder}/{directory}")


def media_cleanup(*, delete: bool) -> MediaAudit:
    """Find stored files no row refers to, and rows whose file is gone; with delete,
    remove both (a row still needed by a pending or running job is kept and reported)."""
    known = set()
    for file_name, thumbnail_name in Video.objects.values_list("file", "thumbnail"):
        known.update([file_name, thumbnail_name])
    making = set()  # an attempt being made stores its files before its row names them
    for timeline in Timeline.objects.all():
        known.update(timeline.names)
        if timeline.state == Timeline.State.MAKING:
            making.add(timelines.timeline_folder(timeline.video_id, timeline.attempt))
    audit = MediaAudit(
        orphan_files=sorted(
            name
            for folder in OWNED_FOLDERS
            for name in _stored_names(folder)
            if name not in known and timelines.timeline_folder_of(name) not in making
        ),
        missing_files=[
            video
            for video in Video.objects.order_by("id")
            if not default_storage.exists(video.file.name)
        ],
        refused={},
    )
    if delete:
        _files_delete(audit.orphan_files)
        for video in audit.missing_files:
            try:
                video_delete(video=video)
            except ServiceError as error:
                audit.refused[video.id] = error.detail
    return audit
