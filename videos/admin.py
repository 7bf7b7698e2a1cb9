from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected as django_delete_selected
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html

from videoproc.errors import ServiceError

from . import resumable, services
from .models import ResumableUpload, Video
from .serving import stored_url

PROBED_FIELDS = [
    "container",
    "demuxer",
    "duration",
    "size",
    "bit_rate",
    "video_codec",
    "video_profile",
    "width",
    "height",
    "pix_fmt",
    "sample_aspect_ratio",
    "frame_rate",
    "time_base",
    "rotation",
    "audio_codec",
    "audio_sample_rate",
    "audio_channels",
    "audio_channel_layout",
]


@admin.register(Video)
class VideoAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "poster",
        "original_name",
        "owner",
        "kind",
        "duration_seconds",
        "video_codec",
        "audio_codec",
        "resolution",
        "frame_rate",
        "size",
        "created_at",
    ]
    list_display_links = ["id", "original_name"]
    list_filter = ["owner", "kind", "video_codec", "audio_codec", "container", "created_at"]
    search_fields = ["original_name", "file", "owner__username"]
    list_select_related = ["owner"]
    date_hierarchy = "created_at"
    actions = ["delete_selected"]
    readonly_fields = [
        "player",
        "poster",
        "owner",
        "kind",
        "file",
        "thumbnail",
        "trim_info",
        "concat_info",
        "encode_info",
        "produced_by",
        "created_at",
        *PROBED_FIELDS,
    ]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "player",
                    "original_name",
                    "owner",
                    "kind",
                    "file",
                    "thumbnail",
                    "created_at",
                ]
            },
        ),
        ("Produced by", {"fields": ["produced_by", "trim_info", "concat_info", "encode_info"]}),
        ("Probed by ffprobe", {"fields": PROBED_FIELDS}),
    ]

    def has_add_permission(self, request):
        # Videos arrive through upload, import_videos or a job, which probe and check them.
        return False

    @admin.display(description="poster")
    def poster(self, video: Video):
        if not video.thumbnail:
            return "—"
        return format_html(
            '<img src="{}" alt="" width="96" style="border-radius:4px">',
            stored_url(video.thumbnail.name),
        )

    @admin.display(description="player")
    def player(self, video: Video):
        return format_html(
            '<video src="{}" poster="{}" controls preload="metadata" '
            'style="max-width:480px;width:100%"></video>',
            stored_url(video.file.name),
            stored_url(video.thumbnail.name) if video.thumbnail else "",
        )

    @admin.display(description="duration", ordering="duration")
    def duration_seconds(self, video: Video) -> str:
        return f"{video.duration:.2f} s"

    @admin.display(description="produced by")
    def produced_by(self, video: Video):
        job = getattr(video, "produced_by", None)
        if job is None:
            return "—"
        return format_html(
            '<a href="{}">{}</a>', reverse("admin:jobs_job_change", args=[job.pk]), job
        )

    def delete_model(self, request, obj):
        services.video_delete(video=obj)

    def delete_view(self, request, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except ServiceError as error:  # a job still needs the video
            self.message_user(request, error.detail, messages.ERROR)
            return HttpResponseRedirect(reverse("admin:videos_video_change", args=[object_id]))

    @admin.action(description="Delete selected videos and their files", permissions=["delete"])
    def delete_selected(self, request, queryset):
        # Named like Django's own action so that its confirmation page posts back here.
        if not request.POST.get("post"):
            return django_delete_selected(self, request, queryset)
        deleted = 0
        for video in queryset:
            try:
                services.video_delete(video=video)
                deleted += 1
            except ServiceError as error:
                self.message_user(request, error.detail, messages.ERROR)
        if deleted:
            self.message_user(request, f"Deleted {deleted} video(s) and their files.")
        return None


@admin.register(ResumableUpload)
class ResumableUploadAdmin(admin.ModelAdmin):
    """tus uploads in flight or lately finished: read only; deleting one terminates it
    (its received bytes go, locally or in the bucket; a video it became stays)."""

    list_display = ["id", "filename", "owner", "state", "offset", "length", "expires_at"]
    list_filter = ["state"]
    search_fields = ["filename", "owner__username"]
    readonly_fields = [field.name for field in ResumableUpload._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def delete_model(self, request, obj):
        resumable.resumable_delete(upload=obj)

    def delete_queryset(self, request, queryset):
        for upload in queryset:
            resumable.resumable_delete(upload=upload)
