import re

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from videos.engine import capabilities
from videos.engine.media import FORMATS
from videos.serializers import MAX_ID

from . import turns
from .models import Job, JobChunk
from .timecodes import TimeFormatError, format_ms, parse_time_ms

MAX_WIDTH, MAX_HEIGHT = 7680, 4320
MIN_FRAME_RATE, MAX_FRAME_RATE = 1, 240
RESOLUTION_RE = re.compile(r"^(\d{1,5}):(\d{1,5})$")
MAX_NAME_LENGTH = 64  # an encoder's name


@extend_schema_field(OpenApiTypes.STR)
class TimeField(serializers.Field):
    """A trim time as the contract writes it, parsed into milliseconds."""

    def to_internal_value(self, data) -> int | float:
        try:
            return format_ms(parse_time_ms(data))
        except TimeFormatError as error:
            raise serializers.ValidationError(str(error)) from None

    def to_representation(self, value):
        return value


@extend_schema_field(
    {
        "oneOf": [
            {"type": "integer", "minimum": 1, "description": "a video's id"},
            {
                "type": "object",
                "properties": {"job_id": {"type": "integer", "minimum": 1}},
                "required": ["job_id"],
                "description": "the output of a pending job of the same request_code",
            },
        ]
    }
)
class VideoRefField(serializers.Field):
    """A video id, or {"job_id": N}: the output of a pending job of the same requester."""

    default_error_messages = {
        "invalid": "Name a video by its id, or a pending job's output by "
        '{{"job_id": <id>}}, not {value}.'
    }
    video_id = serializers.IntegerField(min_value=1, max_value=MAX_ID)

    def to_internal_value(self, data) -> int | dict:
        if not isinstance(data, dict):
            return self.video_id.run_validation(data)
        if set(data) != {"job_id"}:
            self.fail("invalid", value=data)
        return {"job_id": self.video_id.run_validation(data["job_id"])}

    def to_representation(self, value):
        return value


class RequestCodeSerializer(serializers.Serializer):
    request_code = serializers.CharField(max_length=100)


class OutputTargetSerializer(serializers.Serializer):
    """Codecs, size, rate and container of an output, checked against this FFmpeg."""

    video_codec = serializers.CharField(required=False)
    audio_codec = serializers.CharField(required=False)
    resolution = serializers.CharField(required=False)
    frame_rate = serializers.FloatField(required=False)
    container = serializers.ChoiceField(choices=list(FORMATS), required=False, allow_null=True)

    def _encoder(self, name: str, kind: str) -> str:
        encoder = capabilities.encoders().get(name)
        if encoder is None or encoder.kind != kind:
            raise serializers.ValidationError(
                f"This server's FFmpeg has no {kind} encoder named '{name}'."
            )
        return name

    def validate_video_codec(self, value: str) -> str:
        return self._encoder(value, "video")

    def validate_audio_codec(self, value: str) -> str:
        return self._encoder(value, "audio")

    def validate_resolution(self, value: str) -> str:
        match = RESOLUTION_RE.match(value.strip())
        if not match:
            raise serializers.ValidationError(
                f"'{value}' is not a resolution: write width:height, such as 1920:1080."
            )
        width, height = int(match[1]), int(match[2])
        if width <= 0 or height <= 0 or width % 2 or height % 2:
            raise serializers.ValidationError(
                f"The width and height must be positive even numbers, not {width}:{height}."
            )
        if width > MAX_WIDTH or height > MAX_HEIGHT:
            raise serializers.ValidationError(
                f"The largest resolution is {MAX_WIDTH}:{MAX_HEIGHT}, not {width}:{height}."
            )
        return f"{width}:{height}"

    def validate_frame_rate(self, value: float) -> int | float:
        if not MIN_FRAME_RATE <= value <= MAX_FRAME_RATE:
            raise serializers.ValidationError(
                f"The frame rate must be between {MIN_FRAME_RATE} and {MAX_FRAME_RATE} fps, "
                f"not {value:g}."
            )
        return int(value) if float(value).is_integer() else float(value)


