"""System checks (`manage.py check`, and before runserver and migrate)."""

from django.core import checks
from django.db import DatabaseError

from videoproc.access import accounts_required

from . import services


def ownerless_rows_check(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """With API_AUTH=required, videos and jobs made while it was off (no owner) are seen
    by no user, on the page or through the API: say so, and how to give them to someone.
    It looks whether or not a database is named: runserver names none."""
    if not accounts_required():
        return []
    try:
        videos, jobs = services.ownerless_count()
    except DatabaseError:  # not migrated yet: there is nothing to hide either
        return []
    if not videos and not jobs:
        return []
    return [
        checks.Warning(
            f"API_AUTH=required, and {videos} videos and {jobs} jobs have no owner "
            "(made while API_AUTH was off): no user sees them on the page or through the "
            "API, only in the Django admin.",
            hint="Give them to a user with `manage.py assign_owner USERNAME`.",
            id="jobs.W001",
        )
    ]
