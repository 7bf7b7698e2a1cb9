import unicodedata

from rest_framework import serializers

from .engine.media import FORMATS

# Only for jobs.serializers, which takes it from here until its list pages by
# videoproc.paging.SkipLimitPagination too (issue 15).
from .models import Video
from .serving import stored_url

MAX_ID = 2**63 - 1  # the largest id a database row can have (a 64-bit integer)


class VideoSerializer(serializers.ModelSerializer):
    """The contract's video record: exactly these six keys."""

    original_file_path = serializers.SerializerMethodField()
    processed_file_path = serializers.SerializerMethodField()

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
            raise serializers.ValidationError("A name cannot hold / or \\ (it is not a path).")
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
