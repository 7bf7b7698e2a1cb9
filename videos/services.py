"""Operations on videos: upload (all or nothing) and storing job outputs."""

import dataclasses
import logging
from pathlib import Path

from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from rest_framework import status

from videoproc.errors import ServiceError

from . import storage
from .media import FORMATS, ProbeError, ProbeResult, probe
from .models import Video

logger = logging.getLogger(__name__)

ALLOWED_EXTENSIONS = " ".join(FORMATS)


def upload_extension(filename: str) -> str:
    return filename.rsplit(".", 1)[-1].lower() if "." in filename else ""


def video_check_file(*, path: str | Path, filename: str) -> ProbeResult:
    """Probe one candidate file; refuse (415, naming it) anything but a real video of its kind."""
    extension = upload_extension(filename)
    if extension not in FORMATS:
        raise ServiceError(
            f"'{filename}' is not a supported format (allowed: {ALLOWED_EXTENSIONS})",
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
        )
    if Path(path).stat().st_size == 0:
        raise ServiceError(f"'{filename}' is empty", status.HTTP_415_UNSUPPORTED_MEDIA_TYPE)
    try:
        result = probe(path)
    except ProbeError as error:
        raise ServiceError(
            f"'{filename}' is not a playable {extension} video: {error}",
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
        ) from None
    if result.demuxer not in FORMATS[extension].demuxers:
        raise ServiceError(
            f"'{filename}' is not a {extension} video (its content is {result.container})",
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
        )
    return result


def video_create(*, path: str | Path, name: str, kind: str, probed: ProbeResult, **fields) -> Video:
    """Store a local file under a unique variant of name and record it with its probe.

    Call inside a transaction: if the row is rolled back, the caller removes the file.
    """
    stored_name = storage.store(path, name)
    try:
        return Video.objects.create(
            file=stored_name, kind=kind, **dataclasses.asdict(probed), **fields
        )
    except Exception:
        default_storage.delete(stored_name)
        raise


def video_upload(*, files: list[UploadedFile]) -> list[Video]:
    """Store every file, or none: one refused file refuses the whole request."""
    if not files:
        raise ServiceError("No files were uploaded; send them in the multipart field 'files'")
    checked = [
        (upload, video_check_file(path=upload.temporary_file_path(), filename=upload.name))
        for upload in files
    ]
    videos: list[Video] = []
    try:
        with transaction.atomic():
            for upload, probed in checked:
                name = storage.new_name(
                    storage.ORIGIN, storage.safe_stem(upload.name), upload_extension(upload.name)
                )
                videos.append(
                    video_create(
                        path=upload.temporary_file_path(),
                        name=name,
                        kind=Video.Kind.UPLOAD,
                        probed=probed,
                        original_name=upload.name[:255],
                    )
                )
    except Exception:
        for video in videos:
            default_storage.delete(video.file.name)
        raise
    return videos
