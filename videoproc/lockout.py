"""Password sign-ins throttled by account (docs/deployment.md "Fair use: throttles and
quotas"): django-axes counts the failures per user name in the database and, past
LOGIN_FAILURE_LIMIT, refuses that name, right password or not, for LOGIN_LOCKOUT_MINUTES.
Here: the login forms that say so on the login page itself (the page's and the admin's),
the status that page answers with, and the unlock that admins and commands use.

429 Too Many Requests, with Retry-After, while the lock has an end: the refusal is about
how many attempts were made, and waiting lifts it. 403 when it has none
(LOGIN_LOCKOUT_MINUTES=0): waiting will not help, an admin must unlock.
"""

import math

from axes.helpers import get_cool_off
from axes.models import AccessAttempt
from axes.utils import reset
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db.models import Max
from django.http import JsonResponse
from django.utils import timezone

LOCKED_OUT = "locked_out"  # the form error's code


def seconds_left(username: str, request=None) -> int | None:
    """How long the lock on a user name lasts yet, in whole seconds (at least 1); None
    when it lasts until an admin unlocks it."""
    cool_off = get_cool_off(request)
    if cool_off is None:
        return None
    last = AccessAttempt.objects.filter(username=username).aggregate(last=Max("attempt_time"))
    if last["last"] is None:  # unlocked meanwhile
        return 1
    return max(1, math.ceil((last["last"] + cool_off - timezone.now()).total_seconds()))


def lockout_message(username: str, request=None) -> str:
    """What the login page says to a locked account. The same whether the account exists
    or not: axes counts any user name, so the lock tells nobody which ones are real."""
    left = seconds_left(username, request)
    if left is None:
        until = "until an administrator unlocks it"
    else:
        minutes = math.ceil(left / 60)
        until = f"for {minutes} more minute{'s' if minutes != 1 else ''}"
    return (
        f"Too many failed sign-ins for this account: it is locked {until}, whatever the "
        "password. Try again then, or ask an administrator to unlock it."
    )


class LockoutMessageMixin:
    """A login form whose refusal of a locked account says so (instead of "wrong
    password"): axes marks the request while the form authenticates."""

    def get_invalid_login_error(self):
        if getattr(self.request, "axes_locked_out", False):
            username = self.cleaned_data.get("username") or ""
            return ValidationError(lockout_message(username, self.request), code=LOCKED_OUT)
        return super().get_invalid_login_error()

    @property
    def locked_out(self) -> bool:
        return self.is_bound and self.has_error(NON_FIELD_ERRORS, LOCKED_OUT)


class LoginForm(LockoutMessageMixin, AuthenticationForm):
    """The page's sign-in form (templates/registration/login.html)."""


class AdminLoginForm(LockoutMessageMixin, AdminAuthenticationForm):
    """The admin's sign-in form (videoproc/admin.py sets it)."""


def lockout_response(request, original_response=None, credentials=None):
    """AXES_LOCKOUT_CALLABLE: the answer to a sign-in refused for a locked account. The
    login page the view rendered, with its message, if it has one (the page's and the
    admin's); else the message in the API's error shape."""
    username = (credentials or {}).get("username") or ""
    left = seconds_left(username, request)
    status = 403 if left is None else 429
    form = (getattr(original_response, "context_data", None) or {}).get("form")
    if isinstance(form, LockoutMessageMixin) and form.locked_out:
        response = original_response
        response.status_code = status
    else:
        response = JsonResponse({"detail": lockout_message(username, request)}, status=status)
    if left is not None:
        response["Retry-After"] = str(left)
    return response


def unlock(usernames) -> int:
    """Lift the lock (and forget the failures) of these user names; how many failure
    records went. `manage.py axes_reset_username NAME...` does the same."""
    return sum(reset(username=username) for username in set(usernames))
