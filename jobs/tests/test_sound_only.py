"""An encode to the sound alone (video_codec "none"): the audio-only preset's job."""

import pytest

from conftest import ffprobe, make_media, upload
from jobs.models import Job
from jobs.services import jobs_execute
from videos.models import Video

pytestmark = pytest.mark.django_db


def encode(api, video_id: int, **params):
    body = {"request_code": "me", "video_id": video_id, "video_codec": "none", **params}
    return api.post("/video/process/encoding", body, format="json")


def test_the_sound_alone_becomes_a_result_without_a_picture(api, uploaded, client):
    # when the sound of a video is encoded alone
    assert encode(api, uploaded["id"], audio_codec="aac").status_code == 200
    jobs_execute(request_code="me")

    # then the result holds the sound, as long as the source, and nothing else
    job = Job.objects.get()
    assert job.status == Job.Status.SUCCEEDED, job.error
    result = job.output_video
    streams = ffprobe(result.file.path)["streams"]
    assert [(s["codec_type"], s["codec_name"]) for s in streams] == [("audio", "aac")]
    source = Video.objects.get(pk=uploaded["id"])
    assert result.duration == pytest.approx(source.duration, abs=0.1)
    assert (result.extension, result.has_picture, result.thumbnail.name) == ("mp4", False, "")
    assert job.params["container"] == "mp4"

    # the library and the contract list it; it has no timeline, and nothing takes it
    assert result.id in [video["id"] for video in client.get("/page/library").json()]
    assert api.get(f"/video/view/info?video_id={result.id}").status_code == 200
    timeline = client.get(f"/video/view/timeline?video_id={result.id}")
    assert timeline.status_code == 409
    assert "sound only" in timeline.json()["detail"]
    trim = {"request_code": "me", "video_id": result.id, "trim_start": 0, "trim_end": 500}
    refused = api.post("/video/process/trim", trim, format="json")
    assert refused.status_code == 400
    assert refused.json()["detail"].startswith(f"Video {result.id} is sound only")
    assert client.get(f"/page/presets?video_id={result.id}").json() == []


def test_the_audio_only_preset_is_offered_for_videos_with_sound(api, client, tmp_path):
    loud, silent = upload(
        api, make_media(tmp_path / "loud.mp4"), make_media(tmp_path / "silent.mp4", audio=None)
    ).json()

    presets = {p["id"]: p for p in client.get(f"/page/presets?video_id={loud['id']}").json()}
    sound = presets["audio-only"]
    assert sound["params"]["video_codec"] == "none"
    assert sound["estimated_bytes"] == pytest.approx(128_000 / 8 * 2, rel=0.05)
    assert encode(api, loud["id"], **sound["params"]).status_code == 200

    ids = [p["id"] for p in client.get(f"/page/presets?video_id={silent['id']}").json()]
    assert "audio-only" not in ids
    refused = encode(api, silent["id"])
    assert refused.status_code == 400
    assert refused.json()["detail"] == (
        f"Video {silent['id']} has no sound: an audio-only encode of it would be empty."
    )


def test_a_container_that_cannot_hold_the_sound_alone_is_refused(api, uploaded):
    refused = encode(api, uploaded["id"], audio_codec="aac", container="webm")

    assert refused.status_code == 400
    assert "cannot hold aac sound alone" in refused.json()["detail"]
