"""tus 1.0 over HTTP at /video/uploads/ (videos/resumable.py does the work): the
protocol's headers in and out; errors keep our {"detail"} shape, with Tus-Resumable."""

import uuid

from django.conf import settings
from django.utils.http import http_date
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from videoproc.access import request_owner
from videoproc.errors import ServiceError
from videoproc.schema import ERROR, errors

from . import resumable
from .models import ResumableUpload
from .serializers import VideoSerializer

OFFSET_CONTENT_TYPE = "application/offset+octet-stream"
TUS_HEADER = OpenApiParameter(
    "Tus-Resumable", str, OpenApiParameter.HEADER, required=True, enum=[resumable.TUS_VERSION]
)


def _tus_error(code: int, why: str) -> dict[int, OpenApiResponse]:
    return {code: OpenApiResponse(ERROR, description=why)}


PRECONDITION = _tus_error(412, "Tus-Resumable is missing or not 1.0.0")


def _header_int(request, name: str, *, required: bool = True) -> int | None:
    """A header that must be a non-negative integer (Upload-Length, Upload-Offset); 400."""
    value = request.headers.get(name)
    if value is None:
        if required:
            raise ServiceError(f"The {name} header is missing.")
        return None
    if not value.isdigit():
        raise ServiceError(f"{name} must be a number of bytes, not {value!r}.")
    return int(value)


def _protocol_check(request) -> None:
    if request.headers.get("Tus-Resumable") != resumable.TUS_VERSION:
        raise ServiceError(
            f"This server speaks tus {resumable.TUS_VERSION}: send Tus-Resumable: "
            f"{resumable.TUS_VERSION}.",
            status.HTTP_412_PRECONDITION_FAILED,
            headers={"Tus-Version": resumable.TUS_VERSION},
        )


def _expires(upload: ResumableUpload) -> str:
    return http_date(upload.expires_at.timestamp())


class _TusView(APIView):
    """Every answer carries Tus-Resumable, and is never cached."""

    def options(self, request, *args, **kwargs):
        return Response(
            status=status.HTTP_204_NO_CONTENT,
            headers={
                "Tus-Version": resumable.TUS_VERSION,
                "Tus-Extension": ",".join(resumable.TUS_EXTENSIONS),
                "Tus-Max-Size": str(settings.MAX_UPLOAD_SIZE),
            },
        )

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Tus-Resumable"] = resumable.TUS_VERSION
        response["Cache-Control"] = "no-store"
        return response


class ResumableUploadsView(_TusView):
    @extend_schema(
        summary="Begin a resumable upload (tus 1.0 creation)",
        description="tus 1.0 (core, creation, termination, expiration): `Upload-Length` "
        "(bytes) and `Upload-Metadata` with `filename` (base64) name the file; it is "
        "refused here, before a byte is sent, when its name is not an accepted video "
        "format (415) or its length is over MAX_UPLOAD_SIZE or the quota left (413). "
        "Answers 201 with the upload's URL in `Location` and when it expires in "
        "`Upload-Expires`. Any tus client (tuspy, tus-js-client, Uppy) works unchanged.",
        parameters=[
            TUS_HEADER,
            OpenApiParameter("Upload-Length", int, OpenApiParameter.HEADER, required=True),
            OpenApiParameter("Upload-Metadata", str, OpenApiParameter.HEADER, required=True),
        ],
        request=None,
        responses={201: None, **errors(400, 413, 415), **PRECONDITION},
    )
    def post(self, request):
        _protocol_check(request)
        metadata = resumable.metadata_parse(request.headers.get("Upload-Metadata", ""))
        upload = resumable.resumable_create(
            length=_header_int(request, "Upload-Length"),
            metadata=metadata,
            owner=request_owner(request),
        )
        location = request.build_absolute_uri(f"/video/uploads/{upload.id}")
        return Response(
            status=status.HTTP_201_CREATED,
            headers={"Location": location, "Upload-Expires": _expires(upload)},
        )


