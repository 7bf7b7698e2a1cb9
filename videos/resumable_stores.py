"""Where a resumable upload's bytes wait until they are all in (videos/resumable.py),
and how they then become a video: a file in shared scratch space with local storage,
moved into place; an S3 multipart upload with S3, probed and copied in the bucket.
The one in use follows the default storage; resumable.py sees only `received_store()`.

What a store must keep to go on is returned as a small JSON state, which resumable.py
commits with the upload's offset in the same row update: after a crash, the row and
the bytes it counts always agree, and whatever a dead writer sent past them is
overwritten by the next one."""

import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, Protocol

from django.conf import settings
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile

from . import services, storage
from .models import ResumableUpload, Video

FOLDER = "tus"  # in scratch (local) or in the bucket (S3)
# Bytes read from a request body and written at a time.
BUFFER_SIZE = 1024 * 1024
# S3 takes at most 10,000 parts, each at least 5 MiB but the last.
S3_MIN_PART = 5 * 1024 * 1024
S3_MAX_PARTS = 10_000


class ReceivedStore(Protocol):
    def begin(self, upload: ResumableUpload) -> dict:
        """Make room for a new upload; its first state."""

    def append(
        self, upload: ResumableUpload, *, body: BinaryIO, size: int, keep_alive: Callable
    ) -> tuple[int, dict]:
        """Take up to size bytes from body at the upload's offset (calling keep_alive
        between buffers); how many were kept, and the state that counts them."""

    def superseded(self, old: dict, new: dict) -> None:
        """Remove what an older state needed and a newer one, now committed, does not."""

    def video_make(self, upload: ResumableUpload) -> Video:
        """The complete upload made a video, with a plain upload's checks and limits
        (services); ServiceError when it is refused. The received bytes stay (discard)."""

    def discard(self, upload: ResumableUpload) -> None:
        """Remove everything the upload holds (idempotent)."""


def _read_into(target: BinaryIO, body: BinaryIO, want: int, keep_alive: Callable) -> int:
    """Copy up to want bytes of body to target a buffer at a time; fewer when it ends."""
    copied = 0
    while copied < want:
        chunk = body.read(min(BUFFER_SIZE, want - copied))
        if not chunk:
            break
        keep_alive()
        target.write(chunk)
        copied += len(chunk)
    return copied


class LocalStore:
    """One file per upload in SCRATCH_DIR/tus/, appended in place. Several web machines
    need SCRATCH_DIR shared (as MEDIA_ROOT is with local storage)."""

    def path(self, upload: ResumableUpload) -> Path:
        return Path(settings.SCRATCH_DIR) / FOLDER / f"{upload.id}.part"

    def begin(self, upload: ResumableUpload) -> dict:
        path = self.path(upload)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
        return {}

    def append(self, upload, *, body, size, keep_alive):
        path = self.path(upload)
        # Created if missing: a crash may come between the row and its file.
        with os.fdopen(os.open(path, os.O_RDWR | os.O_CREAT, 0o600), "r+b") as target:
            target.seek(upload.offset)
            target.truncate()  # what a writer that died left past the kept offset
            received = _read_into(target, body, size, keep_alive)
            target.flush()
            os.fsync(target.fileno())  # the offset committed next must survive a crash
        return received, {}

    def superseded(self, old: dict, new: dict) -> None:
        pass

    def video_make(self, upload: ResumableUpload) -> Video:
        received = _ReceivedFile(self.path(upload), upload.filename, upload.length)
        try:
            [video] = services.video_upload(files=[received], owner=upload.owner)
        finally:
            received.close()
        return video  # local storage moved the file into place

    def discard(self, upload: ResumableUpload) -> None:
        self.path(upload).unlink(missing_ok=True)

    def leftovers(self, known: set[str]) -> None:
        """Delete received files no upload owns (a crash between a row and its file)."""
        folder = Path(settings.SCRATCH_DIR) / FOLDER
        if folder.is_dir():
            for path in folder.glob("*.part"):
                if path.stem not in known:
                    path.unlink(missing_ok=True)


