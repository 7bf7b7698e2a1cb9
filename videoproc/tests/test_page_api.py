"""The page's editor endpoints: the draft kept on the server, the jobs it watches, the
trim preview and the encode presets."""

import json
import uuid
from datetime import datetime, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from conftest import ffprobe, make_media, upload
from jobs.models import Job
from jobs.tests.test_execute import rotate_mp4
from videoproc import pages, presets
from videoproc import services as editor
from videos.engine import capabilities
from videos.models import Timeline, Video

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
        (2000, 1000, "must come after the start"),
        (1000, 1000, "must come after the start"),
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


# The encode presets


def stored(
    api, tmp_path, *, size: str, rate: str = "30", rotated=False, name="p.mp4", video="libx264"
):
    """A 1 s clip of that size, maybe marked as turned 90°, uploaded: its record."""
    extra = ["-preset", "ultrafast"] if video == "libx264" else []
    clip = make_media(tmp_path / name, video=video, size=size, rate=rate, duration=1, extra=extra)
    if rotated:
        rotate_mp4(clip)
    response = upload(api, clip)
    assert response.status_code == 200, response.content
    return response.json()[0]


def presets_of(api, video_id: int) -> dict[str, dict]:
    response = api.get("/page/presets", {"video_id": video_id})
    assert response.status_code == 200, response.content
    return {preset["id"]: preset for preset in response.json()}


def test_a_landscape_videos_presets_never_upscale_it(api, tmp_path):
    video = stored(api, tmp_path, size="1280x720", rate="50", video="mpeg4")

    found = presets_of(api, video["id"])

    assert "web-1080p" not in found  # above its size
    assert found["web-720p"]["params"] == {
        "video_codec": "libx264",
        "audio_codec": "aac",
        "resolution": "1280:720",
        "frame_rate": 50,
        "container": "mp4",
    }
    assert found["web-480p"]["params"]["resolution"] == "854:480"
    assert found["web-480p"]["label"] == "Web 480p (H.264, MP4)"
    assert found["webm"]["params"] == {
        "video_codec": "libvpx-vp9",
        "audio_codec": "libopus",
        "resolution": "1280:720",
        "frame_rate": 50,
        "container": "webm",
    }
    assert found["smaller-file"]["params"]["resolution"] == "1280:720"
    assert found["smaller-file"]["params"]["frame_rate"] == 25
    assert "frames a second" in found["smaller-file"]["note"]


def test_a_rotated_video_is_portrait_in_its_presets(api, tmp_path):
    # given 1920x1080 footage a phone marked as turned: shown 1080 wide, 1920 high
    video = stored(api, tmp_path, size="1920x1080", rotated=True)

    found = presets_of(api, video["id"])

    assert api.get("/video/view/info", {"video_id": video["id"]}).json()["rotation"] in (
        90,
        -90,
        270,
    )
    assert found["web-1080p"]["params"]["resolution"] == "1080:1920"
    assert found["web-720p"]["params"]["resolution"] == "720:1280"
    assert found["web-480p"]["params"]["resolution"] == "480:854"
    assert found["webm"]["params"]["resolution"] == "1080:1920"
    assert found["vertical"]["params"]["resolution"] == "1080:1920"
    assert found["vertical"]["note"] is None  # already 9:16: nothing to fit


def test_the_vertical_preset_fits_a_landscape_picture_with_bars(api, tmp_path):
    video = stored(api, tmp_path, size="1280x720")

    vertical = presets_of(api, video["id"])["vertical"]

    assert vertical["params"]["resolution"] == "1080:1920"
    assert "black bars above and below" in vertical["note"]
    assert "not cropped" in vertical["note"]


