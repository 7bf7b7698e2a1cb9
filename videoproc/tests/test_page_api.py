"""The page's editor endpoints: the draft kept on the server, the jobs it watches, the
trim preview and the encode presets."""

import json
from datetime import datetime, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from conftest import upload
from jobs.models import Job
from videoproc import pages
from videoproc import services as editor
from videos.engine import capabilities

pytestmark = pytest.mark.django_db

DRAFT = {"segments": [{"video_id": 1, "start_ms": 0, "end_ms": 1500}], "zoom": 2.5}


# The draft


def test_a_requester_without_a_draft_gets_an_empty_one(api):
    response = api.get("/page/draft", {"request_code": "ann"})

    assert response.status_code == 200
    assert response.json() == {"draft": {}, "updated_at": None}


def test_a_kept_draft_comes_back_to_its_request_code_only(api):
    # given a draft kept for ann
    put = api.put("/page/draft?request_code=ann", {"draft": DRAFT}, format="json")

    # when ann and ben ask for theirs
    ann = api.get("/page/draft", {"request_code": "ann"}).json()
    ben = api.get("/page/draft/", {"request_code": "ben"}).json()

    # then ann's comes back, with when it was kept; ben has none
    assert put.status_code == 200
    assert put.json()["draft"] == DRAFT
    assert ann["draft"] == DRAFT
    assert ann["updated_at"] == put.json()["updated_at"] is not None
    assert ben == {"draft": {}, "updated_at": None}


def test_a_second_put_replaces_the_draft(api):
    api.put("/page/draft?request_code=ann", {"draft": DRAFT}, format="json")

    api.put("/page/draft?request_code=ann", {"draft": {"segments": []}}, format="json")

    assert api.get("/page/draft", {"request_code": "ann"}).json()["draft"] == {"segments": []}


def test_with_accounts_off_the_request_code_is_required(api):
    response = api.get("/page/draft")

    assert response.status_code == 400
    assert "request_code" in response.json()["detail"]


@pytest.mark.parametrize("draft", [[1, 2], "text", 3, None])
def test_a_draft_that_is_not_an_object_is_refused(api, draft):
    response = api.put("/page/draft?request_code=ann", {"draft": draft}, format="json")

    assert response.status_code == 400
    assert "object" in response.json()["detail"]


def test_a_draft_over_64_kb_is_refused_and_the_kept_one_stays(api):
    api.put("/page/draft?request_code=ann", {"draft": DRAFT}, format="json")
    big = {"notes": "x" * (64 * 1024)}

    response = api.put("/page/draft?request_code=ann", {"draft": big}, format="json")

    assert response.status_code == 400
    assert "65536" in response.json()["detail"]
    assert api.get("/page/draft", {"request_code": "ann"}).json()["draft"] == DRAFT


def test_a_draft_of_exactly_64_kb_is_kept(api):
    filler = 64 * 1024 - len(json.dumps({"notes": ""}, separators=(",", ":")))
    draft = {"notes": "x" * filler}

    response = api.put("/page/draft?request_code=ann", {"draft": draft}, format="json")

    assert response.status_code == 200


def test_with_accounts_each_user_has_one_draft_whatever_the_request_code(alice, bob):
    alice.put("/page/draft?request_code=one", {"draft": DRAFT}, format="json")

    mine = alice.get("/page/draft", {"request_code": "another"}).json()
    without_code = alice.get("/page/draft").json()
    theirs = bob.get("/page/draft", {"request_code": "one"}).json()

    assert mine["draft"] == without_code["draft"] == DRAFT
    assert theirs == {"draft": {}, "updated_at": None}


def test_a_session_must_send_its_csrf_token_to_keep_a_draft(accounts, django_user_model):
    # given a signed-in page session that checks CSRF as a browser's would
    user = django_user_model.objects.create_user("carol", password="pw")
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    token = browser.get("/").cookies["csrftoken"].value
    body = json.dumps({"draft": DRAFT})

    # when it puts without the token, then with it
    refused = browser.put("/page/draft", body, content_type="application/json")
    kept = browser.put(
        "/page/draft", body, content_type="application/json", headers={"X-CSRFToken": token}
    )

    # then only the second is kept
    assert refused.status_code == 403
    assert "detail" in refused.json()
    assert kept.status_code == 200
    assert browser.get("/page/draft").json()["draft"] == DRAFT


# The encode form's encoders


def test_the_encode_form_offers_only_delivery_encoders_this_ffmpeg_has(client):
    page = client.get("/").content.decode()

    common, other = pages.encoder_choices("video")
    audio_common, audio_other = pages.encoder_choices("audio")
    assert "libx264" in common and "aac" in audio_common
    assert "<option>a64multi</option>" not in page and "<option>xbm</option>" not in page
    offered = {*common, *other, *audio_common, *audio_other}
    assert offered <= set(capabilities.encoders())
    assert not {"a64multi", "xbm", "dnxhd", "pcm_alaw"} & offered


# The jobs the page watches


def a_trim(api, video_id: int, code: str = "ann") -> int:
    response = api.post(
        "/video/process/trim",
        {"request_code": code, "video_id": video_id, "trim_start": "0", "trim_end": "1000"},
        format="json",
    )
    assert response.status_code == 200, response.content
    return response.json()["job_id"]


