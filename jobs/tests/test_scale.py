"""Jobs on real Celery workers over Redis and PostgreSQL: waiting and not waiting, two
workers sharing one requester's jobs, progress, cancel, retry, and workers that die."""

import io
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.storage import default_storage
from django.core.management import call_command

from conftest import upload
from jobs.models import Job
from jobs.tests.integration import LONG_TARGET, ffmpeg_processes, kill, parent_of, wait_for
from jobs.transitions import UNFINISHED
from videos import storage
from videos.models import Video

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

JOB_DEADLINE = 180  # seconds a job may take here, even on a busy machine


def queue_encode(api, video_id: int, resolution: str, request_code: str = "user") -> int:
    response = api.post(
        "/video/process/encoding",
        {"request_code": request_code, "video_id": video_id, "resolution": resolution},
        format="json",
    )
    assert response.status_code == 200, response.content
    return response.json()["job_id"]


def execute(api, *, wait: bool, request_code: str = "user"):
    return api.post(
        "/video/process/execute", {"request_code": request_code, "wait": wait}, format="json"
    )


def job_state(api, job_id: int) -> dict:
    return api.get(f"/video/process/jobs/{job_id}").json()


def finished(api, job_id: int) -> dict:
    return wait_for(
        lambda: (state := job_state(api, job_id))["status"] not in UNFINISHED and state,
        timeout=JOB_DEADLINE,
        what=f"job {job_id} to finish",
        interval=0.2,
    )


def stored_results() -> list[str]:
    return sorted(path.name for path in (Path(settings.MEDIA_ROOT) / storage.MODI).glob("*"))


def job_scratch() -> list[Path]:
    return list(Path(settings.SCRATCH_DIR).glob("job*"))


def recover_jobs() -> str:
    output = io.StringIO()
    call_command("recover_jobs", stdout=output)
    return output.getvalue()


def running_ffmpeg(api, job_id: int) -> tuple[int, int]:
    """(FFmpeg's pid, its parent's: the pool process) once the job's encode is under way."""
    return wait_for(
        lambda: (
            job_state(api, job_id)["progress"] >= 5
            and next(iter(ffmpeg_processes(str(settings.MEDIA_ROOT)).items()), None)
        ),
        timeout=JOB_DEADLINE,
        what=f"job {job_id} to be encoding",
    )


def test_two_workers_drain_one_requesters_jobs_each_once(api, uploaded, start_worker):
    # given
    workers = [start_worker("a"), start_worker("b")]
    job_ids = [queue_encode(api, uploaded["id"], "640:480") for _ in range(6)]
    # when
    response = execute(api, wait=True)
    # then
    assert response.status_code == 200, response.content
    assert response.json() == {
        "message": "All pending jobs for request_code user executed successfully"
    }
    jobs = list(Job.objects.filter(pk__in=job_ids))
    assert {job.status for job in jobs} == {Job.Status.SUCCEEDED}
    assert [job.attempts for job in jobs] == [1] * 6
    assert len({job.output_video_id for job in jobs}) == 6
    assert Video.objects.filter(kind=Video.Kind.RESULT).count() == 6
    assert len(stored_results()) == 6
    done = wait_for(
        lambda: (counts := [w.jobs_done() for w in workers]) and sum(counts) == 6 and counts,
        timeout=10,
        what="the workers to log their tasks",
    )
    assert all(done), f"one worker did all the work: {done}"


def test_execute_without_waiting_answers_202_and_progress_climbs_to_100(
    api, long_video, start_worker
):
    # given
    start_worker("a")
    job_id = queue_encode(api, long_video["id"], LONG_TARGET)
    # when
    response = execute(api, wait=False)
    seen = []
    state = wait_for(
        lambda: (
            seen.append((state := job_state(api, job_id))["progress"])
            or (state["status"] not in UNFINISHED and state)
        ),
        timeout=JOB_DEADLINE,
        what="the encode to finish",
        interval=0.1,
    )
    # then
    assert response.status_code == 202, response.content
    assert response.json()["job_ids"] == [job_id]
    assert state["status"] == "succeeded" and state["progress"] == 100
    assert state["attempts"] == 1 and state["heartbeat_at"]
    assert seen == sorted(seen), "progress went backwards"
    assert seen[0] == 0 and [p for p in seen if 0 < p < 100], f"no progress in between: {seen}"