class S3Store:
    """An S3 multipart upload per tus upload, at tus/<id> in the bucket: each PATCH's
    bytes are gathered in a scratch buffer into parts of part_size (at least 5 MiB, as
    S3 asks of every part but the last) and sent as they fill. What is left at the end
    of a PATCH (less than a part) is kept as its own small object, named by where it
    starts, so that any web machine can go on from it; scratch never holds more than a
    part. State: {"key", "upload_id", "part_size", "parts": [{"n", "etag", "size"}],
    "tail": {"key", "size"} or null}."""

    def __init__(self):
        self.client = default_storage.connection.meta.client
        self.bucket = default_storage.bucket_name

    def begin(self, upload: ResumableUpload) -> dict:
        key = f"{FOLDER}/{upload.id}"
        created = self.client.create_multipart_upload(Bucket=self.bucket, Key=key)
        part_size = max(settings.TUS_S3_PART_SIZE, S3_MIN_PART, -(-upload.length // S3_MAX_PARTS))
        return {
            "key": key,
            "upload_id": created["UploadId"],
            "part_size": part_size,
            "parts": [],
            "tail": None,
        }

    def append(self, upload, *, body, size, keep_alive):
        state = {**upload.store_state, "parts": list(upload.store_state["parts"])}
        tail = state["tail"]
        received = 0
        with storage.scratch_dir("tus-") as directory, open(Path(directory) / "part", "w+b") as buf:
            if tail:
                answer = self.client.get_object(Bucket=self.bucket, Key=tail["key"])
                shutil.copyfileobj(answer["Body"], buf, BUFFER_SIZE)
            while True:
                room = state["part_size"] - buf.tell()
                taken = _read_into(buf, body, min(room, size - received), keep_alive)
                received += taken
                if buf.tell() < state["part_size"]:
                    break  # the body is done (or gone) before this part is full
                self._part_send(state, buf)
            end = upload.offset + received
            if buf.tell() and end == upload.length:
                self._part_send(state, buf)  # the last part may be small
            state["tail"] = None
            if buf.tell():
                tail_key = f"{state['key']}.tail-{end - buf.tell()}-{uuid.uuid4().hex[:8]}"
                buf.seek(0)
                self.client.put_object(Bucket=self.bucket, Key=tail_key, Body=buf)
                state["tail"] = {"key": tail_key, "size": buf.tell()}
        return received, state

    def _part_send(self, state: dict, buf: BinaryIO) -> None:
        size = buf.tell()
        buf.seek(0)
        number = len(state["parts"]) + 1
        sent = self.client.upload_part(
            Bucket=self.bucket,
            Key=state["key"],
            UploadId=state["upload_id"],
            PartNumber=number,
            Body=buf,
            ContentLength=size,
        )
        state["parts"].append({"n": number, "etag": sent["ETag"], "size": size})
        buf.seek(0)
        buf.truncate()

    def superseded(self, old: dict, new: dict) -> None:
        if old.get("tail") and old["tail"] != new.get("tail"):
            self.client.delete_object(Bucket=self.bucket, Key=old["tail"]["key"])

    def video_make(self, upload: ResumableUpload) -> Video:
        """The parts joined by S3 itself, into the object at the upload's key; then that
        object is probed and copied into place where it is (video_upload_in_bucket):
        this machine never holds the file."""
        state = upload.store_state
        try:
            self.client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=state["key"],
                UploadId=state["upload_id"],
                MultipartUpload={
                    "Parts": [{"PartNumber": p["n"], "ETag": p["etag"]} for p in state["parts"]]
                },
            )
        except self.client.exceptions.NoSuchUpload:
            pass  # completed by a finisher that died before it was done
        return services.video_upload_in_bucket(
            key=state["key"], filename=upload.filename, size=upload.length, owner=upload.owner
        )

    def discard(self, upload: ResumableUpload) -> None:
        state = upload.store_state
        if not state:
            return
        try:
            self.client.abort_multipart_upload(
                Bucket=self.bucket, Key=state["key"], UploadId=state["upload_id"]
            )
        except self.client.exceptions.NoSuchUpload:
            pass
        listed = self.client.list_objects_v2(Bucket=self.bucket, Prefix=state["key"])
        for item in listed.get("Contents", []):
            self.client.delete_object(Bucket=self.bucket, Key=item["Key"])

    def leftovers(self, known: set[str]) -> None:
        pass  # an S3 multipart upload without a row: the bucket's lifecycle rule (docs)


class _ReceivedFile(UploadedFile):
    """A complete upload's file, handed to video_upload as a plain upload's temporary
    file is (local storage moves it into place)."""

    def __init__(self, path: Path, name: str, size: int):
        super().__init__(open(path, "rb"), name=name, size=size)
        self.path = path

    def temporary_file_path(self) -> str:
        return str(self.path)


def received_store() -> LocalStore | S3Store:
    try:
        default_storage.path("")
    except NotImplementedError:  # a remote storage: S3
        return S3Store()
    return LocalStore()
