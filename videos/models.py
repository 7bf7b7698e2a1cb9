from django.conf import settings
from django.db import models


class Video(models.Model):
    """A stored video: an upload (origin/) or the output of a job (modi/).

    The probed metadata is saved once, so info and concat checks never re-probe.
    """

    class Kind(models.TextChoices):
        UPLOAD = "upload", "Upload"
        RESULT = "result", "Result"

    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.UPLOAD)
    # Null when accounts are off. PROTECT: deleting a user must go through deleting
    # their videos (video_delete removes the files), never orphan files on disk.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="videos",
    )
    file = models.FileField(max_length=500)
    original_name = models.CharField(max_length=255, blank=True)
    thumbnail = models.FileField(max_length=500, blank=True)
    trim_info = models.JSONField(null=True, blank=True)
    concat_info = models.JSONField(null=True, blank=True)
    encode_info = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    # Probed by ffprobe when the file was stored.
    container = models.CharField(max_length=100)
    demuxer = models.CharField(max_length=30)
    duration = models.FloatField(help_text="seconds")
    size = models.BigIntegerField(help_text="bytes")
    bit_rate = models.BigIntegerField(null=True, blank=True)
    video_codec = models.CharField(max_length=50)
    video_profile = models.CharField(max_length=100, blank=True)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    pix_fmt = models.CharField(max_length=50, blank=True)
    sample_aspect_ratio = models.CharField(max_length=20, blank=True)
    frame_rate = models.CharField(max_length=30, help_text="average, exact, as a fraction")
    base_frame_rate = models.CharField(
        max_length=30, help_text="the stream's tick rate; differs from the average if variable"
    )
    time_base = models.CharField(max_length=30, blank=True)
    rotation = models.IntegerField(default=0)
    audio_codec = models.CharField(max_length=50, null=True, blank=True)
    audio_sample_rate = models.PositiveIntegerField(null=True, blank=True)
    audio_channels = models.PositiveSmallIntegerField(null=True, blank=True)
    audio_channel_layout = models.CharField(max_length=50, blank=True)
    stream_facts = models.JSONField(
        default=dict,
        blank=True,
        help_text="the video stream's parameters as ffprobe says them, for smart cuts",
    )

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["kind"], name="video_kind_idx")]

    def __str__(self):
        return f"{self.id}: {self.file.name}"

    @property
    def extension(self) -> str:
        return self.file.name.rsplit(".", 1)[-1].lower()

    @property
    def label(self) -> str:
        """How a message names it (a pending job's planned output names itself too)."""
        return f"video {self.id}"

    @property
    def resolution(self) -> str:
        return f"{self.width}:{self.height}"

    @property
    def fps(self) -> float:
        num, _, den = self.frame_rate.partition("/")
        return int(num) / int(den or 1) if num else 0.0

    @property
    def has_picture(self) -> bool:
        """False for an encode's sound-only result."""
        return bool(self.video_codec)

    @property
    def api_path(self) -> str:
        """The path the contract shows: "./storage/<name>"."""
        return f"./storage/{self.file.name}"


class Timeline(models.Model):
    """A video's timeline data (storyboard, peaks, keyframes), made once in the background
    (videos/timelines.py). Its files live in `folder` in storage and go with the video."""

    class State(models.TextChoices):
        MAKING = "making", "Making"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    video = models.OneToOneField(
        Video, on_delete=models.CASCADE, primary_key=True, related_name="timeline"
    )
    state = models.CharField(max_length=10, choices=State.choices, default=State.MAKING)
    # Each attempt has its own token: a worker making an attempt that was replaced (its
    # maker presumed dead) finds another token and leaves the row alone.
    attempt = models.UUIDField()
    requested_at = models.DateTimeField(help_text="when this attempt was asked for")
    heartbeat_at = models.DateTimeField(help_text="this attempt's last sign of life")
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    folder = models.CharField(max_length=500, blank=True)
    storyboard = models.CharField(max_length=500, blank=True, help_text="the WebVTT file")
    sprites = models.JSONField(default=list, blank=True, help_text="stored names, in order")
    waveform = models.CharField(max_length=500, blank=True, help_text="empty without sound")
    keyframes_ms = models.JSONField(default=list, blank=True)

    def __str__(self):
        return f"timeline of video {self.video_id}: {self.state}"

    @property
    def names(self) -> list[str]:
        """Its files in storage."""
        return [name for name in [self.storyboard, *self.sprites, self.waveform] if name]


class ResumableUpload(models.Model):
    """A tus upload (videos/resumable.py): its bytes arrive in pieces, possibly over
    several connections and server processes, and become a video once all are in.

    What has arrived is `offset` bytes of the file in shared scratch space; a PATCH that
    appends holds a lease (`lease_token` until `lease_until`) so that two never write at
    once, and a writer that died loses it when it runs out."""

    class State(models.TextChoices):
        RECEIVING = "receiving", "Receiving"
        STORED = "stored", "Stored as a video"
        REFUSED = "refused", "Refused"

    id = models.UUIDField(primary_key=True, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="resumable_uploads",
    )
    filename = models.CharField(max_length=255)
    metadata = models.JSONField(default=dict, blank=True, help_text="Upload-Metadata, decoded")
    length = models.BigIntegerField(help_text="bytes, as declared at creation")
    offset = models.BigIntegerField(default=0, help_text="bytes received and kept")
    store_state = models.JSONField(
        default=dict, blank=True, help_text="what its store keeps to go on (S3: the parts)"
    )
    state = models.CharField(max_length=10, choices=State.choices, default=State.RECEIVING)
    lease_token = models.UUIDField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    video = models.ForeignKey(
        Video, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    refusal = models.TextField(blank=True, help_text="why the complete file was refused")
    refusal_status = models.PositiveSmallIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at"]
        indexes = [models.Index(fields=["expires_at"], name="resumable_upload_expiry_idx")]

    def __str__(self):
        return f"upload {self.id} of {self.filename}: {self.offset}/{self.length}"