def test_a_small_video_keeps_its_size_and_the_frame_rate_is_at_most_60(api, tmp_path):
    video = stored(api, tmp_path, size="160x120", rate="100")

    found = presets_of(api, video["id"])

    assert set(found) >= {"web-480p", "webm", "vertical", "smaller-file"}
    assert found["web-480p"]["params"]["resolution"] == "160:120"
    assert "never upscales" in found["web-480p"]["note"]
    assert {preset["params"]["frame_rate"] for preset in found.values()} <= {60, 25}
    assert found["smaller-file"]["params"]["frame_rate"] == 25
    width, height = map(int, found["vertical"]["params"]["resolution"].split(":"))
    assert width <= 160 and width * 16 == height * 9


def test_a_preset_that_would_not_change_the_video_is_left_out(api, tmp_path):
    # an H.264 + AAC 1280x720 30 fps mp4 is already what web-720p makes
    video = stored(api, tmp_path, size="1280x720")

    assert "web-720p" not in presets_of(api, video["id"])


def test_estimated_bytes_follow_the_bitrate_table(api, tmp_path):
    video = stored(api, tmp_path, size="1920x1080", rate="30")
    duration = Video.objects.get(pk=video["id"]).duration

    found = presets_of(api, video["id"])

    kbps = presets.video_kbps("h264", width=1280, height=720, frame_rate=30) + presets.AUDIO_KBPS
    assert kbps == 3000 + 128
    assert found["web-720p"]["estimated_bytes"] == int(kbps * 1000 / 8 * duration)
    assert found["smaller-file"]["estimated_bytes"] < found["webm"]["estimated_bytes"]


def test_every_preset_is_queued_by_the_encode_endpoint(api, tmp_path):
    videos = [
        stored(api, tmp_path, size="1280x720", rate="50", name="wide.mp4"),
        stored(api, tmp_path, size="1280x720", rotated=True, name="phone.mp4"),
    ]

    for video in videos:
        for preset in presets_of(api, video["id"]).values():
            body = {"request_code": "ann", "video_id": video["id"], **preset["params"]}
            response = api.post("/video/process/encoding", body, format="json")
            assert response.status_code == 200, (preset["id"], response.content)
            assert response.json()["message"] == "Encode job added to queue"


def test_presets_of_a_missing_or_anothers_video_are_a_404(alice, bob, clip):
    video_id = upload(alice, clip).json()[0]["id"]

    assert alice.get("/page/presets", {"video_id": video_id}).status_code == 200
    assert bob.get("/page/presets", {"video_id": video_id}).status_code == 404
    assert alice.get("/page/presets", {"video_id": 999}).status_code == 404


def test_a_rotated_videos_web_preset_makes_an_upright_portrait_file(api, tmp_path, media_root):
    # given phone footage and its web-480p preset
    video = stored(api, tmp_path, size="640x360", rotated=True)
    preset = presets_of(api, video["id"])["web-480p"]

    # when that encode runs
    body = {"request_code": "ann", "video_id": video["id"], **preset["params"]}
    job_id = api.post("/video/process/encoding", body, format="json").json()["job_id"]
    executed = api.post("/video/process/execute", {"request_code": "ann"}, format="json")

    # then the file is 360 wide and 640 high, upright
    assert preset["params"]["resolution"] == "360:640"
    assert executed.status_code == 200, executed.content
    output_id = api.get(f"/video/process/jobs/{job_id}").json()["output_video_id"]
    output = Video.objects.get(pk=output_id)
    (stream,) = ffprobe(media_root / output.file.name, "-select_streams", "v")["streams"]
    assert (stream["width"], stream["height"]) == (360, 640)
    assert not stream.get("side_data_list")


def test_the_keyframe_preview_starts_where_the_keyframe_trim_starts(api, gops):
    preview = trim_plan(api, gops["id"], 2300, 3300, mode="keyframe").json()

    job_id = a_trim_of(api, gops["id"], "2300", "3300", mode="keyframe")
    executed = api.post("/video/process/execute", {"request_code": "ann"}, format="json")

    job = api.get(f"/video/process/jobs/{job_id}").json()
    assert executed.status_code == 200, executed.content
    assert job["outcome"]["trim_method"] == "keyframe"
    assert job["outcome"]["real_start"] == preview["copy"][0][0] == 2000