@extend_schema_field(
    {
        "oneOf": [
            {"type": "boolean", "description": "true: make every input match the first"},
            {
                "type": "object",
                "description": "the target; unnamed fields are the first input's",
                "properties": {
                    "resolution": {"type": "string", "example": "1280:720"},
                    "frame_rate": {"type": "number", "example": 30},
                    "video_codec": {"type": "string", "example": "libx264"},
                    "audio_codec": {"type": "string", "example": "aac"},
                    "container": {"type": "string", "enum": list(FORMATS)},
                },
                "additionalProperties": False,
            },
        ]
    }
)
class NormalizeField(serializers.Field):
    """`true`: every input is made to match the first; an object: to match that target
    (unnamed fields are the first input's); absent or `false`: no normalising."""

    default_error_messages = {
        "invalid": "Normalising is true (match the first input), false, or the target to "
        "match (an object with any of resolution, frame_rate, video_codec, audio_codec, "
        "container)."
    }

    def to_internal_value(self, data) -> bool | dict:
        if isinstance(data, bool):
            return data
        if not isinstance(data, dict):
            self.fail("invalid")
        target = OutputTargetSerializer(data=data)
        target.is_valid(raise_exception=True)
        unknown = sorted(set(data) - set(target.fields))
        if unknown:
            raise serializers.ValidationError(
                f"A normalising target has no {', '.join(unknown)}: it takes resolution, "
                "frame_rate, video_codec, audio_codec and container."
            )
        return {key: value for key, value in target.validated_data.items() if value is not None}

    def to_representation(self, value):
        return value


NORMALIZE_HELP = (
    "join unlike videos: true matches the first input; or an object with any of "
    "resolution, frame_rate, video_codec, audio_codec, container"
)


class ExecuteSerializer(RequestCodeSerializer):
    wait = serializers.BooleanField(
        default=True,
        help_text="with Celery workers: false answers 202 at once with the job ids to watch",
    )


class JobChunkSerializer(serializers.ModelSerializer):
    class Meta:
        model = JobChunk
        fields = ["index", "first_frame", "end_frame", "status", "attempts", "progress", "worker"]


class JobSerializer(serializers.ModelSerializer):
    chunks = JobChunkSerializer(
        many=True,
        read_only=True,
        help_text="a chunked encode's chunks (output frames [first_frame, end_frame)); "
        "empty for a job run whole",
    )
    output_video_id = serializers.IntegerField(allow_null=True, read_only=True)
    params = serializers.SerializerMethodField(
        help_text="what was asked, normalised; for the clients of the second round's "
        "contract it also carries what the run learned (the keys of `outcome`)"
    )

    place_in_line = serializers.SerializerMethodField(
        help_text="for a queued job, how many will start before it, plus one (1: next)"
    )

    def get_params(self, job: Job) -> dict:
        return {**job.params, **job.outcome}

    def get_place_in_line(self, job: Job) -> int | None:
        if job.status != Job.Status.QUEUED:
            return None
        if "places" not in self.context:  # once per answer, for every job in it
            self.context["places"] = turns.places()
        return self.context["places"].get(job.id)

    class Meta:
        model = Job
        fields = [
            "id",
            "request_code",
            "kind",
            "status",
            "params",
            "outcome",
            "progress",
            "place_in_line",
            "cost",
            "error",
            "output_video_id",
            "created_at",
            "queued_at",
            "started_at",
            "finished_at",
            "heartbeat_at",
            "attempts",
            "worker",
            "chunks",
        ]


class JobListParamsSerializer(serializers.Serializer):
    request_code = serializers.CharField(max_length=100, required=False)


class QueuedSerializer(serializers.Serializer):
    message = serializers.CharField()
    job_id = serializers.IntegerField()


class MessageSerializer(serializers.Serializer):
    message = serializers.CharField()


class ExecutedSerializer(MessageSerializer):
    cancelled = serializers.ListField(
        child=serializers.IntegerField(),
        required=False,
        help_text="the jobs cancelled while it ran (not failures), when there were any",
    )


class DispatchedSerializer(MessageSerializer):
    job_ids = serializers.ListField(child=serializers.IntegerField())
