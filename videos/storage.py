"""Names and local access for stored videos, through the storage API (local disk or S3)."""

import re
import shutil
import tempfile
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath, PureWindowsPath

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.utils import timezone

from .engine.media import SignedURL

ORIGIN = "origin"
MODI = "modi"


def safe_stem(filename: str) -> str:
    """The uploader's file name without directories, extension or risky characters."""
    base = PureWindowsPath(PurePosixPath(filename).name).name
    return _safe(base.rsplit(".", 1)[0] if "." in base else base)


def _safe(stem: str) -> str:
    """Word characters, dots and dashes only: no control characters, no separators, no
    spaces (a stored name is part of a URL), nothing to strip at either end."""
    stem = "".join(ch for ch in stem if unicodedata.category(ch)[0] != "C")
    stem = re.sub(r"[^\w.-]+", "_", stem).strip("._-")
    return stem[:80] or "video"


def new_name(folder: str, stem: str, extension: str) -> str:
    """`<folder>/<stem>_<timestamp>.<ext>`, the stem made safe (a job's result comes with
    the readable stem it is shown by, "clip (trim)": stored as "clip_trim"); the storage
    makes it unique when it saves."""
    stamp = timezone.now().strftime("%Y%m%d%H%M%S")
    return f"{folder}/{_safe(stem)}_{stamp}.{extension}"


def scratch_dir(prefix: str) -> tempfile.TemporaryDirectory:
    """A private working directory on the media filesystem, removed when done."""
    Path(settings.SCRATCH_DIR).mkdir(parents=True, exist_ok=True)
    return tempfile.TemporaryDirectory(prefix=prefix, dir=settings.SCRATCH_DIR)


class _MovableFile(File):
    """A finished local file: FileSystemStorage moves it into place instead of copying."""

    def temporary_file_path(self) -> str:
        return self.file.name


def store(path: str | Path, name: str) -> str:
    """Put a local file into storage under (a unique variant of) name; return the name."""
    with open(path, "rb") as handle:
        return default_storage.save(name, _MovableFile(handle, name=name))


@contextmanager
def local_path(name: str) -> Iterator[Path]:
    """A local file path for a stored name: the file itself on disk, a scratch copy on S3."""
    try:
        on_disk = default_storage.path(name)
    except NotImplementedError:  # a remote storage such as S3
        on_disk = None
    if on_disk:
        yield Path(on_disk)
        return
    with scratch_dir("fetch-") as directory:
        copy = Path(directory) / PurePosixPath(name).name
        with default_storage.open(name, "rb") as source, open(copy, "wb") as target:
            shutil.copyfileobj(source, target, length=1024 * 1024)
        yield copy


def signed_url(key: str) -> SignedURL:
    """A presigned link to an object of the bucket (S3 storage only), through which FFmpeg
    reads it with range requests where it is, instead of a copy of it here."""
    return SignedURL(
        default_storage.connection.meta.client.generate_presigned_url(
            "get_object",
            Params={"Bucket": default_storage.bucket_name, "Key": key},
            ExpiresIn=default_storage.querystring_expire,
        )
    )


def bucket_copy(key: str, new_name: str) -> str:
    """Copy an object of the bucket (S3 storage only) to a unique variant of new_name, with
    the object parameters a save gives it (its Content-Type); the stored name. The bucket
    copies it itself (boto3's managed copy, in parts past a threshold, so objects past
    the 5 GB of a single copy too); no byte of it passes through this machine."""
    new_name = default_storage.get_available_name(new_name)
    # The key and parameters as S3Storage._save makes them for a name.
    new_key = default_storage._normalize_name(new_name)
    parameters = default_storage._get_write_parameters(new_key)
    default_storage.bucket.Object(new_key).copy(
        {"Bucket": default_storage.bucket_name, "Key": key},
        ExtraArgs={**parameters, "MetadataDirective": "REPLACE"},
        Config=default_storage.transfer_config,
    )
    return new_name
