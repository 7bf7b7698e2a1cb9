"""Timeline data made by a Celery worker into an S3 bucket (moto's server): sent after
the upload commits, stored beside the video, every link presigned, gone with the video."""

import json
import re
import urllib.request
from urllib.parse import urlsplit

import pytest

from conftest import upload
from jobs.tests.integration import wait_for
from videos import services
from videos.models import Timeline, Video

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read()


def test_a_worker_makes_the_timeline_into_the_bucket(api, clip, s3, start_worker, settings):
    # given a worker that stores in the same bucket, and timelines begun on upload
    worker = start_worker("s3", **s3.env)
    settings.TIMELINE_AUTO = True
    # when
    video_id = upload(api, clip).json()[0]["id"]
    wait_for(
        lambda: Timeline.objects.get(video_id=video_id).state != Timeline.State.MAKING,
        timeout=60,
        what="the worker to make the timeline",
    )
    # then
    row = Timeline.objects.get(video_id=video_id)
    assert row.state == Timeline.State.READY, (row.error, worker.output()[-3000:])
    assert "videos.tasks.make_timeline[" in worker.output()
    assert set(row.names) <= set(s3.keys()) and len(row.names) == 3
    body = api.get("/video/view/timeline", {"video_id": video_id}).json()
    assert body["keyframes_ms"][0] == 0
    parts = urlsplit(body["storyboard"])
    vtt = api.get(f"{parts.path}?{parts.query}").content.decode()
    links = re.findall(r"^(\S+)#xywh=", vtt, re.M)
    assert links and all("X-Amz-Signature" in link for link in links)
    assert _fetch(links[0])[:2] == b"\xff\xd8"
    assert "X-Amz-Signature" in body["waveform"]
    assert json.loads(_fetch(body["waveform"]))["version"] == 2
    # and deleting the video takes its timeline out of the bucket
    services.video_delete(video=Video.objects.get(pk=video_id))
    assert set(row.names).isdisjoint(s3.keys())
