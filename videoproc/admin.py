"""The admin's side of sign-in lockouts (videoproc/lockout.py): its own login form says
when an account is locked, and staff unlock accounts from the user list or from axes'
list of failed sign-ins ("Unlock selected accounts"). And webhook endpoints with their
delivery log (videoproc/webhooks.py)."""

from axes.admin import AccessAttemptAdmin
from axes.models import AccessAttempt
from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin

from videoproc import webhooks
from videoproc.errors import ServiceError
from videoproc.lockout import AdminLoginForm, unlock
from videoproc.models import WebhookDelivery, WebhookEndpoint

admin.site.login_form = AdminLoginForm


def _unlocked(model_admin, request, usernames: list[str]) -> None:
    forgotten = unlock(usernames)
    names = ", ".join(sorted(set(usernames)))
    model_admin.message_user(
        request,
        f"Unlocked {names}: they may sign in again ({forgotten} failure records removed).",
        messages.SUCCESS,
    )


User = get_user_model()
admin.site.unregister(User)


@admin.register(User)
class LockoutUserAdmin(UserAdmin):
    actions = ["unlock_accounts"]

    @admin.action(description="Unlock selected accounts", permissions=["change"])
    def unlock_accounts(self, request, queryset):
        _unlocked(self, request, [user.get_username() for user in queryset])


class LockoutAccessAttemptAdmin(AccessAttemptAdmin):
    """axes' list of failed sign-ins; unlocking here also covers user names that are no
    account (axes locks those too, so that a lock reveals nothing)."""

    actions = [*AccessAttemptAdmin.actions, "unlock_accounts"]

    @admin.action(description="Unlock selected accounts", permissions=["delete"])
    def unlock_accounts(self, request, queryset):
        _unlocked(self, request, [attempt.username for attempt in queryset if attempt.username])


if admin.site.is_registered(AccessAttempt):  # unless AXES_ENABLE_ADMIN=False
    admin.site.unregister(AccessAttempt)
    admin.site.register(AccessAttempt, LockoutAccessAttemptAdmin)


class WebhookEndpointForm(forms.ModelForm):
    url = forms.URLField(max_length=2000, assume_scheme="https")

    class Meta:
        model = WebhookEndpoint
        fields = ["owner", "url", "event_types", "description", "enabled"]

    def clean_url(self):
        url = self.cleaned_data["url"]
        try:
            webhooks.url_check(url)
        except ServiceError as refusal:
            raise forms.ValidationError(refusal.detail) from None
        return url


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    """Endpoints that receive events; a new one gets its secret here (shown on the row)."""

    form = WebhookEndpointForm
    list_display = ["url", "owner", "enabled", "failing_since", "created_at"]
    list_filter = ["enabled"]
    search_fields = ["url", "description", "owner__username"]
    readonly_fields = ["secret", "previous_secret_expires_at", "disabled_reason", "failing_since"]
    actions = ["enable", "rotate_secret"]

    def save_model(self, request, obj, form, change):
        if not obj.secret:
            obj.secret = webhooks.secret_new()
        super().save_model(request, obj, form, change)

    @admin.action(description="Enable, and send what waited for them", permissions=["change"])
    def enable(self, request, queryset):
        for endpoint in queryset:
            webhooks.endpoint_update(endpoint=endpoint, enabled=True)

    @admin.action(
        description="Rotate the secret (the old one signs for a while)", permissions=["change"]
    )
    def rotate_secret(self, request, queryset):
        for endpoint in queryset:
            webhooks.endpoint_rotate(endpoint=endpoint)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    """The delivery log: each event to each endpoint, with how its tries went."""

    list_display = [
        "id",
        "event",
        "endpoint",
        "status",
        "attempts",
        "response_status",
        "next_try_at",
        "delivered_at",
    ]
    list_filter = ["status", "event__type"]
    search_fields = ["event__message_id", "endpoint__url", "subject"]
    list_select_related = ["event", "endpoint"]
    readonly_fields = [field.name for field in WebhookDelivery._meta.fields]
    actions = ["redeliver"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Redeliver (the same webhook-id)", permissions=["change"])
    def redeliver(self, request, queryset):
        done = 0
        for delivery in queryset.exclude(status=WebhookDelivery.Status.PENDING):
            webhooks.delivery_redeliver(delivery=delivery)
            done += 1
        self.message_user(request, f"{done} deliveries queued again (pending ones are left).")
