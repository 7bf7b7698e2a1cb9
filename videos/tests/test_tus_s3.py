"""Resumable uploads with S3 storage (moto's server): the bytes go to an S3 multipart
upload part by part, never gathered whole on the web machine's disk while they come, nor
when they are finished: the object is probed through a link and copied in the bucket."""

import hashlib
import os
import threading
from pathlib import Path

import pytest
from botocore.client import BaseClient
from django.conf import settings
from storages.backends.s3 import S3Storage

from conftest import ffprobe
from videos.models import ResumableUpload, Video
from videos.resumable_stores import S3_MIN_PART

from .test_tus import TUS, create, send
from .test_tus_resume import big_video

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


class ScratchWatch:
    """The most bytes the scratch folder held at once, sampled while it runs."""

    def __init__(self):
        self.peak = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch)

    def _watch(self):
        while not self._stop.is_set():
            held = 0
            # os.walk passes over a folder removed while it is walked (rglob raises)
            for folder, _, names in os.walk(settings.SCRATCH_DIR):
                for name in names:
                    try:
                        held += os.stat(os.path.join(folder, name)).st_size
                    except FileNotFoundError:
                        pass  # a buffer removed as it was counted
            self.peak = max(self.peak, held)
            self.samples += 1
            self._stop.wait(0.002)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        assert self.samples > 1  # it watched all along


@pytest.fixture
def reads(monkeypatch) -> list[str]:
    """What this process reads from the bucket itself: the key of every GetObject (a
    download_file is made of them) and the name of every file the storage opens."""
    keys = []
    make_api_call = BaseClient._make_api_call
    storage_open = S3Storage._open

    def recording_call(client, operation, params):
        if operation == "GetObject":
            keys.append(params["Key"])
        return make_api_call(client, operation, params)

    def recording_open(storage, name, mode="rb"):
        keys.append(name)
        return storage_open(storage, name, mode)

    monkeypatch.setattr(BaseClient, "_make_api_call", recording_call)
    monkeypatch.setattr(S3Storage, "_open", recording_open)
    return keys


