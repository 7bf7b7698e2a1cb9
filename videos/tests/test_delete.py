"""Deleting a video that a job takes as an input: refused exactly while the job is
unfinished, at every step of its life. videos asks by the job's finished_at (it names
none of the jobs app's code), so this holds only while each status change keeps
finished_at null exactly for the unfinished statuses: checked here at every step."""

import uuid

import pytest
from django.db import transaction

from jobs import transitions
from jobs.models import Job
from jobs.services import job_queue
from videoproc.errors import ServiceError
from videos import services
from videos.models import Video

pytestmark = pytest.mark.django_db


def refused(video: Video) -> bool:
    """Whether video_delete refuses the video; a delete it allows is rolled back."""
    try:
        with transaction.atomic():
            services.video_delete(video=Video.objects.get(pk=video.pk))
            transaction.set_rollback(True)
    except ServiceError as error:
        assert error.status_code == 409
        return True
    return False


def test_a_video_is_kept_exactly_while_a_job_that_uses_it_is_unfinished(uploaded):
    video = Video.objects.get(pk=uploaded["id"])
    job = job_queue(
        request_code="me",
        kind="trim",
        params={"video_id": video.pk, "trim_start_ms": 0, "trim_end_ms": 500},
    )
    token = uuid.uuid4()

    def start():
        transitions.jobs_queue([job.pk], dispatch_token=token)
        transitions.job_start(job_id=job.pk, dispatch_token=str(token), worker="test")

    steps = [
        lambda: None,  # pending, as queued
        lambda: transitions.jobs_queue([job.pk], dispatch_token=token),  # queued
        lambda: transitions.jobs_unqueue([job.pk], dispatch_token=token),  # pending again
        lambda: start(),  # running
        lambda: transitions.job_finish(job=Job.objects.get(pk=job.pk), status=Job.Status.FAILED),
        lambda: transitions.job_retry(job=Job.objects.get(pk=job.pk)),  # pending again
        lambda: transitions.job_cancel(job=Job.objects.get(pk=job.pk)),  # cancelled
        lambda: transitions.job_retry(job=Job.objects.get(pk=job.pk)),
        lambda: start(),
        lambda: transitions.job_release(job=Job.objects.get(pk=job.pk)),  # pending: died
        lambda: start(),
        lambda: transitions.job_finish(job=Job.objects.get(pk=job.pk), status=Job.Status.SUCCEEDED),
    ]

    seen = []
    for step in steps:
        step()
        job.refresh_from_db()
        unfinished = job.status in transitions.UNFINISHED
        assert (job.finished_at is None) == unfinished, job.status
        assert refused(video) == unfinished, job.status
        seen.append(job.status)

    assert set(seen) == set(Job.Status)
    assert Video.objects.filter(pk=video.pk).exists()  # every allowed delete rolled back
