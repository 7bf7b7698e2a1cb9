"""Cancel and retry on the embedded default: jobs run inside the execute request."""

import threading
import time

import pytest
from django.conf import settings
from django.db import connection

from conftest import make_media, upload
from jobs.models import Job
from videos.models import Video

pytestmark = pytest.mark.django_db(transaction=True)


def trim_job(api, video_id: int) -> int:
    body = {"request_code": "c", "video_id": video_id, "trim_start": "0", "trim_end": "1000"}
    return api.post("/video/process/trim", body, format="json").json()["job_id"]


def execute(api):
    return api.post("/video/process/execute", {"request_code": "c"}, format="json")


def test_cancel_a_pending_job_then_retry_it(api, uploaded):
    job_id = trim_job(api, uploaded["id"])

    cancelled = api.post(f"/video/process/jobs/{job_id}/cancel")
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert execute(api).status_code == 400  # nothing pending

    retried = api.post(f"/video/process/jobs/{job_id}/retry/")
    assert retried.status_code == 200
    assert (retried.json()["status"], retried.json()["error"]) == ("pending", None)
    assert execute(api).status_code == 200
    assert Job.objects.get(pk=job_id).output_video is not None


def test_cancel_and_retry_refuse_jobs_in_the_wrong_state(api, uploaded):
    job_id = trim_job(api, uploaded["id"])
    assert api.post(f"/video/process/jobs/{job_id}/retry").status_code == 409  # pending
    execute(api)
    response = api.post(f"/video/process/jobs/{job_id}/cancel")
    assert response.status_code == 409
    assert "succeeded" in response.json()["detail"]
    assert api.post("/video/process/jobs/9999/cancel").status_code == 404
    assert api.post("/video/process/jobs/9999/retry").status_code == 404


def test_cancel_stops_a_running_encode_and_leaves_nothing(api, tmp_path, media_root):
    # given a long encode running inside an execute request
    source = make_media(
        tmp_path / "long.mp4", size="640x360", duration=30, extra=["-preset", "ultrafast"]
    )
    video = upload(api, source).json()[0]
    body = {"request_code": "c", "video_id": video["id"], "resolution": "1920:1080"}
    job_id = api.post("/video/process/encoding", body, format="json").json()["job_id"]
    answers = []

    def run():
        answers.append(execute(api))
        connection.close()

    request = threading.Thread(target=run)
    request.start()
    deadline = time.monotonic() + 30
    while Job.objects.get(pk=job_id).progress == 0:  # FFmpeg is running and reporting
        assert time.monotonic() < deadline, "the encode never reported progress"
        time.sleep(0.1)

    # when it is cancelled
    cancelled_at = time.monotonic()
    assert api.post(f"/video/process/jobs/{job_id}/cancel").status_code == 200
    request.join(timeout=30)

    # then it stops within a couple of seconds, and the execute says what was cancelled,
    # not that the server failed; it leaves no file or row
    assert time.monotonic() - cancelled_at < 5
    assert answers[0].status_code == 200
    assert answers[0].json() == {
        "message": f"0 of 1 pending jobs for request_code c executed successfully; "
        f"cancelled: job {job_id} (encode)",
        "cancelled": [job_id],
    }
    job = Job.objects.get(pk=job_id)
    assert (job.status, job.output_video) == (Job.Status.CANCELLED, None)
    assert 0 < job.progress < 100
    assert Video.objects.filter(kind=Video.Kind.RESULT).count() == 0
    assert not (media_root / "modi").exists() or not any((media_root / "modi").iterdir())
    assert list(settings.SCRATCH_DIR.iterdir()) == []
