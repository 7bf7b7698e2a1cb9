"""The page's editor endpoints: the draft kept on the server, the jobs it watches, the
trim preview and the encode presets."""

import json
import uuid
from datetime import datetime, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from conftest import make_media, upload
from jobs.models import Job
from videoproc import pages
from videoproc import services as editor
from videos.engine import capabilities
from videos.models import Timeline

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


# The trim preview


@pytest.fixture
def gops(api, tmp_path) -> dict:
    """A 6 s 25 fps H.264 clip with a keyframe every second, uploaded: its record."""
    clip = make_media(
        tmp_path / "gops.mp4",
        duration=6,
        extra=["-g", "25", "-keyint_min", "25", "-sc_threshold", "0"],
    )
    response = upload(api, clip)
    assert response.status_code == 200, response.content
    return response.json()[0]


def trim_plan(api, video_id: int, start_ms, end_ms, mode: str | None = None):
    query = {"video_id": video_id, "start_ms": start_ms, "end_ms": end_ms}
    return api.get("/page/trim-plan", {**query, **({"mode": mode} if mode else {})})


def test_a_smart_trim_copies_the_whole_gops_between_its_cut_points(api, gops):
    # 500 and 4500 ms fall between frames (every 40 ms): the first kept frame is shown at
    # 520, the last until 4520
    response = trim_plan(api, gops["id"], 500, 4500)

    assert response.status_code == 200, response.content
    assert response.json() == {
        "method": "smart",
        "copy": [[1000, 4000]],
        "reencode": [[520, 1000], [4000, 4520]],
        "predicted_seconds": response.json()["predicted_seconds"],
        "note": None,
    }
    assert 0 < response.json()["predicted_seconds"] < 5


def test_the_preview_copies_what_the_trim_job_copies(api, gops):
    # given the preview of a range
    preview = trim_plan(api, gops["id"], 700, 3300).json()

    # when the trim job of that range runs
    job_id = a_trim_of(api, gops["id"], "700", "3300")
    executed = api.post("/video/process/execute", {"request_code": "ann"}, format="json")

    # then it ran the method and copied the span the preview showed
    job = api.get(f"/video/process/jobs/{job_id}").json()
    assert executed.status_code == 200, executed.content
    assert job["outcome"]["trim_method"] == preview["method"] == "smart"
    assert job["outcome"]["copied_ms"] == preview["copy"][0]


def a_trim_of(api, video_id: int, start: str, end: str, mode: str = "smart") -> int:
    response = api.post(
        "/video/process/trim",
        {
            "request_code": "ann",
            "video_id": video_id,
            "trim_start": start,
            "trim_end": end,
            "mode": mode,
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    return response.json()["job_id"]


def test_a_range_without_a_keyframe_is_reencoded_whole_and_the_note_says_why(api, uploaded):
    # the 2 s clip has one keyframe, at 0
    response = trim_plan(api, uploaded["id"], 500, 1500)

    body = response.json()
    assert response.status_code == 200
    assert body["method"] == "reencode"
    assert body["copy"] == []
    assert body["reencode"] == [[500, 1500]]
    assert "re-encoded" in body["note"] and "keyframe" in body["note"]


def test_reencode_mode_reencodes_the_whole_range(api, gops):
    body = trim_plan(api, gops["id"], 500, 4500, mode="reencode").json()

    assert body["method"] == "reencode"
    assert body["copy"] == []
    assert body["reencode"] == [[500, 4500]]
    assert body["note"] is None
    smart = trim_plan(api, gops["id"], 500, 4500).json()
    assert body["predicted_seconds"] > smart["predicted_seconds"]


def test_keyframe_mode_copies_from_the_keyframe_before_the_start(api, gops):
    body = trim_plan(api, gops["id"], 1500, 4500, mode="keyframe").json()

    assert body["method"] == "keyframe"
    assert body["copy"] == [[1000, 4500]]
    assert body["reencode"] == []
    assert "1.000 s" in body["note"]


def test_keyframe_mode_reads_the_keyframes_the_timeline_stored(api, gops):
    # given a made timeline (its keyframes, here made up, are what the preview reads)
    Timeline.objects.create(
        video_id=gops["id"],
        state=Timeline.State.READY,
        attempt=uuid.uuid4(),
        requested_at=timezone.now(),
        heartbeat_at=timezone.now(),
        keyframes_ms=[0, 1200, 2400],
    )

    body = trim_plan(api, gops["id"], 1500, 4500, mode="keyframe").json()

    assert body["copy"] == [[1200, 4500]]


def test_dragging_a_handle_scans_the_video_once(api, gops, monkeypatch):
    scans = []
    real_scan = editor.cutscan.scan
    monkeypatch.setattr(
        editor.cutscan, "scan", lambda *args: scans.append(args) or real_scan(*args)
    )
    editor._scans.clear()

    for end in range(3000, 5000, 250):
        assert trim_plan(api, gops["id"], 500, end).status_code == 200

    assert len(scans) == 1


@pytest.mark.parametrize(
    ("start", "end", "words"),
    [
        (2000, 1000, "end_ms must be after start_ms"),
        (1000, 1000, "end_ms must be after start_ms"),
        (1000, 9000, "past the end"),
        (6500, 9000, "past the end"),
        (-5, 1000, "negative"),
        ("soon", 1000, "is not a time"),
    ],
)
def test_a_bad_range_is_a_400_in_plain_words(api, gops, start, end, words):
    response = trim_plan(api, gops["id"], start, end)

    assert response.status_code == 400
    assert words in response.json()["detail"]


def test_a_range_shorter_than_a_frame_is_a_400(api, gops):
    response = trim_plan(api, gops["id"], 1000, 1010)

    assert response.status_code == 400
    assert "one frame" in response.json()["detail"]


def test_an_unknown_mode_is_a_400(api, gops):
    assert trim_plan(api, gops["id"], 0, 1000, mode="fast").status_code == 400


def test_a_missing_video_is_a_404(api):
    response = trim_plan(api, 999, 0, 1000)

    assert response.status_code == 404
    assert "999" in response.json()["detail"]


def test_another_users_video_is_a_404(alice, bob, clip):
    video_id = upload(alice, clip).json()[0]["id"]

    assert trim_plan(alice, video_id, 0, 1000).status_code == 200
    assert trim_plan(bob, video_id, 0, 1000).status_code == 404
