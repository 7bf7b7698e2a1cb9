"""Switching API_AUTH from off to required: the videos and jobs made before have no owner.
The system check says so, and manage.py assign_owner gives them to a user."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from jobs.models import Job
from jobs.services import job_queue
from videos.models import Video

pytestmark = pytest.mark.django_db


@pytest.fixture
def made_while_open(uploaded):
    """A video and a job made with API_AUTH=off: no owner."""
    job = job_queue(
        request_code="user",
        kind="trim",
        params={"video_id": uploaded["id"], "trim_start_ms": 0, "trim_end_ms": 500},
    )
    return Video.objects.get(pk=uploaded["id"]), job


def checked() -> str:
    """What `manage.py check` says."""
    out, err = StringIO(), StringIO()
    call_command("check", stdout=out, stderr=err)
    return out.getvalue() + err.getvalue()


def test_check_warns_of_ownerless_rows_once_accounts_are_required(made_while_open, settings):
    # given rows without an owner, fine while accounts are off
    assert "jobs.W001" not in checked()
    # when accounts become required
    settings.API_AUTH = "required"
    # then the check says how many are hidden and how to give them to someone
    said = checked()
    assert "jobs.W001" in said and "1 videos and 1 jobs have no owner" in said
    assert "manage.py assign_owner USERNAME" in said


def test_assign_owner_gives_the_ownerless_rows_to_the_user(made_while_open, alice, bob):
    # given bob's own video besides the ownerless rows
    video, job = made_while_open
    bobs = Video.objects.create(**{**_fields(video), "owner": bob.user})
    assert alice.get("/video/view/all").json() == []
    # when they are given to alice
    out = StringIO()
    call_command("assign_owner", "alice", stdout=out)
    # then alice sees them through the API, bob keeps his, and the check is quiet
    assert "Gave 1 videos and 1 jobs without an owner to alice" in out.getvalue()
    assert [record["id"] for record in alice.get("/video/view/all").json()] == [video.id]
    assert alice.get(f"/video/process/jobs/{job.id}").status_code == 200
    assert Video.objects.get(pk=bobs.pk).owner == bob.user
    assert not Job.objects.filter(owner__isnull=True).exists()
    assert "jobs.W001" not in checked()


def test_assign_owner_refuses_an_unknown_user(made_while_open):
    with pytest.raises(CommandError, match="No user named 'nobody'"):
        call_command("assign_owner", "nobody")
    assert Video.objects.filter(owner__isnull=True).count() == 1


def _fields(video: Video) -> dict:
    return {
        field.name: getattr(video, field.name)
        for field in Video._meta.concrete_fields
        if field.name not in {"id", "owner", "created_at"}
    }
