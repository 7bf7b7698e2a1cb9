"""The admin's side of sign-in lockouts (videoproc/lockout.py): its own login form says
when an account is locked, and staff unlock accounts from the user list or from axes'
list of failed sign-ins ("Unlock selected accounts")."""

from axes.admin import AccessAttemptAdmin
from axes.models import AccessAttempt
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin

from videoproc.lockout import AdminLoginForm, unlock

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
