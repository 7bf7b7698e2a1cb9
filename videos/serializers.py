from rest_framework import serializers

# Only for jobs.serializers, which takes it from here until its list pages by
# videoproc.paging.SkipLimitPagination too (issue 15).
from .models import Video

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
