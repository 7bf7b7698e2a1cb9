"""Queueing: every refusal is a 400/404 with a reason, before any work, and adds no row."""

import pytest

from conftest import make_media, upload
from jobs.models import Job

pytestmark = pytest.mark.django_db


def post(api, path, body):
    return api.post(f"/video/process/{path}", {"request_code": "q", **body}, format="json")


def refused(api, path, body, status=400) -> str:
    before = Job.objects.count()
    response = post(api, path, body)
    assert response.status_code == status, response.json()
    assert Job.objects.count() == before
    return response.json()["detail"]


def test_trim_is_queued_with_normalised_times(api, uploaded):
    response = post(
        api, "trim", {"video_id": uploaded["id"], "trim_start": "00:00.5", "trim_end": 1500}
    )
    assert response.status_code == 200
    assert response.json()["message"] == "Trim job added to queue"
    job = Job.objects.get(pk=response.json()["job_id"])
    assert (job.kind, job.status, job.request_code) == ("trim", "pending", "q")
    assert job.params == {
        "video_id": uploaded["id"],
        "trim_start_ms": 500,
        "trim_end_ms": 1500,
        "mode": "smart",
    }


@pytest.mark.parametrize(
    "start,end,reason",
    [
        ("abc", "1000", "not a time"),
        ("-100", "1000", "negative"),
        ("1000", "1000", "after"),
        ("1500", "500", "after"),
        ("2000", "3000", "past the end"),
        ("5s", "6s", "past the end"),
    ],
)
def test_trim_refusals(api, uploaded, start, end, reason):
    body = {"video_id": uploaded["id"], "trim_start": start, "trim_end": end}
    assert reason in refused(api, "trim", body)


def test_trim_refusals_are_sentences_a_person_reads(api, uploaded):
    # the order of the two times, and a start past the end of the 2 s clip, in clock times
    order = {"video_id": uploaded["id"], "trim_start": "2000", "trim_end": "1s"}
    assert refused(api, "trim", order) == (
        "The end (00:00:01.000) must come after the start (00:00:02.000)."
    )
    late = {"video_id": uploaded["id"], "trim_start": "2.5s", "trim_end": "3s"}
    assert refused(api, "trim", late) == (
        f"The start (00:00:02.500) is at or past the end of video {uploaded['id']}, "
        "which lasts 00:00:02.000."
    )


def test_trim_of_unknown_video_is_404(api):
    assert "999" in refused(api, "trim", {"video_id": 999, "trim_start": "0", "trim_end": "1"}, 404)


def test_missing_fields_are_400_naming_them(api):
    detail = refused(api, "trim", {"video_id": 1})
    assert "trim_start" in detail
    response = api.post(
        "/video/process/trim", {"video_id": 1, "trim_start": "0", "trim_end": "1"}, format="json"
    )
    assert response.status_code == 400 and "request_code" in response.json()["errors"]


def test_concat_is_queued(api, clip):
    first, second = upload(api, clip, clip).json()
    response = post(api, "concat", {"video_ids": [first["id"], second["id"]]})
    assert response.status_code == 200
    assert response.json()["message"] == "Concat job added to queue"


def test_concat_refusals(api, clip, tmp_path):
    first, second = upload(api, clip, clip).json()
    assert "two" in refused(api, "concat", {"video_ids": [first["id"]]})
    detail = refused(api, "concat", {"video_ids": [first["id"], 98, 99]}, 404)
    assert "98" in detail and "99" in detail
    other = upload(api, make_media(tmp_path / "wide.mp4", size="640x360")).json()[0]
    detail = refused(api, "concat", {"video_ids": [first["id"], other["id"]]})
    assert "resolution" in detail and str(other["id"]) in detail and str(first["id"]) in detail


@pytest.mark.parametrize(
    "variant,label",
    [
        ({"rate": "30"}, "frame rate"),
        ({"video": "libx265"}, "video codec"),
        ({"audio": "libmp3lame"}, "audio codec"),
        ({"audio": None}, "audio codec"),
        ({"audio_rate": 48000}, "audio sample rate"),
    ],
)
def test_concat_names_the_property_that_differs(api, clip, tmp_path, variant, label):
    base = upload(api, clip).json()[0]
    other = upload(api, make_media(tmp_path / "other.mp4", **variant)).json()[0]
    assert label in refused(api, "concat", {"video_ids": [base["id"], other["id"]]})


