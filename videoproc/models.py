from django.conf import settings
from django.db import models


class Draft(models.Model):
    """The timeline editor's work in progress, kept on the server so it survives a reload
    or another browser: one per user (API_AUTH=required), or per request code (off). The
    page owns its shape; the server only bounds its size (videoproc.pages)."""

    # Null when accounts are off: the request code keys it then.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="drafts",
    )
    request_code = models.CharField(max_length=100, blank=True)
    data = models.JSONField(default=dict, blank=True, help_text="the page's draft, as it sent it")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["owner"],
                condition=models.Q(owner__isnull=False),
                name="draft_one_per_owner",
            ),
            models.UniqueConstraint(
                fields=["request_code"],
                condition=models.Q(owner__isnull=True),
                name="draft_one_per_request_code",
            ),
        ]

    def __str__(self):
        return f"draft of {self.owner or self.request_code}"


class WebhookEndpoint(models.Model):
    """A URL that receives events, signed with its secret (Standard Webhooks). Owned by a
    user with API_AUTH=required, who hears of their own videos and jobs; with
    API_AUTH=off it belongs to no one and hears of everything (videoproc/webhooks.py)."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="webhook_endpoints",
    )
    url = models.URLField(max_length=2000)
    event_types = models.JSONField(
        default=list, blank=True, help_text="the event types it receives; empty: all of them"
    )
    description = models.CharField(max_length=200, blank=True)
    # The key of the HMAC, needed in clear to sign: "whsec_" + base64 of 24 random bytes.
    secret = models.CharField(max_length=100)
    # After a rotation the old secret also signs until then, so receivers can switch over.
    previous_secret = models.CharField(max_length=100, blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    enabled = models.BooleanField(default=True)
    disabled_reason = models.CharField(
        max_length=500, blank=True, help_text="why it was disabled: the notice its owner sees"
    )
    failing_since = models.DateTimeField(
        null=True, blank=True, help_text="its first failed try since the last delivery"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return self.url


class WebhookEvent(models.Model):
    """Something that happened, written in the transaction of the change it reports (the
    outbox); `message_id` is its `webhook-id`, the same on every try."""

    message_id = models.CharField(max_length=40, unique=True)
    type = models.CharField(max_length=40)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="webhook_events",
    )
    # What it is about ("job:12"): one endpoint gets one subject's events in order.
    subject = models.CharField(max_length=40)
    payload = models.JSONField(help_text="type, timestamp and data, as sent")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"{self.type} {self.message_id}"


class WebhookDelivery(models.Model):
    """One event to one endpoint: tried until it is answered 2xx or the retry schedule
    runs out. A sender holds it under a lease, so a killed sender's try is made again."""

    class Status(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed"

    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="deliveries")
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    subject = models.CharField(max_length=40)  # the event's, for the order per subject
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_try_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    lease_token = models.CharField(max_length=32, blank=True)
    last_try_at = models.DateTimeField(null=True, blank=True)
    response_status = models.PositiveIntegerField(
        null=True, blank=True, help_text="the HTTP status of the last answer"
    )
    error = models.CharField(max_length=500, blank=True, help_text="why the last try failed")
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "webhook deliveries"
        indexes = [
            models.Index(fields=["status", "next_try_at"], name="delivery_due"),
            models.Index(fields=["endpoint", "subject", "status"], name="delivery_subject"),
        ]

    def __str__(self):
        return f"{self.event} to {self.endpoint}: {self.status}"
