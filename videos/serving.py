"""Serving stored files under /storage/ with HTTP Range support, so players can seek.

Django's FileResponse ignores Range, and whitenoise only sees static files. On S3 the
stored file is behind a presigned URL, so we redirect there.

When accounts are required, a file is served only to its owner's session or through a
signed, expiring link (`?sig=`), so that a download link still works in a plain
`<video>` tag or curl, with no headers.
"""

import mimetypes
import os
import re
from urllib.parse import quote, urlencode

from django.conf import settings
from django.core import signing
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.storage import default_storage
from django.db.models import Q
from django.http import (
    FileResponse,
    Http404,
    HttpResponse,
    HttpResponseRedirect,
    JsonResponse,
    StreamingHttpResponse,
)
from django.views.decorators.http import require_safe

from videoproc.access import accounts_required

from .models import Video
from .timelines import timeline_folder_of

# Longer numbers than any file size are not a range we can answer: the whole file is sent.
RANGE_RE = re.compile(r"^bytes=(\d{0,18})-(\d{0,18})$")
CHUNK = 256 * 1024


class _RangeReader:
    """Yields `length` bytes of an open file starting at `start`."""

    def __init__(self, handle, start: int, length: int):
        self.handle, self.remaining = handle, length
        handle.seek(start)

    def __iter__(self):
        while self.remaining > 0:
            chunk = self.handle.read(min(CHUNK, self.remaining))
            if not chunk:
                break
            self.remaining -= len(chunk)
            yield chunk

    def close(self):
        self.handle.close()


_signer = signing.TimestampSigner(salt="videos.serving.stored")


def stored_url(name: str) -> str:
    """The URL of a stored file: the storage's own (presigned on S3); in required mode,
    a local file's carries a signature that expires after STORAGE_LINK_TTL."""
    url = default_storage.url(name)
    if not accounts_required() or not _is_local():
        return url
    signature = _signer.sign(name)[len(name) + 1 :]  # "<timestamp>:<mac>"
    return f"{url}?{urlencode({'sig': signature})}"


def _is_local() -> bool:
    try:
        default_storage.path("")
    except NotImplementedError:
        return False
    return True


def _refusal(request, name: str) -> JsonResponse | None:
    """Why this request may not have this file (required mode), or None if it may."""
    if "sig" in request.GET:
        try:
            _signer.unsign(f"{name}:{request.GET['sig']}", max_age=settings.STORAGE_LINK_TTL)
        except signing.SignatureExpired:
            return JsonResponse({"detail": "This link has expired; ask for a new one"}, status=403)
        except signing.BadSignature:
            return JsonResponse({"detail": "This link is not valid"}, status=403)
        return None
    if not request.user.is_authenticated:
        return JsonResponse({"detail": "Authentication credentials were not provided."}, status=401)
    mine = Q(file=name) | Q(thumbnail=name)
    if folder := timeline_folder_of(name):  # timeline files: the video's timeline folder
        mine |= Q(timeline__folder=folder)
    owns = Video.objects.filter(mine, owner=request.user).exists()
    return None if owns else JsonResponse({"detail": "Not found"}, status=404)


@require_safe
def serve_stored(request, name: str):
    if accounts_required() and (refusal := _refusal(request, name)):
        return refusal
    try:
        path = default_storage.path(name)
    except SuspiciousFileOperation:  # a path escaping the media root
        raise Http404("No such file") from None
    except NotImplementedError:
        if not default_storage.exists(name):
            raise Http404("No such file") from None
        return HttpResponseRedirect(default_storage.url(name))
    path = os.path.realpath(path)  # a symlink in the media folder must not lead out of it
    if not path.startswith(os.path.join(os.path.realpath(settings.MEDIA_ROOT), "")):
        raise Http404("No such file")
    if not os.path.isfile(path):
        raise Http404("No such file")
    content_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
    if settings.STORAGE_ACCEL_REDIRECT:
        # The proxy sends the file (with Range) from its internal location: this worker is
        # free as soon as the headers are out, however slowly the client reads.
        response = HttpResponse(content_type=content_type)
        response["X-Accel-Redirect"] = settings.STORAGE_ACCEL_REDIRECT + quote(name)
        return response
    size = os.path.getsize(path)
    match = RANGE_RE.match(request.headers.get("Range", "").strip())
    if not match or match.groups() == ("", ""):
        response = FileResponse(open(path, "rb"), content_type=content_type)
        response["Accept-Ranges"] = "bytes"
        return response
    first, last = match.groups()
    if first:
        start, end = int(first), min(int(last) if last else size - 1, size - 1)
    else:  # a suffix range: the last N bytes
        start, end = max(size - int(last), 0), size - 1
    if start >= size or start > end:
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
        return response
    length = end - start + 1
    response = StreamingHttpResponse(
        _RangeReader(open(path, "rb"), start, length), status=206, content_type=content_type
    )
    response["Content-Length"] = str(length)
    response["Content-Range"] = f"bytes {start}-{end}/{size}"
    response["Accept-Ranges"] = "bytes"
    return response
