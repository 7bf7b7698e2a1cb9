"""The browser page at / and the JSON it reads beside the API (additive endpoints; the
contract's responses stay as they are): the library with what the page shows of each
video, and which videos can be joined to a chosen first one. The page works with both
apps (videos with the jobs that made them; queueing and watching jobs), so it lives
here, above both; its tokens panel reads videoproc.tokens."""

import math

from django.contrib.auth.views import redirect_to_login
from django.db.models import F
from django.db.models.functions import Lower
from django.shortcuts import render
from django.utils import timezone
from django.utils.http import parse_etags
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from jobs import turns
from jobs.kinds.trim import Mode
from jobs.models import Job
from jobs.serializers import JobListParamsSerializer, JobSerializer, TimeField
from videoproc import presets
from videoproc import services as editor
from videoproc.access import accounts_required, request_owner, scoped
from videoproc.errors import ServiceError
from videoproc.paging import PageSerializer, SkipLimitPagination
from videoproc.schema import errors
from videos import services
from videos.engine import capabilities
from videos.engine.media import FORMATS
from videos.engine.pipelines import concat_incompatibility
from videos.models import Video
from videos.serializers import LibraryVideoSerializer, VideoIdSerializer

# The encoders the encode form offers: those that make sense for delivering video (not
# a64multi, xbm, ...), the common ones first, when this FFmpeg has them. dnxhd is left
# out: it encodes only a fixed list of sizes and bitrates that the encode does not set.
COMMON_ENCODERS = {
    "video": ["libx264", "libx265", "libvpx-vp9", "libvpx", "libsvtav1", "libaom-av1", "mpeg4"],
    "audio": ["aac", "libopus", "libmp3lame", "libvorbis", "flac", "ac3"],
}
OTHER_DELIVERY_ENCODERS = {
    "video": ["prores_ks", "ffv1", "mpeg2video", "libtheora"],
    "audio": ["eac3", "mp2", "alac", "pcm_s16le", "pcm_s24le"],
}


def encoder_choices(kind: str) -> tuple[list[str], list[str]]:
    """(common, other) delivery encoders of one kind that this FFmpeg has."""
    usable = {
        encoder.name
        for encoder in capabilities.encoders().values()
        if encoder.kind == kind and capabilities.dependable(encoder)
    }
    common = [name for name in COMMON_ENCODERS[kind] if name in usable]
    return common, [name for name in OTHER_DELIVERY_ENCODERS[kind] if name in usable]


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


# The library's orders; each ends with the id, so that a page boundary is stable.
LIBRARY_SORTS = {
    "oldest": ["id"],
    "newest": ["-id"],
    "name": [Lower("original_name"), "id"],
    "size": [F("size").desc(), "-id"],
    "duration": [F("duration").desc(), "-id"],
}
SEARCH_MAX = 255


class LibraryQuerySerializer(serializers.Serializer):
    q = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=SEARCH_MAX,
        trim_whitespace=True,
        help_text="Only videos whose name holds this (case-insensitive)",
    )
    sort = serializers.ChoiceField(
        choices=list(LIBRARY_SORTS),
        default="oldest",
        help_text="oldest (id order, the default), newest, name (A-Z), size or duration "
        "(largest, longest first)",
    )


class LibraryView(APIView):
    """The owner's videos as the page shows them: searched, sorted and paged (`skip`,
    `limit`, as every list); the total that match is in the X-Total-Count header."""

    pagination_class = SkipLimitPagination

    @extend_schema(
        summary="Videos as the page shows them",
        parameters=[LibraryQuerySerializer, PageSerializer],
        responses={200: LibraryVideoSerializer(many=True), **errors(400)},
    )
    def get(self, request):
        query = LibraryQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        videos = scoped(Video.objects.select_related("produced_by"), request_owner(request))
        if text := query.validated_data.get("q"):
            videos = videos.filter(original_name__icontains=text)
        videos = videos.order_by(*LIBRARY_SORTS[query.validated_data["sort"]])
        page = self.pagination_class().paginate_queryset(videos, request, view=self)
        return Response(
            LibraryVideoSerializer(page, many=True).data,
            headers={"X-Total-Count": str(videos.count())},
        )


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


@extend_schema_field({"type": "object", "additionalProperties": True})
class DraftField(serializers.JSONField):
    """The page's draft: any JSON object (its segments and settings), at most
    DRAFT_MAX_BYTES serialized."""

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError("The draft must be a JSON object.")
        size = editor.draft_size(data)
        if size > editor.DRAFT_MAX_BYTES:
            raise serializers.ValidationError(
                f"The draft is {size} bytes as JSON; at most {editor.DRAFT_MAX_BYTES} are kept."
            )
        return data


