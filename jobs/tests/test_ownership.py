"""Jobs with API_AUTH=required: each user reaches only their own, request codes are per
user, and the cap on unfinished jobs refuses with 429 and stores nothing."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from conftest import upload
from jobs.models import Job

pytestmark = pytest.mark.django_db


def queue_trim(client, video_id: int, request_code: str = "user"):
    body = {
        "request_code": request_code,
        "video_id": video_id,
        "trim_start": "0",
        "trim_end": "1000",
    }
    return client.post("/video/process/trim", body, format="json")


def test_the_same_request_code_stays_separate(alice, bob, clip):
    # given both users queue a trim under "user"
    alice_job = queue_trim(alice, upload(alice, clip).json()[0]["id"]).json()["job_id"]
    bob_job = queue_trim(bob, upload(bob, clip).json()[0]["id"]).json()["job_id"]

    # when alice executes "user"
    response = alice.post("/video/process/execute", {"request_code": "user"})

    # then only her job ran, its result is hers, and bob's waits for him
    assert response.status_code == 200
    assert Job.objects.get(pk=alice_job).status == Job.Status.SUCCEEDED
    assert Job.objects.get(pk=alice_job).output_video.owner == alice.user
    assert Job.objects.get(pk=bob_job).status == Job.Status.PENDING
    assert [j["id"] for j in bob.get("/video/process/jobs", {"request_code": "user"}).json()] == [
        bob_job
    ]
    assert bob.post("/video/process/execute", {"request_code": "user"}).status_code == 200
    assert Job.objects.get(pk=bob_job).output_video.owner == bob.user


def test_another_users_job_is_404_to_read_cancel_or_retry(alice, bob, clip):
    theirs = queue_trim(bob, upload(bob, clip).json()[0]["id"]).json()["job_id"]

    answers = [
        alice.get(f"/video/process/jobs/{theirs}"),
        alice.post(f"/video/process/jobs/{theirs}/cancel"),
        alice.post(f"/video/process/jobs/{theirs}/retry"),
    ]

    assert [a.status_code for a in answers] == [404, 404, 404]
    assert {a.json()["detail"] for a in answers} == {f"No job with id {theirs}"}
    assert alice.get("/video/process/jobs").json() == []
    assert Job.objects.get(pk=theirs).status == Job.Status.PENDING


def test_another_users_jobs_are_not_executed(alice, bob, clip):
    theirs = queue_trim(bob, upload(bob, clip).json()[0]["id"]).json()["job_id"]

    response = alice.post("/video/process/execute", {"request_code": "user"})

    assert response.status_code == 400
    assert Job.objects.get(pk=theirs).status == Job.Status.PENDING


def test_the_owner_cancels_and_retries(alice, clip):
    job = queue_trim(alice, upload(alice, clip).json()[0]["id"]).json()["job_id"]

    assert alice.post(f"/video/process/jobs/{job}/cancel").json()["status"] == "cancelled"
    assert alice.post(f"/video/process/jobs/{job}/retry").json()["status"] == "pending"


def test_past_the_cap_on_unfinished_jobs_a_queue_is_429(alice, clip, settings):
    # given a cap of one unfinished job, reached
    settings.USER_MAX_ACTIVE_JOBS = 1
    video = upload(alice, clip).json()[0]["id"]
    first = queue_trim(alice, video).json()["job_id"]

    # when another is queued, then refused and not stored
    response = queue_trim(alice, video, request_code="other")
    assert response.status_code == 429
    assert "unfinished jobs" in response.json()["detail"]
    assert list(Job.objects.values_list("id", flat=True)) == [first]

    # and a finished job no longer counts, while a retry counts again
    alice.post(f"/video/process/jobs/{first}/cancel")
    second = queue_trim(alice, video).json()["job_id"]
    assert alice.post(f"/video/process/jobs/{first}/retry").status_code == 429
    assert Job.objects.get(pk=second).status == Job.Status.PENDING


def test_execute_jobs_runs_the_named_users_jobs_only(alice, bob, clip):
    alice_job = queue_trim(alice, upload(alice, clip).json()[0]["id"]).json()["job_id"]
    bob_job = queue_trim(bob, upload(bob, clip).json()[0]["id"]).json()["job_id"]
    with pytest.raises(CommandError, match="--user"):
        call_command("execute_jobs", "--request-code", "user")

    out = StringIO()
    call_command("execute_jobs", "--request-code", "user", "--user", "bob", stdout=out)

    assert f"job {bob_job} (trim) succeeded" in out.getvalue()
    outcomes = [line for line in out.getvalue().splitlines() if line.startswith("job ")]
    assert len(outcomes) == 1  # bob's job alone
    assert Job.objects.get(pk=alice_job).status == Job.Status.PENDING


def test_the_admin_filters_jobs_by_owner(alice, bob, clip, admin_client):
    queue_trim(alice, upload(alice, clip).json()[0]["id"])
    bob_job = queue_trim(bob, upload(bob, clip).json()[0]["id"]).json()["job_id"]

    everything = admin_client.get("/admin/jobs/job/")
    only_bob = admin_client.get("/admin/jobs/job/", {"owner__id__exact": bob.user.id})

    assert everything.context["cl"].result_count == 2
    assert [j.id for j in only_bob.context["cl"].result_list] == [bob_job]


def test_another_users_pending_job_cannot_be_chained_to(alice, bob, clip):
    # given bob's pending trim under the same request code alice uses
    theirs = queue_trim(bob, upload(bob, clip).json()[0]["id"]).json()["job_id"]
    mine = upload(alice, clip).json()[0]["id"]

    # when alice names it as an input
    response = alice.post(
        "/video/process/concat",
        {"request_code": "user", "video_ids": [mine, {"job_id": theirs}]},
        format="json",
    )

    # then it is not hers to use, and nothing is queued
    assert response.status_code == 400
    assert f"Job {theirs} is not a job of the request code 'user'" in response.json()["detail"]
    assert list(Job.objects.values_list("id", flat=True)) == [theirs]
