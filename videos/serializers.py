import unicodedata

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .engine.media import FORMATS

# Only for jobs.serializers, which takes it from here until its list pages by
# videoproc.paging.SkipLimitPagination too (issue 15).
from .models import Video
from .serving import stored_url

MAX_ID = 2**63 - 1  # the largest id a database row can have (a 64-bit integer)


# What a result's trim_info, concat_info and encode_info hold (jobs/kinds/*.py `run`), for
# the schema only: the stored JSON is answered as it is, so a key older rows lack or a
# key added later never breaks a record.
class TrimInfoSerializer(serializers.Serializer):
    trim_start = serializers.IntegerField(help_text="the requested start, ms")
    trim_end = serializers.IntegerField(help_text="the requested end, ms")
    video_id = serializers.IntegerField(required=False, help_text="the source")
    trim_method = serializers.ChoiceField(
        ["smart", "reencode", "keyframe"], required=False, help_text="the method that ran"
    )
    fallback_reason = serializers.CharField(
        required=False, help_text="why a smart trim re-encoded the whole range instead"
    )
    real_start = serializers.FloatField(
        required=False, help_text="keyframe trims: where the copy really starts, ms"
    )
    copied_ms = serializers.ListField(
        child=serializers.FloatField(),
        min_length=2,
        max_length=2,
        required=False,
        help_text="smart trims: the span copied without re-encoding, ms",
    )


class NormalizeTargetSerializer(serializers.Serializer):
    resolution = serializers.CharField()
    frame_rate = serializers.FloatField()
    video_codec = serializers.CharField()
    audio_codec = serializers.CharField(allow_null=True)
    container = serializers.CharField()


class NormalizedSerializer(serializers.Serializer):
    target = NormalizeTargetSerializer()
    reencoded = serializers.ListField(
        child=serializers.IntegerField(),
        required=False,
        help_text="concats: the inputs re-encoded to match the target",
    )


class SegmentInfoSerializer(serializers.Serializer):
    video_id = serializers.IntegerField()
    start = serializers.IntegerField(help_text="ms")
    end = serializers.IntegerField(help_text="ms")
    method = serializers.ChoiceField(["smart", "reencode", "normalized"])
    fallback_reason = serializers.CharField(
        required=False, help_text="why the segment was re-encoded instead of cut smartly"
    )


class ConcatInfoSerializer(serializers.Serializer):
    video_ids = serializers.ListField(child=serializers.IntegerField(), help_text="in play order")
    segments = SegmentInfoSerializer(many=True, required=False, help_text="edits: each segment")
    normalized = NormalizedSerializer(required=False, help_text="when the inputs were normalised")


class EncodeInfoSerializer(serializers.Serializer):
    video_codec = serializers.CharField(help_text="the encoder asked for, e.g. libx264")
    audio_codec = serializers.CharField()
    resolution = serializers.CharField(help_text="W:H")
    frame_rate = serializers.FloatField()
    video_id = serializers.IntegerField(required=False, help_text="the source")


@extend_schema_field(TrimInfoSerializer)
class TrimInfoField(serializers.JSONField):
    pass


@extend_schema_field(ConcatInfoSerializer)
class ConcatInfoField(serializers.JSONField):
    pass


@extend_schema_field(EncodeInfoSerializer)
class EncodeInfoField(serializers.JSONField):
    pass


def info_fields() -> dict:
    """The three info fields as a record shows them: null, or what produced the video."""
    return {
        "trim_info": TrimInfoField(read_only=True, allow_null=True),
        "concat_info": ConcatInfoField(read_only=True, allow_null=True),
        "encode_info": EncodeInfoField(read_only=True, allow_null=True),
    }


class VideoSerializer(serializers.ModelSerializer):
    """The contract's video record: exactly these six keys."""

    original_file_path = serializers.SerializerMethodField()
    processed_file_path = serializers.SerializerMethodField()
    trim_info, concat_info, encode_info = info_fields().values()

    class Meta:
        model = Video
        fields = [
            "id",
            "original_file_path",
            "processed_file_path",
            "trim_info",
            "concat_info",
            "encode_info",
        ]

    def get_original_file_path(self, video: Video) -> str | None:
        return video.api_path if video.kind == Video.Kind.UPLOAD else None

    def get_processed_file_path(self, video: Video) -> str | None:
        return video.api_path if video.kind == Video.Kind.RESULT else None


class VideoInfoSerializer(serializers.ModelSerializer):
    """The contract's four keys first, then what else the probe told us."""

    video_streams = serializers.CharField(source="video_codec")
    audio_streams = serializers.CharField(source="audio_codec", allow_null=True)
    resolution = serializers.CharField()
    frame_rate = serializers.SerializerMethodField()
    frame_rate_exact = serializers.CharField(source="frame_rate")
    format = serializers.CharField(source="extension")

    class Meta:
        model = Video
        fields = [
            "video_streams",
            "audio_streams",
            "resolution",
            "frame_rate",
            "frame_rate_exact",
            "duration",
            "size",
            "bit_rate",
            "format",
            "container",
            "video_profile",
            "pix_fmt",
            "sample_aspect_ratio",
            "rotation",
            "audio_sample_rate",
            "audio_channels",
            "audio_channel_layout",
        ]

    def get_frame_rate(self, video: Video) -> int:
        return round(video.fps)


class VideoIdSerializer(serializers.Serializer):
    video_id = serializers.IntegerField(min_value=1, max_value=MAX_ID)


class DownloadLinkSerializer(serializers.Serializer):
    download_link = serializers.URLField()


class LibraryVideoSerializer(serializers.ModelSerializer):
    """A video as the page shows it: the probe, where to play it and what produced it."""

    name = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()
    thumbnail_url = serializers.SerializerMethodField()
    resolution = serializers.CharField()
    fps = serializers.SerializerMethodField()
    trim_info, concat_info, encode_info = info_fields().values()
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


NAME_MAX = 255  # Video.original_name


class VideoRenameSerializer(serializers.Serializer):
    """A new name to show a video by (its stored file keeps its name): one line of
    printable text, no path, with the file's real extension ("Holiday" on an mp4 becomes
    "Holiday.mp4"; "Holiday.mkv" on an mp4 is refused: a download by that name would
    lie about its content)."""

    name = serializers.CharField(
        max_length=NAME_MAX,
        trim_whitespace=True,
        help_text="Up to 255 characters, no / or \\ or control characters; the file's "
        "extension is added when it is missing",
    )

    def validate_name(self, name: str) -> str:
        if any(unicodedata.category(ch)[0] == "C" for ch in name):
            raise serializers.ValidationError("A name cannot hold control characters.")
        if "/" in name or "\\" in name:
            raise serializers.ValidationError(
                "A name cannot hold / or \\: it is a name, not a path."
            )
        if name.strip(".") == "":
            raise serializers.ValidationError("A name must hold more than dots.")
        extension = self.context["video"].extension
        stem, dot, given = name.rpartition(".")
        if dot and stem and given.lower() in FORMATS and given.lower() != extension:
            raise serializers.ValidationError(
                f"The file is .{extension}: a name ending .{given} would say otherwise."
            )
        if not (dot and stem and given.lower() == extension):
            name = f"{name}.{extension}"
        if len(name) > NAME_MAX:
            raise serializers.ValidationError(
                f"With its extension the name would be longer than {NAME_MAX} characters."
            )
        return name