class DraftKeySerializer(serializers.Serializer):
    request_code = serializers.CharField(
        max_length=100,
        required=False,
        help_text="whose draft: required with API_AUTH=off; ignored with API_AUTH=required "
        "(a user has one draft)",
    )

    def validate(self, attrs: dict) -> dict:
        if not accounts_required() and not attrs.get("request_code"):
            raise serializers.ValidationError(
                {"request_code": "Name whose draft this is (request_code): accounts are off."}
            )
        return attrs


class DraftSerializer(serializers.Serializer):
    draft = DraftField(
        help_text="the editor's draft as the page stores it; {} when none",
        error_messages={"null": "The draft must be a JSON object.", "required": "Send the draft."},
    )
    updated_at = serializers.DateTimeField(allow_null=True, read_only=True)


class DraftView(APIView):
    """The timeline editor's draft, kept on the server: one per user (API_AUTH=required)
    or per request code (off)."""

    def _key(self, request) -> dict:
        key = DraftKeySerializer(data=request.query_params)
        key.is_valid(raise_exception=True)
        owner = request_owner(request)
        return {
            "owner": owner,
            "request_code": None if owner else key.validated_data["request_code"],
        }

    @staticmethod
    def _answer(draft) -> Response:
        if draft is None:
            return Response({"draft": {}, "updated_at": None})
        return Response(DraftSerializer({"draft": draft.data, "updated_at": draft.updated_at}).data)

    @extend_schema(
        summary="The editor's draft",
        parameters=[DraftKeySerializer],
        responses={200: DraftSerializer, **errors(400)},
    )
    def get(self, request):
        return self._answer(editor.draft_get(**self._key(request)))

    @extend_schema(
        summary="Keep the editor's draft (replacing the one kept)",
        parameters=[DraftKeySerializer],
        request=DraftSerializer,
        responses={200: DraftSerializer, **errors(400)},
    )
    def put(self, request):
        key = self._key(request)
        body = DraftSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return self._answer(editor.draft_save(**key, data=body.validated_data["draft"]))


class PageJobSerializer(JobSerializer):
    """A job as the API gives it, and how long it has run and has left (context: now)."""

    elapsed_seconds = serializers.SerializerMethodField(
        help_text="running: since it started; finished: how long it ran; else null"
    )
    eta_seconds = serializers.SerializerMethodField(
        help_text="running: seconds left, from its progress once past 3 %, before that from "
        "its predicted cost (at least 1); pending or queued: the predicted run; else null"
    )

    class Meta(JobSerializer.Meta):
        fields = [*JobSerializer.Meta.fields, "elapsed_seconds", "eta_seconds"]

    def get_elapsed_seconds(self, job: Job) -> float | None:
        elapsed = editor.job_elapsed(job, self.context["now"])
        return None if elapsed is None else round(elapsed, 1)

    def get_eta_seconds(self, job: Job) -> float | None:
        eta = editor.job_eta(job, editor.job_elapsed(job, self.context["now"]))
        return None if eta is None else round(eta, 1)


class PageJobsSerializer(serializers.Serializer):
    now = serializers.DateTimeField(help_text="the server's time, for the elapsed times")
    jobs = PageJobSerializer(many=True, help_text="oldest first, the newest 100 at most")


def _etag_matches(request, etag: str) -> bool:
    """Whether If-None-Match names this ETag (compared weakly, as for a GET)."""
    sent = parse_etags(request.headers.get("If-None-Match", ""))
    return "*" in sent or any(tag.removeprefix("W/") == etag.removeprefix("W/") for tag in sent)


class PageJobsView(APIView):
    """The requester's jobs for the page to poll: 304 without a body while nothing it
    shows has changed (If-None-Match: the ETag of the last answer)."""

    @extend_schema(
        summary="The jobs the page watches, with elapsed times and ETAs",
        parameters=[
            JobListParamsSerializer,
            OpenApiParameter(
                "If-None-Match",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                description="the ETag of the last answer: 304 if nothing shown has changed",
            ),
        ],
        responses={
            200: PageJobsSerializer,
            304: OpenApiResponse(description="Nothing the page shows has changed"),
            **errors(400),
        },
    )
    def get(self, request):
        query = JobListParamsSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        jobs = editor.page_jobs(
            owner_jobs=scoped(Job.objects.all(), request_owner(request)),
            request_code=query.validated_data.get("request_code"),
        )
        rows = list(jobs.values_list(*editor.SHOWN_FIELDS))
        queued = any(row[1] == Job.Status.QUEUED for row in rows)
        places = turns.places() if queued else {}
        etag = editor.jobs_etag(rows, places)
        if _etag_matches(request, etag):
            return Response(
                status=status.HTTP_304_NOT_MODIFIED,
                headers={"ETag": etag, "Cache-Control": "private, no-cache"},
            )
        now = timezone.now()
        # read again whole (with each job's chunks): the ETag is of what is sent
        shown = list(jobs.prefetch_related("chunks"))
        etag = editor.jobs_etag(
            [tuple(getattr(job, name) for name in editor.SHOWN_FIELDS) for job in shown], places
        )
        return Response(
            PageJobsSerializer(
                {"now": now, "jobs": shown}, context={"now": now, "places": places}
            ).data,
            headers={"ETag": etag, "Cache-Control": "private, no-cache"},
        )


