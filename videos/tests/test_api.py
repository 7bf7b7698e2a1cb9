"""List, info, download and the /storage/ file server."""

import json
import os
import subprocess
import sys

import pytest

from conftest import make_media, upload
from jobs.models import Job
from videos.models import Video

pytestmark = pytest.mark.django_db


@pytest.fixture
def result(api, uploaded):
    """A processed video: a trim of the uploaded clip."""
    api.post(
        "/video/process/trim",
        {"request_code": "r", "video_id": uploaded["id"], "trim_start": "0", "trim_end": "1s"},
        format="json",
    )
    assert (
        api.post("/video/process/execute", {"request_code": "r"}, format="json").status_code == 200
    )
    return Job.objects.get(request_code="r").output_video


def test_list_orders_by_id_and_pages(api, clip):
    ids = [record["id"] for record in upload(api, clip, clip, clip).json()]
    assert [v["id"] for v in api.get("/video/view/all").json()] == ids
    assert [v["id"] for v in api.get("/video/view/all?skip=1&limit=1").json()] == ids[1:2]
    assert [v["id"] for v in api.get("/video/view/all/?skip=2").json()] == ids[2:]


@pytest.mark.parametrize("query", ["skip=-1", "limit=-5", "skip=abc", "limit=1.5"])
def test_list_refuses_bad_paging(api, query):
    response = api.get(f"/video/view/all?{query}")
    assert response.status_code == 400
    assert response.json()["detail"]


def test_list_caps_limit(api, clip, monkeypatch):
    monkeypatch.setattr("videoproc.paging.MAX_PAGE_SIZE", 2)
    upload(api, clip, clip, clip)
    assert len(api.get("/video/view/all?limit=100").json()) == 2


def test_info_answers_from_the_stored_probe(api, uploaded):
    response = api.get(f"/video/view/info/?video_id={uploaded['id']}")
    assert response.status_code == 200
    info = response.json()
    expected = {"video_streams": "h264", "audio_streams": "aac", "resolution": "320:240"}
    assert {key: info[key] for key in expected} == expected
    assert info["frame_rate"] == 25 and isinstance(info["frame_rate"], int)
    assert info["duration"] == pytest.approx(2.0, abs=0.1)


def test_info_of_silent_video_has_null_audio(api, tmp_path):
    silent = make_media(tmp_path / "silent.mp4", audio=None, rate="30000/1001")
    record = upload(api, silent).json()[0]
    info = api.get(f"/video/view/info?video_id={record['id']}").json()
    assert info["audio_streams"] is None
    assert info["frame_rate"] == 30  # 29.97 rounds to 30


def test_info_errors(api, uploaded, media_root):
    assert api.get("/video/view/info?video_id=999").status_code == 404
    assert api.get("/video/view/info?video_id=x").status_code == 400
    assert api.get("/video/view/info").status_code == 400
    (media_root / uploaded["original_file_path"][len("./storage/") :]).unlink()
    response = api.get(f"/video/view/info?video_id={uploaded['id']}")
    assert response.status_code == 500
    assert "could not be read" in response.json()["detail"]


def test_download_gives_an_absolute_link_from_the_request_host(api, result):
    response = api.get(f"/video/download?video_id={result.id}", HTTP_HOST="127.0.0.1:8123")
    assert response.status_code == 200
    assert response.json() == [
        {"download_link": f"http://127.0.0.1:8123/storage/{result.file.name}"}
    ]


def test_download_errors(api, uploaded):
    assert api.get(f"/video/download?video_id={uploaded['id']}").status_code == 404  # an upload
    assert api.get("/video/download?video_id=12345").status_code == 404
    assert api.get("/video/download?video_id=abc").status_code == 400
    assert api.get("/video/download").status_code == 400


