"""The browser page at / and the JSON it reads beside the API (additive endpoints; the
contract's responses stay as they are): the library with what the page shows of each
video, and which videos can be joined to a chosen first one. The page works with both
apps (videos with the jobs that made them; queueing and watching jobs), so it lives
here, above both; its tokens panel reads videoproc.tokens."""

from django.contrib.auth.views import redirect_to_login
from django.shortcuts import render
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from videoproc.access import accounts_required, request_owner, scoped
from videoproc.schema import errors
from videos import services
from videos.engine import capabilities
from videos.engine.media import FORMATS
from videos.engine.pipelines import concat_incompatibility
from videos.models import Video
from videos.serializers import VideoIdSerializer
from videos.serving import stored_url

# Offered first in the encode form, when this FFmpeg has them; its other encoders follow.
COMMON_ENCODERS = {
    "video": ["libx264", "libx265", "libvpx-vp9", "libvpx", "libsvtav1", "libaom-av1", "mpeg4"],
    "audio": ["aac", "libopus", "libmp3lame", "libvorbis", "flac", "ac3"],
}


def encoder_choices(kind: str) -> tuple[list[str], list[str]]:
    """(common, other) software encoders of one kind that this FFmpeg has."""
    usable = sorted(
        encoder.name
        for encoder in capabilities.encoders().values()
        if encoder.kind == kind and capabilities.dependable(encoder)
    )
    common = [name for name in COMMON_ENCODERS[kind] if name in usable]
    return common, [name for name in usable if name not in common]


def index(request):
    if accounts_required() and not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    return render(
        request,
        "page/index.html",
        {
            "video_encoders": encoder_choices("video"),
            "audio_encoders": encoder_choices("audio"),
            "containers": list(FORMATS),
            "accept": ",".join(f".{extension}" for extension in FORMATS),
            "accounts": accounts_required(),
        },
    )


class LibraryVideoSerializer(serializers.ModelSerializer):
    """A video as the page shows it: the probe, where to play it and what produced it."""

    name = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()
    thumbnail_url = serializers.SerializerMethodField()
    resolution = serializers.CharField()
    fps = serializers.SerializerMethodField()
    produced_by = serializers.SerializerMethodField()

    class Meta:
        model = Video
        fields = [
            "id",
            "name",
            "kind",
            "url",
            "thumbnail_url",
            "duration",
            "size",
            "video_codec",
            "audio_codec",
            "resolution",
            "fps",
            "extension",
            "trim_info",
            "concat_info",
            "encode_info",
            "produced_by",
            "created_at",
        ]

    def get_name(self, video: Video) -> str:
        return video.original_name or video.file.name.rsplit("/", 1)[-1]

    def get_url(self, video: Video) -> str:
        return stored_url(video.file.name)

    def get_thumbnail_url(self, video: Video) -> str | None:
        return stored_url(video.thumbnail.name) if video.thumbnail else None

    def get_fps(self, video: Video) -> float:
        return round(video.fps, 3)

    def get_produced_by(self, video: Video) -> dict | None:
        job = getattr(video, "produced_by", None)
        return {"job_id": job.id, "kind": job.kind} if job else None


class LibraryView(APIView):
    @extend_schema(
        summary="Videos as the page shows them", responses=LibraryVideoSerializer(many=True)
    )
    def get(self, request):
        videos = scoped(Video.objects.select_related("produced_by"), request_owner(request))
        videos = videos.order_by("id")
        return Response(LibraryVideoSerializer(videos, many=True).data)


class ConcatCandidatesView(APIView):
    @extend_schema(
        summary="Why each video could not follow the given one in a concat (null: it can)",
        parameters=[VideoIdSerializer],
        responses={
            200: {"type": "object", "additionalProperties": {"type": "string", "nullable": True}},
            **errors(400, 404),
        },
    )
    def get(self, request):
        params = VideoIdSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        owner = request_owner(request)
        first = services.video_get(video_id=params.validated_data["video_id"], owner=owner)
        return Response(
            {
                str(video.id): concat_incompatibility([first, video])
                for video in scoped(Video.objects.order_by("id"), owner)
            }
        )
