import json

from django.core.files.storage import default_storage
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status, viewsets
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from videoproc.access import request_owner, scoped
from videoproc.errors import ServiceError
from videoproc.paging import SkipLimitPagination
from videoproc.parsers import BoundedJSONParser
from videoproc.schema import errors

from . import services
from .models import Video
from .serializers import (
    DownloadLinkSerializer,
    LibraryVideoSerializer,
    VideoIdSerializer,
    VideoInfoSerializer,
    VideoRenameSerializer,
    VideoSerializer,
)
from .serving import stored_url


def declared_length(request, header: str = "CONTENT_LENGTH") -> int:
    """The body's length as its request declares it; 0 when it does not (as Django reads it)."""
    try:
        return max(0, int(request.META.get(header) or 0))
    except ValueError:
        return 0


def _video_id(request) -> int:
    params = VideoIdSerializer(data=request.query_params)
    params.is_valid(raise_exception=True)
    return params.validated_data["video_id"]


class VideoViewSet(viewsets.ViewSet):
    parser_classes = [MultiPartParser, FormParser, BoundedJSONParser]

    @property
    def pagination_class(self):
        # The list alone pages: upload and download answer lists too, and the schema
        # would give them the paging parameters.
        return SkipLimitPagination if self.action == "list" else None

    @extend_schema(
        summary="Upload videos",
        description="Multipart field `files`, one or more. All or nothing: one refused file "
        "(415, named in the detail) stores none.",
        request={
            "multipart/form-data": inline_serializer(
                "UploadRequest",
                {"files": serializers.ListField(child=serializers.FileField())},
            )
        },
        responses={200: VideoSerializer(many=True), **errors(400, 413, 415, 507)},
    )
    def upload(self, request):
        # Refused from its declared length before a byte of its body is read: nothing
        # before this reads it (authentication's CSRF check takes its token from a header
        # for an upload, videoproc/access.py; the throttles and permissions look at headers).
        owner = request_owner(request)
        services.video_upload_admit(declared=declared_length(request), owner=owner)
        videos = services.video_upload(files=request.FILES.getlist("files"), owner=owner)
        return Response(VideoSerializer(videos, many=True).data)

    @extend_schema(
        summary="List videos",
        responses={200: VideoSerializer(many=True), **errors(400)},
    )
    def list(self, request):
        paginator = self.pagination_class()
        videos = scoped(Video.objects.order_by("id"), request_owner(request))
        page = paginator.paginate_queryset(videos, request, view=self)
        return paginator.get_paginated_response(VideoSerializer(page, many=True).data)

    @extend_schema(
        summary="Video information",
        parameters=[VideoIdSerializer],
        responses={200: VideoInfoSerializer, **errors(400, 404, 500)},
    )
    def info(self, request):
        video = services.video_get(video_id=_video_id(request), owner=request_owner(request))
        if not default_storage.exists(video.file.name):
            raise ServiceError(
                f"The file of video {video.id} could not be read: it is missing from storage",
                status.HTTP_500_INTERNAL_SERVER_ERROR,
            )
        return Response(VideoInfoSerializer(video).data)

    @extend_schema(
        summary="Delete a video",
        description="Its row and its files (the video, its poster, its timeline) go; the "
        "owner's storage quota usage drops by its size. 409 while a pending, queued or "
        "running job needs it (as an input, or as the output of a job it named by "
        '`{"job_id": N}`). A job whose result it was keeps its record, with '
        "`output_video_id` null.",
        parameters=[VideoIdSerializer],
        request=None,
        responses={204: None, **errors(400, 404, 409)},
    )
    def remove(self, request):
        video = services.video_get(video_id=_video_id(request), owner=request_owner(request))
        services.video_delete(video=video)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Rename a video",
        description="The name the page shows it by (its stored file and paths do not "
        "change). Answers the video as the page's library shows it.",
        parameters=[VideoIdSerializer],
        request=VideoRenameSerializer,
        responses={200: LibraryVideoSerializer, **errors(400, 404, 415)},
    )
    def rename(self, request):
        video = services.video_get(video_id=_video_id(request), owner=request_owner(request))
        body = VideoRenameSerializer(data=request.data, context={"video": video})
        body.is_valid(raise_exception=True)
        video = services.video_rename(video=video, name=body.validated_data["name"])
        return Response(LibraryVideoSerializer(video).data)

    @extend_schema(
        summary="Download link of a processed video",
        parameters=[VideoIdSerializer],
        responses={200: DownloadLinkSerializer(many=True), **errors(400, 404)},
    )
    def download(self, request):
        video = services.video_get(
            video_id=_video_id(request), processed=True, owner=request_owner(request)
        )
        link = request.build_absolute_uri(stored_url(video.file.name))
        return Response([{"download_link": link}])


class UploadAdmissionView(APIView):
    """What nginx asks before it reads an upload's body (deploy/site.conf.in: auth_request),
    with the upload's headers, its Content-Length as X-Upload-Length and no body: would
    the upload be refused from these alone? 204: no, nginx goes on. nginx passes only 2xx,
    401 and 403 on from here (any other status is its own 500), so a refusal answers 401
    or 403 and carries its real status in X-Refusal-Status and its JSON in X-Refusal,
    which nginx answers with. Not throttled: it reads headers only, and the upload it
    comes before is counted."""

    throttle_classes = ()

    @extend_schema(exclude=True)
    def get(self, request):
        services.video_upload_admit(
            declared=declared_length(request, "HTTP_X_UPLOAD_LENGTH"),
            owner=request_owner(request),
        )
        return Response(status=status.HTTP_204_NO_CONTENT)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if response.status_code >= 400:
            response["X-Refusal-Status"] = str(response.status_code)
            response["X-Refusal"] = json.dumps(response.data)  # ASCII: fit for a header
            if response.status_code != status.HTTP_401_UNAUTHORIZED:
                response.status_code = status.HTTP_403_FORBIDDEN
        return response