class ResumableUploadView(_TusView):
    def _upload(self, request, upload_id: str) -> ResumableUpload:
        return resumable.resumable_get(upload_id=uuid.UUID(upload_id), owner=request_owner(request))

    @extend_schema(
        summary="Where a resumable upload is (tus 1.0 HEAD)",
        description="`Upload-Offset`: the bytes received and kept, from where to send on.",
        parameters=[TUS_HEADER],
        responses={200: None, **errors(404), **PRECONDITION},
    )
    def head(self, request, upload_id: str):
        _protocol_check(request)
        upload = self._upload(request, upload_id)
        headers = {
            "Upload-Offset": str(upload.offset),
            "Upload-Length": str(upload.length),
            "Upload-Metadata": resumable.metadata_header(upload.metadata),
        }
        if upload.state == ResumableUpload.State.RECEIVING:
            headers["Upload-Expires"] = _expires(upload)
        return Response(status=status.HTTP_200_OK, headers=headers)

    @extend_schema(
        summary="Send bytes of a resumable upload (tus 1.0 PATCH)",
        description="Body: `application/offset+octet-stream`, appended at `Upload-Offset`, "
        "which must be where the upload is (409 otherwise; 423 while another request "
        "appends). The bytes that arrive are kept even if the connection drops. The "
        "request that completes the file makes it a video, with the checks of "
        "`PUT /video/upload`: a refusal is answered here (415, 413) and by `GET` after.",
        parameters=[
            TUS_HEADER,
            OpenApiParameter("Upload-Offset", int, OpenApiParameter.HEADER, required=True),
        ],
        request={OFFSET_CONTENT_TYPE: OpenApiTypes.BINARY},
        responses={
            204: None,
            **errors(400, 404, 409, 413, 415, 507),
            **PRECONDITION,
            **_tus_error(411, "No Content-Length"),
            **_tus_error(423, "Another request is appending to this upload"),
        },
    )
    def patch(self, request, upload_id: str):
        _protocol_check(request)
        upload = self._upload(request, upload_id)
        if request.content_type.split(";")[0].strip().lower() != OFFSET_CONTENT_TYPE:
            raise ServiceError(
                f"Send the bytes as Content-Type: {OFFSET_CONTENT_TYPE}.",
                status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            )
        offset = _header_int(request, "Upload-Offset")
        size = _header_int(request, "Content-Length", required=False)
        if size is None:
            raise ServiceError("Give the body's Content-Length.", status.HTTP_411_LENGTH_REQUIRED)
        # The body is read from the request as it arrives, never parsed or held whole.
        upload = resumable.resumable_append(
            upload=upload, offset=offset, body=request._request, size=size
        )
        headers = {"Upload-Offset": str(upload.offset), "Upload-Expires": _expires(upload)}
        if upload.state == ResumableUpload.State.REFUSED:
            raise ServiceError(upload.refusal, upload.refusal_status, headers=headers)
        return Response(status=status.HTTP_204_NO_CONTENT, headers=headers)

    @extend_schema(
        summary="End a resumable upload (tus 1.0 termination)",
        description="Its received bytes are deleted; a video it became stays.",
        parameters=[TUS_HEADER],
        request=None,
        responses={204: None, **errors(404), **PRECONDITION},
    )
    def delete(self, request, upload_id: str):
        _protocol_check(request)
        resumable.resumable_delete(upload=self._upload(request, upload_id))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="The video a resumable upload became",
        description="Once complete: what `PUT /video/upload` answers for the one file (a "
        "list of one video record), or its refusal (415, 413) in its `detail`. 409 while "
        "bytes are still missing.",
        operation_id="video_uploads_retrieve",
        responses={
            200: VideoSerializer(many=True),
            **errors(404, 409, 413, 415, 507),
            **_tus_error(423, "The complete file is being made a video right now"),
        },
    )
    def get(self, request, upload_id: str):
        upload = resumable.resumable_finish(upload=self._upload(request, upload_id))
        if upload.state == ResumableUpload.State.REFUSED:
            raise ServiceError(upload.refusal, upload.refusal_status)
        if upload.state == ResumableUpload.State.RECEIVING:
            raise ServiceError(
                f"The upload is not complete: {upload.offset} of its {upload.length} bytes are in.",
                status.HTTP_409_CONFLICT,
                headers={"Upload-Offset": str(upload.offset)},
            )
        if upload.video is None:
            raise ServiceError(
                f"The video upload {upload.id} became was deleted since.",
                status.HTTP_404_NOT_FOUND,
            )
        return Response(VideoSerializer([upload.video], many=True).data)
