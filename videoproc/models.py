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
