"""Resumable uploads (tus 1.0: core, creation, termination, expiration; docs/api.md).

An upload is a row (ResumableUpload) and its bytes where every web machine finds them,
so it resumes after a dropped connection, a server restart or on another machine: the
row's `offset` says how many bytes are kept. Each append streams its body to them at
that offset under a lease on the row (two appends never write at once; a writer that
died loses its lease when it runs out). When the last byte is in, the file
becomes a video with the plain upload's own checks and storing (videos/services.py).

Where the bytes wait, and how they become a video, is videos/resumable_stores.py: a
file in scratch with local storage, moved into place; an S3 multipart upload with S3,
probed through a link and copied within the bucket, never brought to a web machine.
"""

import base64
import binascii
import unicodedata
import uuid
from datetime import timedelta
from typing import BinaryIO

from django.conf import settings
from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone
from rest_framework import status

from videoproc.access import scoped
from videoproc.errors import ServiceError

from . import services
from .engine.media import FORMATS
from .models import ResumableUpload
from .resumable_stores import received_store

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = ("creation", "termination", "expiration")


def metadata_parse(header: str) -> dict[str, str]:
    """Upload-Metadata: comma-separated `key base64value` pairs (the value may be
    absent); 400 when it is not that."""
    metadata = {}
    for pair in filter(None, (item.strip() for item in header.split(","))):
        key, _, value = pair.partition(" ")
        try:
            metadata[key] = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise ServiceError(
                f"Upload-Metadata: the value of {key!r} is not base64 of UTF-8 text."
            ) from None
    return metadata


def metadata_header(metadata: dict[str, str]) -> str:
    return ",".join(
        f"{key} {base64.b64encode(value.encode()).decode()}".rstrip()
        for key, value in metadata.items()
    )


def _expiry() -> timezone.datetime:
    return timezone.now() + timedelta(hours=settings.TUS_EXPIRE_HOURS)


def resumable_create(*, length: int, metadata: dict[str, str], owner=None) -> ResumableUpload:
    """A new upload of `length` bytes, refused at once when its file could never be
    stored: a name without an accepted extension (415), nothing to send (415), more
    than MAX_UPLOAD_SIZE or the owner's quota (413). The quota counts the owner's other
    unfinished uploads as already stored: they were admitted against it too."""
    filename = metadata.get("filename", "").strip()
    if not filename:
        raise ServiceError(
            "Name the file in Upload-Metadata: 'filename <base64 of the name>'.",
        )
    if any(unicodedata.category(ch)[0] == "C" for ch in filename):
        raise ServiceError("The filename in Upload-Metadata has control characters.")
    extension = services.upload_extension(filename)
    if extension not in FORMATS:
        raise ServiceError(
            f"'{filename}' is not a video format we accept: its name must end in one of "
            f"{', '.join('.' + name for name in FORMATS)}.",
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
        )
    if length == 0:
        raise ServiceError(
            f"'{filename}' is empty: there is no video in it.",
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
        )
    services.video_upload_admit(declared=length, owner=owner)
    if owner is not None:
        unfinished = ResumableUpload.objects.filter(
            owner=owner, state=ResumableUpload.State.RECEIVING, expires_at__gt=timezone.now()
        )
        reserved = unfinished.aggregate(reserved=Sum("length"))["reserved"] or 0
        services.video_quota_check(owner=owner, incoming=length + reserved)
    upload = ResumableUpload(
        id=uuid.uuid4(),
        owner=owner,
        filename=filename[:255],
        metadata=metadata,
        length=length,
        expires_at=_expiry(),
    )
    upload.save()  # before its bytes' place: one without a row is cleaned as a leftover
    try:
        upload.store_state = received_store().begin(upload)
    except Exception:
        upload.delete()
        raise
    upload.save(update_fields=["store_state"])
    return upload


