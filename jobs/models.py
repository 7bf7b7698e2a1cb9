from django.conf import settings
from django.db import models

from videos.models import Video


class Job(models.Model):
    """One job of a kind (jobs/kinds/), queued under a request code. The row is the truth."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        QUEUED = "queued", "Queued"  # handed to a worker queue, not started yet
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    # Null when accounts are off; request codes are per owner. PROTECT, as for videos:
    # a user with jobs (maybe running) is not deleted from under them.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="jobs",
    )
    request_code = models.CharField(max_length=100)
    kind = models.CharField(max_length=10, help_text="a name in jobs.kinds.KINDS")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    params = models.JSONField(help_text="what was asked, normalised")
    outcome = models.JSONField(
        default=dict, blank=True, help_text="what the run learned, e.g. which method a trim ran"
    )
    inputs = models.ManyToManyField(Video, related_name="input_of_jobs", blank=True)
    # Jobs whose outputs this one takes as inputs ({"job_id": N} in its params). They
    # existed when this one was queued and never change, so there can be no cycle.
    depends_on = models.ManyToManyField(
        "self", symmetrical=False, related_name="dependants", blank=True
    )
    output_video = models.OneToOneField(
        Video, null=True, blank=True, on_delete=models.SET_NULL, related_name="produced_by"
    )
    cost = models.FloatField(
        default=0, help_text="CPU-seconds it was predicted to take, charged to its owner's budget"
    )
    progress = models.PositiveSmallIntegerField(default=0, help_text="percent")
    error = models.TextField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    cancel_requested = models.BooleanField(default=False)
    # Set each time execute hands the job to a worker queue; a task carrying an older
    # token is a stale message and does nothing.
    dispatch_token = models.UUIDField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(
        max_length=200, blank=True, help_text="the host and process that last started it"
    )

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["request_code", "status"], name="job_code_status_idx"),
            models.Index(fields=["status", "heartbeat_at"], name="job_status_heartbeat_idx"),
        ]

    def __str__(self):
        return f"{self.kind} job {self.id} ({self.status}) for {self.request_code}"


class JobChunk(models.Model):
    """One chunk of a chunked encode (videos/engine/chunks.py): a unit of work any worker
    takes. Its `work` says all a worker needs: the source video, the span of it being
    encoded (a whole encode's, or one long re-encoded part of a join or an edit) and the
    encoder settings."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="chunks")
    index = models.PositiveIntegerField()
    first_frame = models.PositiveIntegerField(help_text="the output frame it starts at")
    end_frame = models.PositiveIntegerField(
        null=True, blank=True, help_text="the output frame after its last; known at the end"
    )
    seek = models.FloatField(help_text="seconds into the source: the keyframe it decodes from")
    work = models.JSONField(help_text="the source video and the output plan")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    progress = models.PositiveSmallIntegerField(default=0, help_text="percent")
    output = models.CharField(max_length=255, blank=True, help_text="its encoded file, stored")
    error = models.TextField(null=True, blank=True)
    worker = models.CharField(max_length=200, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["job", "index"]
        constraints = [
            models.UniqueConstraint(fields=["job", "index"], name="job_chunk_unique_index")
        ]
        indexes = [
            models.Index(fields=["status", "heartbeat_at"], name="chunk_status_heartbeat_idx")
        ]

    def __str__(self):
        return f"chunk {self.index} of job {self.job_id} ({self.status})"