def test_stored_file_is_served_whole_and_by_range(api, result, media_root):
    # given the processed file's link
    link = api.get(f"/video/download?video_id={result.id}").json()[0]["download_link"]
    path = link.split("http://testserver", 1)[1]
    content = (media_root / result.file.name).read_bytes()

    # then it is served whole, and any range of it
    whole = api.get(path)
    assert whole.status_code == 200
    assert whole["Accept-Ranges"] == "bytes"
    assert b"".join(whole.streaming_content) == content
    part = api.get(path, HTTP_RANGE="bytes=100-199")
    assert part.status_code == 206
    assert part["Content-Range"] == f"bytes 100-199/{len(content)}"
    assert b"".join(part.streaming_content) == content[100:200]
    tail = api.get(path, HTTP_RANGE="bytes=-50")
    assert b"".join(tail.streaming_content) == content[-50:]
    open_ended = api.get(path, HTTP_RANGE=f"bytes={len(content) - 10}-")
    assert b"".join(open_ended.streaming_content) == content[-10:]
    beyond = api.get(path, HTTP_RANGE=f"bytes={len(content)}-")
    assert beyond.status_code == 416
    huge = api.get(path, HTTP_RANGE=f"bytes={'9' * 30}-")
    assert huge.status_code == 200  # not a range any file has: ignored, the whole file
    huge_digits = api.get(path, HTTP_RANGE=f"bytes=1-{'9' * 5000}")
    assert b"".join(huge_digits.streaming_content) == content


def test_storage_never_serves_outside_the_media_root(api):
    assert api.get("/storage/../../etc/passwd").status_code == 404
    assert api.get("/storage/origin/missing.mp4").status_code == 404


def test_storage_refuses_a_symlink_leading_out_of_the_media_folder(api, media_root, tmp_path):
    # given a file outside the media folder, and a link to it inside
    secret = tmp_path / "secret.mp4"
    secret.write_bytes(b"not for the web")
    (media_root / "origin").mkdir(parents=True, exist_ok=True)
    (media_root / "origin" / "link.mp4").symlink_to(secret)
    # then the link is not followed
    response = api.get("/storage/origin/link.mp4")
    assert response.status_code == 404 and b"not for the web" not in response.content


def test_uploads_in_flight_and_jobs_at_work_are_never_under_storage(api, settings):
    # given a file in scratch, where uploads and jobs write
    scratch = settings.SCRATCH_DIR
    assert not scratch.resolve().is_relative_to(settings.MEDIA_ROOT.resolve())
    (scratch / "job1-x").mkdir()
    (scratch / "job1-x" / "output.mp4").write_bytes(b"half done")
    # then no /storage/ path reaches it
    for path in (
        "/storage/tmp/job1-x/output.mp4",
        "/storage/../scratch/job1-x/output.mp4",
        "/storage/job1-x/output.mp4",
    ):
        assert api.get(path).status_code == 404


def test_scratch_inside_the_media_folder_is_refused_at_startup(tmp_path):
    # given settings that would put scratch under /storage/
    env = {
        **os.environ,
        "MEDIA_ROOT": str(tmp_path / "m"),
        "SCRATCH_DIR": str(tmp_path / "m/tmp"),
        "SECRET_KEY": "test",
        "DJANGO_SETTINGS_MODULE": "videoproc.settings",
    }
    # when Django starts, it refuses
    started = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert started.returncode != 0 and "SCRATCH_DIR must be outside MEDIA_ROOT" in started.stderr


def test_paths_answer_with_and_without_trailing_slash(api, uploaded):
    for path in ("/video/view/all", "/video/view/all/"):
        assert api.get(path).status_code == 200
    assert Video.objects.count() == 1


def test_unknown_paths_and_wrong_methods_answer_in_the_same_shape(api):
    missing = api.get("/video/nothing-here")
    assert (missing.status_code, missing.json()) == (404, {"detail": "Not found"})
    wrong_method = api.get("/video/upload")
    assert wrong_method.status_code == 405 and "GET" in wrong_method.json()["detail"]


def test_openapi_schema_covers_every_endpoint(api):
    response = api.get("/api/schema", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    schema = json.loads(response.content)
    paths = " ".join(schema["paths"])
    for endpoint in (
        "upload",
        "download",
        "view/all",
        "view/info",
        "trim",
        "concat",
        "encoding",
        "execute",
        "jobs",
    ):
        assert endpoint in paths
    docs = api.get("/api/docs")
    assert docs.status_code == 200
    assert b"/static/drf_spectacular_sidecar/" in docs.content  # served here, not by a CDN