def test_the_page_gets_its_jobs_oldest_first_as_the_api_gives_them(api, uploaded):
    # given two jobs of ann and one of ben
    first, second = a_trim(api, uploaded["id"]), a_trim(api, uploaded["id"])
    a_trim(api, uploaded["id"], code="ben")

    response = api.get("/page/jobs", {"request_code": "ann"})

    body = response.json()
    assert response.status_code == 200
    assert [job["id"] for job in body["jobs"]] == [first, second]
    api_job = api.get(f"/video/process/jobs/{first}").json()
    assert body["jobs"][0] == {
        **api_job,
        "elapsed_seconds": None,
        "eta_seconds": body["jobs"][0]["eta_seconds"],
    }
    assert datetime.fromisoformat(body["now"]) <= timezone.now()
    assert response["ETag"].startswith('W/"')


def test_a_poll_that_changed_nothing_is_answered_304_without_a_body(api, uploaded):
    a_trim(api, uploaded["id"])
    etag = api.get("/page/jobs", {"request_code": "ann"})["ETag"]

    again = api.get("/page/jobs", {"request_code": "ann"}, headers={"If-None-Match": etag})

    assert again.status_code == 304
    assert again.content == b""
    assert again["ETag"] == etag


def test_a_status_change_changes_the_etag(api, uploaded):
    # given the page's last answer
    job_id = a_trim(api, uploaded["id"])
    etag = api.get("/page/jobs", {"request_code": "ann"})["ETag"]

    # when the job starts running
    Job.objects.filter(pk=job_id).update(status=Job.Status.RUNNING, started_at=timezone.now())
    response = api.get("/page/jobs", {"request_code": "ann"}, headers={"If-None-Match": etag})

    # then the answer is the new state, under another ETag
    assert response.status_code == 200
    assert response["ETag"] != etag
    assert response.json()["jobs"][0]["status"] == "running"


def test_progress_changes_the_etag_but_passing_time_does_not(api, uploaded):
    job_id = a_trim(api, uploaded["id"])
    Job.objects.filter(pk=job_id).update(status=Job.Status.RUNNING, started_at=timezone.now())
    first = api.get("/page/jobs", {"request_code": "ann"})

    later = api.get("/page/jobs", {"request_code": "ann"}, headers={"If-None-Match": first["ETag"]})
    Job.objects.filter(pk=job_id).update(progress=40)
    moved = api.get("/page/jobs", {"request_code": "ann"}, headers={"If-None-Match": first["ETag"]})

    assert later.status_code == 304
    assert moved.status_code == 200
    assert moved.json()["jobs"][0]["progress"] == 40


def test_a_running_jobs_eta_comes_from_its_progress(api, uploaded):
    # given a job half done after 20 s
    job_id = a_trim(api, uploaded["id"])
    started = timezone.now() - timedelta(seconds=20)
    Job.objects.filter(pk=job_id).update(status=Job.Status.RUNNING, started_at=started, progress=50)

    (job,) = api.get("/page/jobs", {"request_code": "ann"}).json()["jobs"]

    assert 20 <= job["elapsed_seconds"] < 25
    assert 20 <= job["eta_seconds"] < 25


def test_a_job_just_started_has_its_eta_from_its_predicted_cost(api, uploaded):
    job_id = a_trim(api, uploaded["id"])
    Job.objects.filter(pk=job_id).update(
        status=Job.Status.RUNNING, started_at=timezone.now(), progress=1, cost=100
    )

    (job,) = api.get("/page/jobs", {"request_code": "ann"}).json()["jobs"]

    assert job["eta_seconds"] == pytest.approx(100 / editor.run_threads(), abs=2)


def test_a_running_jobs_eta_is_at_least_a_second(api, uploaded):
    job_id = a_trim(api, uploaded["id"])
    started = timezone.now() - timedelta(seconds=60)
    Job.objects.filter(pk=job_id).update(status=Job.Status.RUNNING, started_at=started, cost=1)

    (job,) = api.get("/page/jobs", {"request_code": "ann"}).json()["jobs"]

    assert job["eta_seconds"] == 1


def test_a_finished_job_has_how_long_it_ran_and_no_eta(api, uploaded):
    job_id = a_trim(api, uploaded["id"])
    started = timezone.now() - timedelta(seconds=30)
    Job.objects.filter(pk=job_id).update(
        status=Job.Status.SUCCEEDED, started_at=started, finished_at=started + timedelta(seconds=12)
    )

    (job,) = api.get("/page/jobs", {"request_code": "ann"}).json()["jobs"]

    assert job["elapsed_seconds"] == 12
    assert job["eta_seconds"] is None


def test_a_waiting_jobs_eta_is_its_predicted_run(api, uploaded):
    job_id = a_trim(api, uploaded["id"])
    cost = Job.objects.get(pk=job_id).cost

    (job,) = api.get("/page/jobs", {"request_code": "ann"}).json()["jobs"]

    assert cost > 0
    assert job["eta_seconds"] == pytest.approx(cost / editor.run_threads(), abs=0.1)


def test_the_page_gets_the_newest_100_jobs(api):
    Job.objects.bulk_create(
        Job(request_code="ann", kind="trim", params={"video_id": 1}) for _ in range(105)
    )

    jobs = api.get("/page/jobs", {"request_code": "ann"}).json()["jobs"]

    ids = sorted(Job.objects.values_list("id", flat=True))
    assert [job["id"] for job in jobs] == ids[-100:]


def test_with_accounts_the_page_sees_only_its_users_jobs(alice, bob, clip):
    video_id = upload(alice, clip).json()[0]["id"]
    job_id = a_trim(alice, video_id, code="same")

    mine = alice.get("/page/jobs", {"request_code": "same"}).json()["jobs"]
    theirs = bob.get("/page/jobs", {"request_code": "same"}).json()["jobs"]

    assert [job["id"] for job in mine] == [job_id]
    assert theirs == []
