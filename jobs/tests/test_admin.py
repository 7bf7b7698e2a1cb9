"""The Job admin: filters, readable params and errors, and the retry / cancel / execute
actions, which go through the job services."""

import pytest
from django.core.files.storage import default_storage
from django.urls import reverse

from conftest import ffprobe
from jobs.models import Job
from jobs.services import job_queue
from videos.models import Video

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:jobs_job_changelist"


@pytest.fixture
def trim(uploaded) -> Job:
    return job_queue(
        request_code="alice",
        kind="trim",
        params={"video_id": uploaded["id"], "trim_start_ms": 500, "trim_end_ms": 1500},
    )


def act(admin_client, action: str, *jobs: Job):
    return admin_client.post(
        reverse(CHANGELIST),
        {"action": action, "_selected_action": [job.pk for job in jobs]},
        follow=True,
    )


def test_list_filters_by_status_and_request_code(admin_client, trim, uploaded):
    other = job_queue(
        request_code="bob",
        kind="trim",
        params={"video_id": uploaded["id"], "trim_start_ms": 0, "trim_end_ms": 500},
    )
    Job.objects.filter(pk=other.pk).update(status=Job.Status.FAILED)

    response = admin_client.get(reverse(CHANGELIST), {"status__exact": "pending"})

    assert [job.pk for job in response.context["cl"].result_list] == [trim.pk]
    response = admin_client.get(reverse(CHANGELIST), {"request_code": "bob"})
    assert [job.pk for job in response.context["cl"].result_list] == [other.pk]


def test_change_page_shows_params_and_error(admin_client, trim):
    Job.objects.filter(pk=trim.pk).update(status=Job.Status.FAILED, error="boom <at> frame 3")

    page = admin_client.get(reverse("admin:jobs_job_change", args=[trim.pk])).content.decode()

    assert "&quot;trim_start_ms&quot;: 500" in page
    assert "boom &lt;at&gt; frame 3" in page


def test_execute_action_runs_the_selected_pending_job(admin_client, trim):
    # when the admin executes the pending trim
    response = act(admin_client, "execute_jobs", trim)

    # then it succeeded and produced a real one-second video, with a poster
    trim.refresh_from_db()
    assert trim.status == Job.Status.SUCCEEDED
    assert f"Job {trim.pk} (trim) succeeded." in response.content.decode()
    output = trim.output_video
    assert output.kind == Video.Kind.RESULT
    duration = float(ffprobe(default_storage.path(output.file.name))["format"]["duration"])
    assert duration == pytest.approx(1.0, abs=0.1)
    assert default_storage.exists(output.thumbnail.name)


def test_execute_action_leaves_other_jobs_alone(admin_client, trim, uploaded):
    # given a second pending job of the same requester, not selected
    other = job_queue(
        request_code="alice",
        kind="trim",
        params={"video_id": uploaded["id"], "trim_start_ms": 0, "trim_end_ms": 500},
    )
    Job.objects.filter(pk=trim.pk).update(status=Job.Status.CANCELLED)

    # when only the cancelled one is "executed"
    response = act(admin_client, "execute_jobs", trim)

    # then nothing ran, and the admin says why
    assert "Skipped 1 job(s) that are not pending." in response.content.decode()
    assert Job.objects.get(pk=other.pk).status == Job.Status.PENDING
    assert Job.objects.get(pk=trim.pk).status == Job.Status.CANCELLED


def test_cancel_then_retry_actions(admin_client, trim):
    act(admin_client, "cancel_jobs", trim)
    trim.refresh_from_db()
    assert trim.status == Job.Status.CANCELLED

    act(admin_client, "retry_jobs", trim)
    trim.refresh_from_db()
    assert trim.status == Job.Status.PENDING
    assert trim.error is None


def test_retry_of_a_pending_job_is_refused_with_the_reason(admin_client, trim):
    response = act(admin_client, "retry_jobs", trim)

    assert "only failed or cancelled jobs can be retried" in response.content.decode()
    trim.refresh_from_db()
    assert trim.status == Job.Status.PENDING
