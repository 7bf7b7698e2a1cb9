import json

from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from videoproc.errors import ServiceError

from . import services
from .kinds import job_summary
from .kinds.base import input_name
from .models import Job


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "kind",
        "summary",
        "status",
        "owner",
        "request_code",
        "progress_percent",
        "output",
        "worker",
        "created_at",
        "finished_at",
    ]
    list_filter = ["owner", "status", "kind", "request_code", "created_at"]
    search_fields = ["request_code", "owner__username", "error", "=id"]
    list_select_related = ["owner"]
    date_hierarchy = "created_at"
    actions = ["retry_jobs", "cancel_jobs", "execute_jobs"]
    fields = [
        "kind",
        "status",
        "owner",
        "request_code",
        "summary",
        "segments_table",
        "params_pretty",
        "outcome_pretty",
        "input_videos",
        "input_jobs",
        "output",
        "progress_percent",
        "error_text",
        "attempts",
        "cancel_requested",
        "created_at",
        "started_at",
        "finished_at",
        "queued_at",
        "heartbeat_at",
        "worker",
    ]
    readonly_fields = fields

    def has_add_permission(self, request):
        # Jobs are queued through the API or the page, where every request is validated.
        return False

    @admin.display(description="what")
    def summary(self, job: Job) -> str:
        return job_summary(job.kind, job.params)

    @admin.display(description="segments")
    def segments_table(self, job: Job):
        # Any job whose params list segments (an edit's), whatever its kind.
        if not job.params.get("segments"):
            return "—"
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (number, input_name(segment["video_id"]), segment["start_ms"], segment["end_ms"])
                for number, segment in enumerate(job.params["segments"], 1)
            ),
        )
        return format_html(
            "<table><tr><th>#</th><th>input</th><th>from (ms)</th><th>to (ms)</th></tr>{}</table>",
            rows,
        )

    @admin.display(description="input jobs")
    def input_jobs(self, job: Job):
        return (
            format_html_join(
                ", ",
                '<a href="{}">job {}</a> ({})',
                (
                    (
                        reverse("admin:jobs_job_change", args=[upstream.pk]),
                        upstream.pk,
                        upstream.status,
                    )
                    for upstream in job.depends_on.all()
                ),
            )
            or "—"
        )

    @admin.display(description="progress", ordering="progress")
    def progress_percent(self, job: Job) -> str:
        return f"{job.progress}%"

    @admin.display(description="params")
    def params_pretty(self, job: Job):
        return format_html("<pre>{}</pre>", json.dumps(job.params, indent=2))

    @admin.display(description="what the run learned")
    def outcome_pretty(self, job: Job):
        return format_html("<pre>{}</pre>", json.dumps(job.outcome, indent=2))

    @admin.display(description="error")
    def error_text(self, job: Job):
        return format_html('<pre style="white-space:pre-wrap">{}</pre>', job.error or "—")

    @admin.display(description="inputs")
    def input_videos(self, job: Job):
        return (
            format_html_join(
                ", ",
                '<a href="{}">{}</a>',
                (
                    (reverse("admin:videos_video_change", args=[video.pk]), video)
                    for video in job.inputs.all()
                ),
            )
            or "—"
        )

    @admin.display(description="output")
    def output(self, job: Job):
        if job.output_video_id is None:
            return "—"
        return format_html(
            '<a href="{}">video {}</a>',
            reverse("admin:videos_video_change", args=[job.output_video_id]),
            job.output_video_id,
        )

    def _each(self, request, queryset, operation, done: str) -> None:
        """Apply a job service to every selected job; report successes and refusals."""
        succeeded = 0
        for job in queryset.order_by("id"):
            try:
                operation(job_id=job.id)
                succeeded += 1
            except ServiceError as error:
                self.message_user(request, error.detail, messages.ERROR)
        if succeeded:
            self.message_user(request, f"{done} {succeeded} job(s).")

    @admin.action(description="Retry selected failed or cancelled jobs", permissions=["change"])
    def retry_jobs(self, request, queryset):
        self._each(request, queryset, services.job_retry, "Queued again")

    @admin.action(
        description="Cancel selected pending, queued or running jobs", permissions=["change"]
    )
    def cancel_jobs(self, request, queryset):
        self._each(request, queryset, services.job_cancel, "Cancelled (or asked to stop)")

    @admin.action(description="Execute selected pending jobs", permissions=["change"])
    def execute_jobs(self, request, queryset):
        pending = list(queryset.filter(status=Job.Status.PENDING).values_list("id", flat=True))
        skipped = queryset.count() - len(pending)
        if skipped:
            self.message_user(
                request, f"Skipped {skipped} job(s) that are not pending.", messages.WARNING
            )
        for job in services.jobs_execute_selected(job_ids=pending):
            if job.status == Job.Status.SUCCEEDED:
                self.message_user(request, f"Job {job.id} ({job.kind}) succeeded.")
            elif job.status == Job.Status.QUEUED:
                self.message_user(request, f"Job {job.id} ({job.kind}) was sent to the workers.")
            else:
                self.message_user(
                    request,
                    f"Job {job.id} ({job.kind}) {job.status}: {job.error}",
                    messages.ERROR,
                )