def resumable_get(*, upload_id: uuid.UUID, owner=None) -> ResumableUpload:
    """The owner's upload with that id, else a 404 (another user's too). An expired one
    is cleaned up here, on access, and is a 404 as well."""
    upload = scoped(ResumableUpload.objects.all(), owner).filter(pk=upload_id).first()
    if upload is not None and upload.expires_at <= timezone.now():
        _expired_delete(upload)
        upload = None
    if upload is None:
        raise ServiceError(f"No upload {upload_id}", status.HTTP_404_NOT_FOUND)
    return upload


def _lease_seconds() -> float:
    return settings.TUS_LEASE_SECONDS


def _lease_take(upload: ResumableUpload, *, offset: int) -> uuid.UUID:
    """Hold the upload for one writer, at `offset`: 409 when that is not where it is,
    423 while another request appends to it. The row is locked only for this moment,
    never across a body's transfer (on SQLite that lock would stop every other write)."""
    token = uuid.uuid4()
    now = timezone.now()
    with transaction.atomic():
        row = ResumableUpload.objects.select_for_update().filter(pk=upload.pk).first()
        if row is None:
            raise ServiceError(f"No upload {upload.pk}", status.HTTP_404_NOT_FOUND)
        if row.state != ResumableUpload.State.RECEIVING or row.offset != offset:
            raise _offset_conflict(row, offset)
        if row.lease_token is not None and row.lease_until > now:
            wait = max(1, int((row.lease_until - now).total_seconds()))
            raise ServiceError(
                "Another request is appending to this upload; try again when it ends.",
                status.HTTP_423_LOCKED,
                headers={"Retry-After": str(wait)},
            )
        row.lease_token = token
        row.lease_until = now + timedelta(seconds=_lease_seconds())
        row.save(update_fields=["lease_token", "lease_until"])
    return token


def _offset_conflict(row: ResumableUpload, offset: int) -> ServiceError:
    if row.state != ResumableUpload.State.RECEIVING:
        detail = "The upload is complete: it takes no more bytes."
    else:
        detail = (
            f"Upload-Offset {offset} is not where the upload is: {row.offset} of its "
            f"{row.length} bytes are in. Ask with HEAD and send from there."
        )
    return ServiceError(
        detail, status.HTTP_409_CONFLICT, headers={"Upload-Offset": str(row.offset)}
    )


def _lease_renew(upload: ResumableUpload, token: uuid.UUID) -> timezone.datetime:
    """Extend a held lease; 409 when it was lost (it ran out and another writer took the
    upload, or the upload was deleted): this writer must stop."""
    until = timezone.now() + timedelta(seconds=_lease_seconds())
    if not ResumableUpload.objects.filter(pk=upload.pk, lease_token=token).update(
        lease_until=until
    ):
        raise ServiceError(
            "This request lost its hold on the upload (it was too slow, or the upload was "
            "deleted): ask with HEAD where it is and send from there.",
            status.HTTP_409_CONFLICT,
        )
    return until


def _lease_end(upload: ResumableUpload, token: uuid.UUID, **fields) -> bool:
    """Release a held lease, writing fields with it; False when it was lost."""
    return bool(
        ResumableUpload.objects.filter(pk=upload.pk, lease_token=token).update(
            lease_token=None, lease_until=None, **fields
        )
    )


class _Body:
    """A request body whose failure to read (the client went away) ends it like its
    end does, so that what arrived before is committed; the error is raised after."""

    def __init__(self, body: BinaryIO):
        self.body = body
        self.error: Exception | None = None

    def read(self, size: int) -> bytes:
        try:
            return self.body.read(size)
        except Exception as error:  # the server's own read error, whichever server it is
            self.error = error
            return b""


