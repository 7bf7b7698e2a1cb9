"""manage.py execute_jobs: runs a requester's jobs like the API and reports each."""

from io import StringIO

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.management.base import CommandError

from conftest import ffprobe
from jobs.models import Job
from jobs.services import job_queue

pytestmark = pytest.mark.django_db


def test_execute_jobs_runs_the_requesters_jobs_and_prints_each(uploaded):
    # given two trims for alice and one for bob
    def trim(code, start, end):
        return job_queue(
            request_code=code,
            kind="trim",
            params={"video_id": uploaded["id"], "trim_start_ms": start, "trim_end_ms": end},
        )

    first, second, bobs = trim("alice", 0, 500), trim("alice", 500, 1500), trim("bob", 0, 500)

    # when alice's jobs are executed
    out = StringIO()
    call_command("execute_jobs", "--request-code", "alice", stdout=out)

    # then both ran and produced videos of the asked length; bob's job is untouched
    for job, seconds in ((first, 0.5), (second, 1.0)):
        job.refresh_from_db()
        assert job.status == Job.Status.SUCCEEDED
        stored = default_storage.path(job.output_video.file.name)
        assert float(ffprobe(stored)["format"]["duration"]) == pytest.approx(seconds, abs=0.1)
        assert f"job {job.id} (trim) succeeded: video {job.output_video.id}" in out.getvalue()
    assert Job.objects.get(pk=bobs.pk).status == Job.Status.PENDING


def test_execute_jobs_fails_when_a_job_fails(uploaded):
    # given a job whose source file disappeared after it was queued
    job = job_queue(
        request_code="alice",
        kind="trim",
        params={"video_id": uploaded["id"], "trim_start_ms": 0, "trim_end_ms": 500},
    )
    default_storage.delete(job.inputs.get().file.name)

    out = StringIO()
    with pytest.raises(CommandError, match="1 of 1 jobs"):
        call_command("execute_jobs", "--request-code", "alice", stdout=out)

    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert f"job {job.id} (trim) failed:" in out.getvalue()


def test_execute_jobs_with_nothing_pending_is_a_user_error():
    with pytest.raises(CommandError, match="No pending jobs for the request code 'nobody'"):
        call_command("execute_jobs", "--request-code", "nobody")