class TrimPlanQuerySerializer(VideoIdSerializer):
    start_ms = TimeField(help_text="where the trim starts: milliseconds (or '5s', 'MM:SS.fff')")
    end_ms = TimeField(help_text="where it ends, after start_ms, at most the video's end")
    mode = serializers.ChoiceField(
        choices=Mode.choices, default=Mode.SMART, help_text="the trim's mode (as for the trim)"
    )

    def validate(self, attrs: dict) -> dict:
        if attrs["end_ms"] <= attrs["start_ms"]:
            raise serializers.ValidationError(
                f"The end ({attrs['end_ms']} ms) must come after the start "
                f"({attrs['start_ms']} ms)."
            )
        return attrs


class TrimPlanSerializer(serializers.Serializer):
    method = serializers.CharField(
        help_text="what the trim would run: smart, reencode or keyframe (smart may fall back "
        "to reencode)"
    )
    copy = serializers.ListField(
        child=serializers.ListField(child=serializers.FloatField(), min_length=2, max_length=2),
        help_text="the source's spans [start_ms, end_ms] copied as they are",
    )
    reencode = serializers.ListField(
        child=serializers.ListField(child=serializers.FloatField(), min_length=2, max_length=2),
        help_text="the source's spans [start_ms, end_ms] re-encoded",
    )
    predicted_seconds = serializers.FloatField(
        help_text="how long the trim would take here, per the cost model (wall seconds)"
    )
    note = serializers.CharField(
        allow_null=True,
        help_text="why a smart trim would re-encode it all; where a keyframe trim really starts",
    )


class TrimPlanView(APIView):
    """What a trim of a range would copy and re-encode, planned by the trim job's own
    code, for the timeline to show as a handle is dragged."""

    @extend_schema(
        summary="Preview a trim: the spans it would copy and re-encode, and its time",
        parameters=[TrimPlanQuerySerializer],
        responses={200: TrimPlanSerializer, **errors(400, 404, 503)},
    )
    def get(self, request):
        query = TrimPlanQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        video = services.video_get(video_id=params["video_id"], owner=request_owner(request))
        duration_ms = math.ceil(video.duration * 1000)
        if params["end_ms"] > duration_ms:
            raise ServiceError(
                f"The end ({params['end_ms']} ms) is past the end of {video.label}, which "
                f"lasts {duration_ms} ms."
            )
        preview = editor.trim_preview(
            video=video, start_ms=params["start_ms"], end_ms=params["end_ms"], mode=params["mode"]
        )
        return Response(TrimPlanSerializer(preview).data)


class RateField(serializers.FloatField):
    """A frame rate as the preset has it: 30 stays 30, 29.97003 stays so."""

    def to_representation(self, value):
        return value


class PresetParamsSerializer(serializers.Serializer):
    video_codec = serializers.CharField()
    audio_codec = serializers.CharField()
    resolution = serializers.CharField(help_text="W:H, as the encode takes it")
    frame_rate = RateField(help_text="the source's, at most 60")
    container = serializers.CharField()


class PresetSerializer(serializers.Serializer):
    id = serializers.CharField(
        help_text="web-1080p, web-720p, web-480p, webm, vertical, smaller-file or audio-only"
    )
    label = serializers.CharField()
    params = PresetParamsSerializer(
        help_text="for POST /video/process/encoding, with request_code and video_id"
    )
    estimated_bytes = serializers.IntegerField(
        help_text="the duration times a typical bitrate of that codec and size"
    )
    note = serializers.CharField(allow_null=True, help_text="what to know before choosing it")


class PresetsView(APIView):
    """Ready-made encodes of one video, fitted to its picture as shown (never upscaled),
    only those this server's encode would queue (videoproc/presets.py)."""

    @extend_schema(
        summary="Encode presets for a video",
        parameters=[VideoIdSerializer],
        responses={200: PresetSerializer(many=True), **errors(400, 404, 503)},
    )
    def get(self, request):
        query = VideoIdSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        video = services.video_get(
            video_id=query.validated_data["video_id"], owner=request_owner(request)
        )
        return Response(PresetSerializer(presets.video_presets(video), many=True).data)