def resumable_append(
    *, upload: ResumableUpload, offset: int, body: BinaryIO, size: int
) -> ResumableUpload:
    """Append `size` bytes read from body at `offset` (which must be where the upload
    is), streamed to its store a buffer at a time. The bytes that arrived are kept even
    when the connection drops midway; the upload becomes a video when they complete it."""
    if offset + size > upload.length:
        raise ServiceError(
            f"{size} bytes at offset {offset} go past the upload's length of {upload.length}.",
            status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    token = _lease_take(upload, offset=offset)
    upload.refresh_from_db()  # the state the lease was taken at
    store = received_store()
    lease_until = timezone.now() + timedelta(seconds=_lease_seconds())

    def keep_alive() -> None:
        # Renewed at half time: no other writer can take the upload while this one
        # writes, however slowly its client sends.
        nonlocal lease_until
        if timezone.now() > lease_until - timedelta(seconds=_lease_seconds() / 2):
            lease_until = _lease_renew(upload, token)

    reader = _Body(body)
    try:
        received, state = store.append(upload, body=reader, size=size, keep_alive=keep_alive)
    except BaseException:
        _lease_end(upload, token)  # nothing new is counted; the next writer overwrites it
        raise
    # Whatever happened to the connection, the bytes that came are kept.
    kept = _lease_end(
        upload, token, offset=offset + received, store_state=state, expires_at=_expiry()
    )
    if not kept:
        raise ServiceError(f"No upload {upload.pk}", status.HTTP_404_NOT_FOUND)
    store.superseded(upload.store_state, state)
    upload.refresh_from_db()
    if received < size:
        raise ServiceError(
            f"The request ended after {received} of its {size} bytes: they are kept, send "
            "the rest from Upload-Offset.",
            headers={"Upload-Offset": str(upload.offset)},
        ) from reader.error
    if upload.offset == upload.length:
        upload = resumable_finish(upload=upload)
    return upload


def resumable_finish(*, upload: ResumableUpload) -> ResumableUpload:
    """Make a complete upload a video, or record why it is refused (the answer its URL
    gives from then on). Under the upload's lease, so it happens once; an upload whose
    finisher died is finished by the next request that looks at it."""
    if upload.state != ResumableUpload.State.RECEIVING or upload.offset != upload.length:
        return upload
    try:
        token = _lease_take(upload, offset=upload.length)
    except ServiceError as error:
        if error.status_code == status.HTTP_409_CONFLICT:  # finished meanwhile
            upload.refresh_from_db()
            return upload
        raise
    upload.refresh_from_db()
    store = received_store()
    outcome = {}
    try:
        video = store.video_make(upload)
    except ServiceError as refusal:
        outcome = {
            "state": ResumableUpload.State.REFUSED,
            "refusal": refusal.detail,
            "refusal_status": refusal.status_code,
        }
    else:
        outcome = {"state": ResumableUpload.State.STORED, "video": video}
    finally:
        # A failure that is not a refusal (a full disk) keeps the bytes and releases the
        # lease without an outcome: the next request tries again.
        _lease_end(upload, token, expires_at=_expiry(), **outcome)
    store.discard(upload)  # stored as a video (moved or copied into place), or refused
    upload.refresh_from_db()
    return upload


def resumable_delete(*, upload: ResumableUpload) -> None:
    """Terminate an upload: its row and its received bytes go (a video it became stays).
    A request appending to it finds its lease gone and stops."""
    ResumableUpload.objects.filter(pk=upload.pk).delete()
    received_store().discard(upload)


def _expired_delete(upload: ResumableUpload) -> bool:
    """Delete an expired upload unless a writer holds it right now; whether it went."""
    now = timezone.now()
    deleted, _ = (
        ResumableUpload.objects.filter(pk=upload.pk, expires_at__lte=now)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lte=now))
        .delete()
    )
    if deleted:
        received_store().discard(upload)
    return bool(deleted)


def resumable_expire() -> int:
    """Delete every expired upload (unfinished ones with their received bytes; finished
    ones are only forgotten, their videos stay), and received files no upload owns (a
    crash between deleting a row and its file). How many uploads went."""
    expired = ResumableUpload.objects.filter(expires_at__lte=timezone.now())
    count = sum(_expired_delete(upload) for upload in expired)
    known = {str(pk) for pk in ResumableUpload.objects.values_list("pk", flat=True)}
    received_store().leftovers(known)
    return count