def test_encode_defaults_match_the_contract(api, uploaded):
    response = post(api, "encoding", {"video_id": uploaded["id"]})
    assert response.status_code == 200
    assert response.json()["message"] == "Encode job added to queue"
    job = Job.objects.get(pk=response.json()["job_id"])
    assert job.params == {
        "video_id": uploaded["id"],
        "video_codec": "libx264",
        "audio_codec": "aac",
        "resolution": "1920:1080",
        "frame_rate": 30,
        "container": "mp4",
    }


@pytest.mark.parametrize(
    "body,reason",
    [
        ({"video_codec": "nosuchcodec"}, "no video encoder named 'nosuchcodec'"),
        ({"video_codec": "aac"}, "no video encoder named 'aac'"),
        ({"audio_codec": "libx264"}, "no audio encoder named 'libx264'"),
        ({"resolution": "1280x720"}, "width:height"),
        ({"resolution": "1281:720"}, "even"),
        ({"resolution": "0:720"}, "even"),
        ({"resolution": "16000:720"}, "largest"),
        ({"frame_rate": 0}, "between"),
        ({"frame_rate": 1000}, "between"),
        ({"container": "ogg"}, "container"),
        ({"container": "webm"}, "cannot hold"),
        ({"video_codec": "libx264", "resolution": "320:240", "frame_rate": 25}, "not change"),
    ],
)
def test_encode_refusals(api, uploaded, body, reason):
    assert reason in refused(api, "encoding", {"video_id": uploaded["id"], **body})


def test_encode_of_unknown_video_is_404(api):
    refused(api, "encoding", {"video_id": 4242}, 404)


def test_encode_picks_a_container_that_holds_the_codecs(api, tmp_path):
    # an h264 source in webm's place: webm cannot hold h264, so mp4 is the fallback
    webm = upload(api, make_media(tmp_path / "s.webm", video="libvpx-vp9", audio="libopus")).json()[
        0
    ]
    job = Job.objects.get(pk=post(api, "encoding", {"video_id": webm["id"]}).json()["job_id"])
    assert job.params["container"] == "mp4"
    # vp9 + opus out of an avi goes to webm
    avi = upload(api, make_media(tmp_path / "s.avi", video="mpeg4", audio="libmp3lame")).json()[0]
    body = {"video_id": avi["id"], "video_codec": "libvpx-vp9", "audio_codec": "libopus"}
    assert (
        Job.objects.get(pk=post(api, "encoding", body).json()["job_id"]).params["container"]
        == "webm"
    )
    # an explicit container that holds the codecs is kept
    body = {"video_id": webm["id"], "container": "mkv"}
    assert (
        Job.objects.get(pk=post(api, "encoding", body).json()["job_id"]).params["container"]
        == "mkv"
    )


def test_execute_with_nothing_pending_is_400(api):
    response = api.post("/video/process/execute", {"request_code": "nobody"}, format="json")
    assert response.status_code == 400
    assert "nobody" in response.json()["detail"]
    assert api.post("/video/process/execute", {}, format="json").status_code == 400


def test_job_endpoints(api, uploaded):
    job_id = post(
        api, "trim", {"video_id": uploaded["id"], "trim_start": "0", "trim_end": "1000"}
    ).json()["job_id"]
    post(api, "trim", {"video_id": uploaded["id"], "trim_start": "0", "trim_end": "500"})
    other = {
        "request_code": "other",
        "video_id": uploaded["id"],
        "trim_start": "0",
        "trim_end": "500",
    }
    api.post("/video/process/trim", other, format="json")
    job = api.get(f"/video/process/jobs/{job_id}").json()
    assert set(job) >= {
        "id",
        "request_code",
        "kind",
        "status",
        "params",
        "progress",
        "error",
        "output_video_id",
        "created_at",
        "started_at",
        "finished_at",
    }
    assert (job["status"], job["progress"], job["output_video_id"]) == ("pending", 0, None)
    assert len(api.get("/video/process/jobs?request_code=q").json()) == 2
    assert len(api.get("/video/process/jobs").json()) == 3
    assert len(api.get("/video/process/jobs?limit=1").json()) == 1
    assert api.get("/video/process/jobs/9999").status_code == 404
