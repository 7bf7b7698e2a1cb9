"""GET /video/view/timeline: made once per video in the background, 202 until then; its
storyboard and peaks links work under the same rules as downloads; the command; the
files go with the video."""

import re
from datetime import timedelta
from io import StringIO
from urllib.parse import urlsplit

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from conftest import make_media, upload
from videos import services, timelines
from videos.models import Timeline, Video

pytestmark = pytest.mark.django_db


def _get(client, url: str):
    """GET an absolute URL the API gave, through the test client."""
    parts = urlsplit(url)
    return client.get(f"{parts.path}?{parts.query}" if parts.query else parts.path)


def _content(response) -> bytes:
    if hasattr(response, "streaming_content"):
        return b"".join(response.streaming_content)
    return response.content


def _make_now(video_id: int) -> Timeline:
    row = timelines.timeline_begin(video=Video.objects.get(pk=video_id), send=False)
    timelines.timeline_make(video_id=video_id, attempt=row.attempt)
    row.refresh_from_db()
    return row


@pytest.mark.django_db(transaction=True)
def test_202_while_made_in_the_background_then_200(api, settings, tmp_path):
    clip = make_media(tmp_path / "gop.mp4", duration=3.0, extra=["-g", "25", "-sc_threshold", "0"])
    video_id = upload(api, clip).json()[0]["id"]
    assert not Timeline.objects.exists()  # TIMELINE_AUTO off (conftest): nothing begun
    response = api.get("/video/view/timeline", {"video_id": video_id})
    assert response.status_code == 202, response.content
    assert int(response["Retry-After"]) > 0 and "being made" in response.json()["detail"]
    timelines.local_queue_join()
    response = api.get("/video/view/timeline/", {"video_id": video_id})
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {
        "video_id",
        "duration_ms",
        "frame_rate",
        "frame_rate_exact",
        "keyframes_ms",
        "storyboard",
        "waveform",
    }
    assert body["video_id"] == video_id and body["duration_ms"] == pytest.approx(3000, abs=50)
    assert body["frame_rate"] == 25 and body["keyframes_ms"] == [0, 1000, 2000]
    assert body["storyboard"].startswith("http://testserver/")

    vtt = _get(APIClient(), body["storyboard"])
    assert vtt.status_code == 200 and vtt["Content-Type"].startswith("text/vtt")
    text = vtt.content.decode()
    sprites = set(re.findall(r"^(http://\S+?)#xywh=\d+,\d+,\d+,\d+$", text, re.M))
    assert len(sprites) == 1 and len(re.findall("#xywh=", text)) == 3
    sprite = _get(APIClient(), sprites.pop())
    assert sprite.status_code == 200 and _content(sprite)[:2] == b"\xff\xd8"  # a JPEG

    peaks = _get(APIClient(), body["waveform"])
    assert peaks.status_code == 200
    waveform = __import__("json").loads(_content(peaks))
    assert waveform["version"] == 2 and waveform["length"] == len(waveform["data"]) // 2


@pytest.mark.django_db(transaction=True)
def test_storing_a_video_begins_its_timeline(api, settings, clip):
    settings.TIMELINE_AUTO = True
    video_id = upload(api, clip).json()[0]["id"]
    assert Timeline.objects.get(video_id=video_id).state in {"making", "ready"}
    timelines.local_queue_join()
    assert Timeline.objects.get(video_id=video_id).state == "ready"
    assert api.get("/video/view/timeline", {"video_id": video_id}).status_code == 200


def test_no_sound_no_waveform(api, tmp_path):
    clip = make_media(tmp_path / "mute.mp4", audio=None)
    video_id = upload(api, clip).json()[0]["id"]
    assert _make_now(video_id).state == "ready"
    response = api.get("/video/view/timeline", {"video_id": video_id})
    assert response.status_code == 200 and response.json()["waveform"] is None


def test_unknown_or_bad_video(api):
    assert api.get("/video/view/timeline", {"video_id": 999}).status_code == 404
    assert api.get("/video/view/timeline", {"video_id": "x"}).status_code == 400
    assert api.get("/video/view/timeline/storyboard", {"video_id": 999}).status_code == 404