def test_failures_on_workers_are_named_and_a_retry_runs_the_job_again(
    api, uploaded, clip, start_worker
):
    # given
    start_worker("a")
    source = Video.objects.get(pk=uploaded["id"])
    other = upload(api, clip).json()[0]
    doomed = queue_encode(api, source.id, "640:480")
    fine = queue_encode(api, other["id"], "640:480")
    default_storage.delete(source.file.name)
    # when
    response = execute(api, wait=True)
    # then
    assert response.status_code == 500
    assert f"failed: job {doomed} (encode): " in response.json()["detail"]
    assert Job.objects.get(pk=fine).status == Job.Status.SUCCEEDED
    # given the file is back
    assert storage.store(clip, source.file.name) == source.file.name
    # when
    retried = api.post(f"/video/process/jobs/{doomed}/retry")
    response = execute(api, wait=True)
    # then
    assert retried.status_code == 200 and retried.json()["status"] == "pending"
    assert response.status_code == 200, response.content
    assert Job.objects.get(pk=doomed).status == Job.Status.SUCCEEDED


def test_cancel_stops_the_encode_on_its_worker_and_leaves_nothing(api, long_video, start_worker):
    # given
    start_worker("a")
    job_id = queue_encode(api, long_video["id"], LONG_TARGET)
    assert execute(api, wait=False).status_code == 202
    ffmpeg, _ = running_ffmpeg(api, job_id)
    # when
    response = api.post(f"/video/process/jobs/{job_id}/cancel")
    # then
    assert response.status_code == 200
    wait_for(lambda: parent_of(ffmpeg) is None, timeout=2.5, what="FFmpeg to be stopped")
    state = finished(api, job_id)
    assert state["status"] == "cancelled"
    assert stored_results() == [] and not Video.objects.filter(kind=Video.Kind.RESULT).exists()
    wait_for(lambda: job_scratch() == [], timeout=5, what="the scratch to be removed")


def test_a_dead_worker_s_job_is_recovered_and_finished_by_another(
    api, long_video, start_worker, settings
):
    # given
    settings.JOB_HEARTBEAT_TIMEOUT = 3
    workers = [start_worker(name, JOB_HEARTBEAT_INTERVAL="1") for name in ("a", "b")]
    job_id = queue_encode(api, long_video["id"], LONG_TARGET)
    assert execute(api, wait=False).status_code == 202
    ffmpeg, pool = running_ffmpeg(api, job_id)
    victim = next(w for w in workers if w.process.pid == parent_of(pool))
    survivor = next(w for w in workers if w is not victim)
    # when the machine running it dies: the worker, its pool and its FFmpeg
    victim.kill()
    wait_for(lambda: parent_of(ffmpeg) is None, timeout=5, what="FFmpeg to die with its worker")
    wait_for(
        lambda: f"job {job_id}: queued" in recover_jobs(),
        timeout=30,
        what="recover_jobs to hand the job out again",
        interval=0.5,
    )
    state = finished(api, job_id)
    # then
    assert state["status"] == "succeeded", state
    assert state["attempts"] == 2
    assert survivor.jobs_done() == 1
    assert Video.objects.filter(kind=Video.Kind.RESULT).count() == 1
    assert len(stored_results()) == 1
    assert job_scratch() == []  # the dead attempt's too


def test_a_lost_pool_process_s_job_is_taken_over_from_the_queue(api, long_video, start_worker):
    # given
    start_worker("a")
    start_worker("b")
    job_id = queue_encode(api, long_video["id"], LONG_TARGET)
    assert execute(api, wait=False).status_code == 202
    ffmpeg, pool = running_ffmpeg(api, job_id)
    # when the process running the task is killed; no recover_jobs
    kill(pool)
    # then its FFmpeg dies with it rather than encoding for no one
    wait_for(lambda: parent_of(ffmpeg) is None, timeout=5, what="FFmpeg to die with its worker")
    state = finished(api, job_id)
    # then Celery requeued the task and the same message took the job over
    assert state["status"] == "succeeded", state
    assert state["attempts"] == 2
    assert Video.objects.filter(kind=Video.Kind.RESULT).count() == 1
    assert len(stored_results()) == 1
    assert job_scratch() == []  # the dead attempt's too
