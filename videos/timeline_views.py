"""The timeline API: a video's keyframes, storyboard and peaks (videos/timelines.py makes
them), and the storyboard's WebVTT with links that work wherever it is read."""

import re
from math import ceil

from django.conf import settings
from django.core import signing
from django.core.files.storage import default_storage
from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from videoproc.access import accounts_required, request_owner
from videoproc.errors import ServiceError
from videoproc.schema import ERROR, errors

from . import services, timelines
from .models import Timeline
from .serializers import VideoIdSerializer
from .serving import stored_url

RETRY_AFTER = 5  # seconds: what a 202 suggests waiting before asking again
CUE_SPRITE_RE = re.compile(r"^([\w.-]+)#xywh=", re.M)
_storyboard_signer = signing.TimestampSigner(salt="videos.timeline.storyboard")


class TimelineSerializer(serializers.Serializer):
    video_id = serializers.IntegerField()
    duration_ms = serializers.IntegerField()
    frame_rate = serializers.FloatField(help_text="frames per second (average)")
    frame_rate_exact = serializers.CharField(help_text='as a fraction, e.g. "30000/1001"')
    keyframes_ms = serializers.ListField(
        child=serializers.IntegerField(),
        help_text="where a decode can start (IDR / IRAP keyframes), ms from the start",
    )
    storyboard = serializers.URLField(
        help_text="WebVTT: one cue per thumbnail, its text `<sprite URL>#xywh=x,y,w,h`"
    )
    waveform = serializers.URLField(
        allow_null=True, help_text="audiowaveform JSON (version 2, 8 bits, mono); null: no sound"
    )


def _video_id(request) -> int:
    params = VideoIdSerializer(data=request.query_params)
    params.is_valid(raise_exception=True)
    return params.validated_data["video_id"]


def _storyboard_link(request, video_id: int) -> str:
    """The storyboard view's absolute URL; signed (STORAGE_LINK_TTL) when accounts are
    required, as a download link is, so a player's plain GET needs no credentials."""
    query = f"video_id={video_id}"
    if accounts_required():
        query += f"&sig={_storyboard_signer.sign(str(video_id))[len(str(video_id)) + 1 :]}"
    return request.build_absolute_uri(f"/video/view/timeline/storyboard?{query}")


class TimelineView(APIView):
    @extend_schema(
        summary="Timeline data of a video",
        description="Keyframe times, a storyboard (WebVTT of sprite regions) and audio peaks "
        "(audiowaveform JSON v2), made once per video in the background. 202 with "
        "Retry-After while they are being made (asking starts that when nothing makes "
        "them); 409 when making them failed, until it is tried again (Retry-After).",
        parameters=[VideoIdSerializer],
        responses={
            200: TimelineSerializer,
            202: OpenApiResponse(ERROR, description="Being made: ask again after Retry-After"),
            **errors(400, 404, 409),
        },
    )
    def get(self, request):
        video = services.video_get(video_id=_video_id(request), owner=request_owner(request))
        if not video.has_picture:
            raise ServiceError(
                f"Video {video.id} is sound only (an audio-only encode): it has no pictures "
                "to show on a timeline.",
                status.HTTP_409_CONFLICT,
            )
        row = timelines.timeline_begin(video=video)
        if row.state == Timeline.State.MAKING:
            return Response(
                {"detail": f"The timeline of video {video.id} is being made; ask again soon"},
                status=status.HTTP_202_ACCEPTED,
                headers={"Retry-After": str(RETRY_AFTER)},
            )
        if row.state == Timeline.State.FAILED:
            retry_at = row.finished_at.timestamp() + settings.TIMELINE_RETRY_SECONDS
            wait = max(1, ceil(retry_at - timezone.now().timestamp()))
            return Response(
                {
                    "detail": f"The timeline of video {video.id} could not be made "
                    f"({row.error}); it is tried again when asked for in {wait} s"
                },
                status=status.HTTP_409_CONFLICT,
                headers={"Retry-After": str(wait)},
            )
        data = {
            "video_id": video.id,
            "duration_ms": round(video.duration * 1000),
            "frame_rate": round(video.fps, 3),
            "frame_rate_exact": video.frame_rate,
            "keyframes_ms": row.keyframes_ms,
            "storyboard": _storyboard_link(request, video.id),
            "waveform": request.build_absolute_uri(stored_url(row.waveform))
            if row.waveform
            else None,
        }
        return Response(TimelineSerializer(data).data)


class StoryboardView(APIView):
    """The stored WebVTT with each cue's sprite as an absolute link, signed or presigned
    as a download link is: relative names would resolve against this URL and lose the
    signature its query string carries."""

    permission_classes = ()  # a valid signature stands for credentials (checked below)

    @extend_schema(
        summary="Storyboard of a video (WebVTT)",
        description="The link the timeline answer gives; with API_AUTH=required it is "
        "signed (`sig`) and expires after STORAGE_LINK_TTL, or the owner's credentials do.",
        parameters=[VideoIdSerializer],
        responses={
            (200, "text/vtt"): OpenApiResponse(OpenApiTypes.STR, description="WebVTT"),
            **errors(400, 404),
        },
    )
    def get(self, request):
        signed = "sig" in request.query_params
        if accounts_required() and not signed and not request.user.is_authenticated:
            raise exceptions.NotAuthenticated()
        video_id = _video_id(request)
        owner = None
        if accounts_required():
            if signed:
                _check_signature(video_id, request.query_params["sig"])
            else:
                owner = request.user
        video = services.video_get(video_id=video_id, owner=owner)
        row = Timeline.objects.filter(video=video, state=Timeline.State.READY).first()
        if row is None or not row.storyboard:
            raise ServiceError(
                f"Video {video.id} has no storyboard yet: ask for its timeline first "
                "(GET /video/view/timeline).",
                status.HTTP_404_NOT_FOUND,
            )
        with default_storage.open(row.storyboard, "rb") as handle:
            text = handle.read().decode()
        links = {
            name.rsplit("/", 1)[-1]: request.build_absolute_uri(stored_url(name))
            for name in row.sprites
        }

        def absolute(match: re.Match) -> str:
            return f"{links.get(match[1], match[1])}#xywh="

        response = HttpResponse(CUE_SPRITE_RE.sub(absolute, text), content_type="text/vtt")
        response["Cache-Control"] = "private, max-age=60"
        return response


def _check_signature(video_id: int, signature: str) -> None:
    try:
        _storyboard_signer.unsign(f"{video_id}:{signature}", max_age=settings.STORAGE_LINK_TTL)
    except signing.SignatureExpired:
        raise exceptions.PermissionDenied("This link has expired; ask for a new one") from None
    except signing.BadSignature:
        raise exceptions.PermissionDenied("This link is not valid") from None