def test_the_parts_go_to_an_s3_multipart_upload(api, s3, settings, tmp_path):
    # given S3 storage, parts of 5 MiB, and a real video of about 16 MB
    settings.TUS_S3_PART_SIZE = S3_MIN_PART
    source = big_video(tmp_path / "s3.mp4", 16)
    data = source.read_bytes()
    location = create(api, length=len(data), filename="s3.mp4")["Location"]
    bucket = s3.env["AWS_STORAGE_BUCKET_NAME"]

    # when all but its last 3 MiB come in PATCHes of 3 MiB (not a multiple of a part)
    chunk = 3 * 1024 * 1024
    last = len(data) - chunk
    with ScratchWatch() as scratch:
        for start in range(0, last, chunk):
            answer = send(api, location, data[start : min(start + chunk, last)], offset=start)
            assert answer.status_code == 204, answer.content

    # then the full parts are already in the bucket's multipart upload, and the web
    # machine's scratch never held more than one part
    state = ResumableUpload.objects.get().store_state
    [multipart] = s3.client.list_multipart_uploads(Bucket=bucket)["Uploads"]
    listed = s3.client.list_parts(Bucket=bucket, Key=multipart["Key"], UploadId=state["upload_id"])
    assert [part["Size"] for part in listed["Parts"]] == [S3_MIN_PART] * (last // S3_MIN_PART)
    assert state["tail"]["size"] == last % S3_MIN_PART
    assert 0 < scratch.peak <= S3_MIN_PART + 1024 * 1024
    assert not any(path.is_file() for path in Path(settings.SCRATCH_DIR).rglob("*"))

    # and the last PATCH makes it the video a plain upload makes, stored in the bucket
    assert send(api, location, data[last:], offset=last).status_code == 204
    [record] = api.get(location).json()
    name = record["original_file_path"].removeprefix("./storage/")
    stored = s3.client.get_object(Bucket=bucket, Key=name)["Body"].read()
    assert stored == data
    assert Video.objects.get().video_codec == "h264"
    assert s3.client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert not [key for key in s3.keys() if key.startswith("tus/")]


def test_a_terminated_s3_upload_leaves_nothing_in_the_bucket(api, s3, settings, clip):
    # given an upload with a part sent and a tail kept
    settings.TUS_S3_PART_SIZE = S3_MIN_PART
    data = (clip.read_bytes() * 400)[: S3_MIN_PART + 1000]
    location = create(api, length=len(data) + 10)["Location"]
    assert send(api, location, data, offset=0).status_code == 204
    bucket = s3.env["AWS_STORAGE_BUCKET_NAME"]
    assert [key for key in s3.keys() if key.startswith("tus/")]

    # when it is terminated
    assert api.delete(location, **TUS).status_code == 204

    # then its multipart upload is aborted and its tail gone
    assert s3.client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert s3.keys() == []


def test_the_finish_probes_and_stores_the_object_where_it_is(api, s3, settings, tmp_path, reads):
    # given S3 storage, parts of 5 MiB, and a real video of about 16 MB
    settings.TUS_S3_PART_SIZE = S3_MIN_PART
    source = big_video(tmp_path / "s3.mp4", 16)
    data = source.read_bytes()
    location = create(api, length=len(data), filename="s3.mp4")["Location"]
    bucket = s3.env["AWS_STORAGE_BUCKET_NAME"]

    # when it is sent in three PATCHes, the last of which finishes it
    chunk = -(-len(data) // 3)
    with ScratchWatch() as scratch:
        for start in range(0, len(data), chunk):
            answer = send(api, location, data[start : start + chunk], offset=start)
            assert answer.status_code == 204, answer.content

    # then the web machine never held the whole file: scratch held at most a part, and
    # it read from the bucket only the small tails its appends left, never the object
    assert scratch.peak <= S3_MIN_PART + 1024 * 1024 < len(data)
    assert reads and all(".tail-" in key for key in reads)
    assert not any(path.is_file() for path in Path(settings.SCRATCH_DIR).rglob("*"))

    # and the video was probed as a plain upload is, and its bytes stored as sent
    [record] = api.get(location).json()
    video = Video.objects.get()
    assert (video.video_codec, video.width, video.size) == ("h264", 640, len(data))
    assert video.duration == pytest.approx(30, abs=0.1)
    name = record["original_file_path"].removeprefix("./storage/")
    assert name.startswith("origin/s3_") and name == video.file.name
    stored = s3.client.get_object(Bucket=bucket, Key=name)
    assert hashlib.sha256(stored["Body"].read()).digest() == hashlib.sha256(data).digest()
    assert stored["ContentType"] == "video/mp4"

    # and its poster frame was grabbed through the link
    poster = tmp_path / "poster.jpg"
    poster.write_bytes(s3.client.get_object(Bucket=bucket, Key=video.thumbnail.name)["Body"].read())
    [picture] = ffprobe(poster)["streams"]
    assert (picture["codec_name"], picture["width"]) == ("mjpeg", 320)

    # and the upload's object and multipart upload are gone
    assert sorted(s3.keys()) == sorted([name, video.thumbnail.name])
    assert s3.client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_a_refused_s3_upload_leaves_nothing_in_the_bucket(api, s3, settings):
    # given S3 storage and a file named .mp4 that is no video, larger than a part
    settings.TUS_S3_PART_SIZE = S3_MIN_PART
    data = b"not a video at all\n" * (S3_MIN_PART // 10)
    location = create(api, length=len(data), filename="fake.mp4")["Location"]
    bucket = s3.env["AWS_STORAGE_BUCKET_NAME"]

    # when all of it comes
    answer = send(api, location, data, offset=0)

    # then it is refused as a plain upload would be, and the bucket holds nothing
    assert answer.status_code == 415, answer.content
    assert "fake.mp4" in answer.json()["detail"]
    assert "X-Amz" not in answer.json()["detail"] and "127.0.0.1" not in answer.json()["detail"]
    assert api.get(location).json()["detail"] == answer.json()["detail"]
    assert not Video.objects.exists()
    assert s3.keys() == []
    assert s3.client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
