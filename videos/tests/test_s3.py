"""The whole flow with files in an S3 bucket (moto's server) and a Celery worker:
upload, queue, execute, download through a presigned link."""

import urllib.request
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings

from conftest import ffprobe, upload

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_upload_queue_execute_download_through_s3(api, clip, s3, start_worker, tmp_path):
    # given a worker that stores in the same bucket
    start_worker("s3", **s3.env)
    # when
    uploaded = upload(api, clip)
    record = uploaded.json()[0]
    queued = api.post(
        "/video/process/trim",
        {"request_code": "user", "video_id": record["id"], "trim_start": "0", "trim_end": "1s"},
        format="json",
    )
    executed = api.post("/video/process/execute", {"request_code": "user"}, format="json")
    output_id = api.get(f"/video/process/jobs/{queued.json()['job_id']}").json()["output_video_id"]
    processed = api.get("/video/view/all").json()[-1]
    download = api.get(f"/video/download?video_id={output_id}")
    processed_name = processed["processed_file_path"].removeprefix("./storage/")
    served = api.get(f"/storage/{processed_name}")
    # then
    assert uploaded.status_code == 200, uploaded.content
    assert record["original_file_path"].startswith("./storage/origin/clip_")
    assert executed.status_code == 200, executed.content
    assert processed["processed_file_path"].startswith("./storage/modi/clip_")
    keys = s3.keys()
    assert record["original_file_path"].removeprefix("./storage/") in keys
    assert processed_name in keys
    # nothing kept on local disk: uploads and the worker's copies were scratch only
    assert [path for path in Path(settings.MEDIA_ROOT).rglob("*") if path.is_file()] == []
    link = download.json()[0]["download_link"]
    query = parse_qs(urlsplit(link).query)
    assert link.startswith(s3.env["AWS_S3_ENDPOINT_URL"])
    assert query["X-Amz-Expires"] == ["3600"] and "X-Amz-Signature" in query
    bucket_url = f"{s3.env['AWS_S3_ENDPOINT_URL']}/{s3.env['AWS_STORAGE_BUCKET_NAME']}"
    assert served.status_code == 302
    assert served["Location"].startswith(f"{bucket_url}/{processed_name}?")
    fetched = tmp_path / "fetched.mp4"
    with urllib.request.urlopen(link, timeout=30) as response:
        fetched.write_bytes(response.read())
    info = ffprobe(fetched)
    assert float(info["format"]["duration"]) == pytest.approx(1.0, abs=0.1)
    assert [stream["codec_name"] for stream in info["streams"]] == ["h264", "aac"]


def test_a_deleted_video_leaves_the_bucket(api, clip, s3):
    # given an upload in the bucket: the video and its poster
    record = upload(api, clip).json()[0]
    before = s3.keys()
    assert record["original_file_path"].removeprefix("./storage/") in before
    assert any(key.startswith("thumbs/") for key in before)

    # when it is renamed (its objects stay as they are), then deleted
    renamed = api.patch(
        f"/video/view/info?video_id={record['id']}", {"name": "Renamed"}, format="json"
    )
    assert renamed.status_code == 200, renamed.content
    assert s3.keys() == before
    deleted = api.delete(f"/video/view/info?video_id={record['id']}")

    # then none of its objects is left
    assert deleted.status_code == 204, deleted.content
    assert s3.keys() == []
