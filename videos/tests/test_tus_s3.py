"""Resumable uploads with S3 storage (moto's server): the bytes go to an S3 multipart
upload part by part, never gathered whole on the web machine's disk while they come."""

import threading
from pathlib import Path

import pytest
from django.conf import settings

from videos.models import ResumableUpload, Video
from videos.resumable_stores import S3_MIN_PART

from .test_tus import TUS, create, send
from .test_tus_resume import big_video

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


class ScratchWatch:
    """The most bytes the scratch folder held at once, sampled while it runs."""

    def __init__(self):
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch)

    def _watch(self):
        while not self._stop.is_set():
            held = 0
            for path in Path(settings.SCRATCH_DIR).rglob("*"):
                try:
                    held += path.stat().st_size if path.is_file() else 0
                except FileNotFoundError:
                    pass  # a buffer removed as it was counted
            self.peak = max(self.peak, held)
            self._stop.wait(0.002)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


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