def test_a_dead_attempt_is_begun_again_and_a_failure_answers_409(api, uploaded, settings):
    video = Video.objects.get(pk=uploaded["id"])
    row = timelines.timeline_begin(video=video, send=False)
    first = row.attempt
    assert api.get("/video/view/timeline", {"video_id": video.id}).status_code == 202
    row.refresh_from_db()
    assert row.attempt == first  # alive: left alone
    Timeline.objects.filter(pk=video.id).update(
        heartbeat_at=timezone.now() - timedelta(seconds=settings.TIMELINE_STALE_SECONDS + 1)
    )
    assert api.get("/video/view/timeline", {"video_id": video.id}).status_code == 202
    row.refresh_from_db()
    assert row.attempt != first and row.state == "making"
    timelines.timeline_make(video_id=video.id, attempt=first)  # the old attempt: nothing
    row.refresh_from_db()
    assert row.state == "making" and not row.names

    default_storage.delete(video.file.name)  # its maker fails
    timelines.timeline_make(video_id=video.id, attempt=row.attempt)
    response = api.get("/video/view/timeline", {"video_id": video.id})
    assert response.status_code == 409 and int(response["Retry-After"]) > 0
    assert "could not be made" in response.json()["detail"]


def test_owners_and_signed_links(user_api, tmp_path):
    alice, bob = user_api("alice"), user_api("bob")
    clip = make_media(tmp_path / "clip.mp4")
    video_id = upload(alice, clip).json()[0]["id"]
    _make_now(video_id)
    assert bob.get("/video/view/timeline", {"video_id": video_id}).status_code == 404
    assert APIClient().get("/video/view/timeline", {"video_id": video_id}).status_code == 401
    body = alice.get("/video/view/timeline", {"video_id": video_id}).json()
    assert "sig=" in body["storyboard"] and "sig=" in body["waveform"]
    anonymous = APIClient()
    vtt = _get(anonymous, body["storyboard"])
    assert vtt.status_code == 200
    links = re.findall(r"^(\S+)#xywh=", vtt.content.decode(), re.M)
    assert links and all("sig=" in link for link in links)
    assert _get(anonymous, links[0]).status_code == 200
    assert _get(anonymous, body["waveform"]).status_code == 200
    # Without the signature: the owner's credentials only.
    plain = f"/video/view/timeline/storyboard?video_id={video_id}"
    assert anonymous.get(plain).status_code == 401
    assert anonymous.get(plain + "&sig=forged").status_code == 403
    assert bob.get(plain).status_code == 404
    assert alice.get(plain).status_code == 200
    # The files themselves, unsigned: the owner's session only (as for downloads).
    sprite = urlsplit(links[0]).path
    sessions = {"alice": APIClient(), "bob": APIClient()}
    sessions["alice"].force_login(alice.user)
    sessions["bob"].force_login(bob.user)
    assert sessions["bob"].get(sprite).status_code == 404
    assert sessions["alice"].get(sprite).status_code == 200


def test_make_timelines_command(api, tmp_path, django_capture_on_commit_callbacks):
    ids = [upload(api, make_media(tmp_path / f"c{n}.mp4")).json()[0]["id"] for n in range(2)]
    _make_now(ids[0])
    out = StringIO()
    call_command("make_timelines", "--missing", stdout=out)
    assert f"video {ids[1]}" in out.getvalue() and f"video {ids[0]} " not in out.getvalue()
    assert set(Timeline.objects.values_list("state", flat=True)) == {"ready"}
    before = Timeline.objects.get(pk=ids[0]).names
    with django_capture_on_commit_callbacks(execute=True):
        call_command("make_timelines", str(ids[0]), stdout=StringIO())  # made again
    after = Timeline.objects.get(pk=ids[0]).names
    assert set(before).isdisjoint(after)
    assert not any(default_storage.exists(name) for name in before)  # the old ones went
    assert all(default_storage.exists(name) for name in after)
    out = StringIO()
    call_command("make_timelines", "--missing", stdout=out)
    assert "No videos" in out.getvalue()


def test_deleting_a_video_removes_its_timeline(api, uploaded, django_capture_on_commit_callbacks):
    names = _make_now(uploaded["id"]).names
    assert len(names) == 3 and all(default_storage.exists(name) for name in names)
    assert services.media_cleanup(delete=False).orphan_files == []  # the audit knows them
    stray = "timelines/1-000000000000/sprite-001.jpg"
    default_storage.save(stray, __import__("io").BytesIO(b"x"))
    assert services.media_cleanup(delete=False).orphan_files == [stray]
    with django_capture_on_commit_callbacks(execute=True):
        services.video_delete(video=Video.objects.get(pk=uploaded["id"]))
    assert not any(default_storage.exists(name) for name in names)
    assert not Timeline.objects.exists()
