"""Chained jobs: {"job_id": N} in place of a video id, run in dependency order in one
execute, failures passed on with their reason, refusals at queue time."""

import pytest
from celery import current_app

from conftest import make_media, upload
from jobs import services
from jobs.models import Job
from jobs.tests.test_execute import decoded_frame_hashes, execute, frame_count, output_path
from videos.models import Video

pytestmark = pytest.mark.django_db(transaction=True)


def post(api, path, code="x", **body):
    return api.post(f"/video/process/{path}", {"request_code": code, **body}, format="json")


def queue(api, path, code="x", **body) -> int:
    response = post(api, path, code, **body)
    assert response.status_code == 200, response.json()
    return response.json()["job_id"]


def refused(api, path, code="x", **body) -> str:
    jobs_before = Job.objects.count()
    response = post(api, path, code, **body)
    assert response.status_code == 400, response.json()
    assert Job.objects.count() == jobs_before
    return response.json()["detail"]


@pytest.fixture
def sources(api, tmp_path) -> tuple[dict, dict]:
    """A 2 s 320x240 clip, and a 1 s 160x120 one shaped like an encode's output of it."""
    big = make_media(tmp_path / "big.mp4")
    small = make_media(tmp_path / "small.mp4", size="160x120", duration=1)
    return tuple(upload(api, big, small).json())


def test_a_chain_queued_at_once_runs_in_one_execute(api, sources, media_root):
    # given trim -> encode -> concat, each naming the job before it
    big, small = sources
    trim = queue(api, "trim", video_id=big["id"], trim_start="400", trim_end="1400")
    encode = queue(api, "encoding", video_id={"job_id": trim}, resolution="160:120", frame_rate=25)
    concat = queue(api, "concat", video_ids=[{"job_id": encode}, small["id"]])

    # when
    response = execute(api)

    # then all ran, in dependency order, each on the output of the one before
    assert response.status_code == 200, response.json()
    jobs = {job.id: job for job in Job.objects.select_related("output_video")}
    assert {job.status for job in jobs.values()} == {"succeeded"}
    assert jobs[trim].finished_at < jobs[encode].finished_at < jobs[concat].finished_at
    assert jobs[encode].output_video.encode_info["video_id"] == jobs[trim].output_video_id
    assert jobs[concat].output_video.concat_info == {
        "video_ids": [jobs[encode].output_video_id, small["id"]]
    }
    # the params keep the references, the job rows the dependencies
    assert jobs[concat].params["video_ids"] == [{"job_id": encode}, small["id"]]
    assert list(jobs[concat].depends_on.values_list("id", flat=True)) == [encode]
    # 25 frames of the trim, encoded, then the 25 of the small clip, copied
    joined = output_path(concat, media_root)
    assert frame_count(joined) == 50
    small_path = media_root / small["original_file_path"][len("./storage/") :]
    assert decoded_frame_hashes(joined)[25:] == decoded_frame_hashes(small_path)


def test_a_failed_link_fails_its_dependants_with_the_reason(api, sources, media_root):
    # given a chain whose first job will fail on a corrupt source, and an unrelated job
    big, small = sources
    trim = queue(api, "trim", video_id=big["id"], trim_start="0", trim_end="1000")
    encode = queue(api, "encoding", video_id={"job_id": trim}, resolution="160:120", frame_rate=25)
    concat = queue(api, "concat", video_ids=[{"job_id": encode}, small["id"]])
    other = queue(api, "trim", video_id=small["id"], trim_start="0", trim_end="500")
    stored = media_root / big["original_file_path"][len("./storage/") :]
    stored.write_bytes(stored.read_bytes()[:2000])

    # when
    response = execute(api)

    # then the whole chain failed, each saying which input failed and why
    assert response.status_code == 500
    for job_id in (trim, encode, concat):
        assert f"job {job_id}" in response.json()["detail"]
    jobs = {job.id: job for job in Job.objects.all()}
    assert [jobs[i].status for i in (trim, encode, concat, other)] == [
        "failed",
        "failed",
        "failed",
        "succeeded",
    ]
    assert jobs[encode].error.startswith(f"input job {trim} failed: ")
    assert jobs[concat].error.startswith(f"input job {encode} failed: input job {trim} failed")
    assert Video.objects.filter(kind=Video.Kind.RESULT).count() == 1


def test_a_cancelled_link_fails_its_dependants(api, sources):
    big, _ = sources
    trim = queue(api, "trim", video_id=big["id"], trim_start="0", trim_end="1000")
    encode = queue(api, "encoding", video_id={"job_id": trim}, resolution="160:120")
    assert api.post(f"/video/process/jobs/{trim}/cancel").status_code == 200

    assert execute(api).status_code == 500

    job = Job.objects.get(pk=encode)
    assert job.status == "failed"
    assert job.error == f"input job {trim} cancelled: cancelled before it ran"


def test_refusals_name_the_job_and_store_nothing(api, sources):
    big, small = sources
    trim = queue(api, "trim", video_id=big["id"], trim_start="0", trim_end="1000")
    encode = queue(api, "encoding", video_id={"job_id": trim}, resolution="640:480")
    theirs = queue(api, "trim", code="y", video_id=big["id"], trim_start="0", trim_end="500")

    # unknown jobs, other requesters' jobs, malformed references
    assert refused(api, "trim", video_id={"job_id": 999}, trim_start="0", trim_end="1") == (
        "Job 999 is not a job of the request code 'x': only the output of your own pending "
        "jobs can be named by a job id."
    )
    assert f"Job {theirs} is not a job" in refused(
        api, "concat", video_ids=[big["id"], {"job_id": theirs}]
    )
    assert "job_id" in refused(api, "trim", video_id={"job": trim}, trim_start="0", trim_end="1")
    # times past the planned output's end (the trim gives 1000 ms)
    assert f"past the end of the output of job {trim}, which lasts 00:00:01.000" in refused(
        api, "trim", video_id={"job_id": trim}, trim_start="1000", trim_end="2000"
    )
    # a concat whose pending input will differ
    detail = refused(api, "concat", video_ids=[{"job_id": encode}, small["id"]])
    assert detail.startswith(
        f"These videos cannot be concatenated as they are: video {small['id']} differs from the "
        "output "
        f"of job {encode} in resolution: 160:120 vs 640:480"
    )
    # an encode that would not change the planned output
    assert f"The output of job {trim} is already h264" in refused(
        api, "encoding", video_id={"job_id": trim}, resolution="320:240", frame_rate=25
    )


def test_only_pending_jobs_can_be_named(api, sources):
    big, _ = sources
    trim = queue(api, "trim", video_id=big["id"], trim_start="0", trim_end="1000")
    assert execute(api).status_code == 200
    output = Job.objects.get(pk=trim).output_video_id

    detail = refused(api, "encoding", video_id={"job_id": trim}, resolution="160:120")

    assert detail == (
        f"Job {trim} has succeeded: only a pending job's output can be named by its job id; "
        f"use its output, video {output}, instead."
    )


def test_workers_get_a_dependant_only_once_its_inputs_finished(api, sources, monkeypatch, settings):
    # given a broker that records what is sent, and a chain
    settings.CELERY_BROKER_URL = "redis://broker.invalid:6379/0"
    sent = []
    monkeypatch.setattr(current_app, "send_task", lambda name, args, queue: sent.append(args))
    big, small = sources
    trim = queue(api, "trim", video_id=big["id"], trim_start="0", trim_end="1000")
    encode = queue(api, "encoding", video_id={"job_id": trim}, resolution="160:120", frame_rate=25)
    concat = queue(api, "concat", video_ids=[{"job_id": encode}, small["id"]])

    # when execute hands them out, only the trim is sent
    services.jobs_execute(request_code="x", wait=False)
    assert [job_id for job_id, _ in sent] == [trim]
    # and each finishing job sends the one waiting for it
    services.job_run_dispatched(job_id=trim, dispatch_token=sent[-1][1], worker="w")
    assert [job_id for job_id, _ in sent] == [trim, encode]
    services.job_run_dispatched(job_id=encode, dispatch_token=sent[-1][1], worker="w")
    assert [job_id for job_id, _ in sent] == [trim, encode, concat]
    services.job_run_dispatched(job_id=concat, dispatch_token=sent[-1][1], worker="w")
    assert set(Job.objects.values_list("status", flat=True)) == {"succeeded"}


@pytest.mark.integration
def test_celery_workers_run_a_chain_in_dependency_order(api, sources, start_worker):
    # given two workers, and a chain queued at once (the concat waits for the encode,
    # which waits for the trim) beside a job that waits for nothing
    big, small = sources
    start_worker("a")
    start_worker("b")
    trim = queue(api, "trim", video_id=big["id"], trim_start="0", trim_end="1000")
    encode = queue(api, "encoding", video_id={"job_id": trim}, resolution="160:120", frame_rate=25)
    concat = queue(api, "concat", video_ids=[{"job_id": encode}, small["id"]])
    alone = queue(api, "trim", video_id=small["id"], trim_start="0", trim_end="500")

    # when they are executed on the workers
    response = api.post(
        "/video/process/execute", {"request_code": "x", "wait": True}, format="json"
    )

    # then all succeeded, each link started only after the one before it had finished
    assert response.status_code == 200, response.json()
    jobs = {job.id: job for job in Job.objects.all()}
    assert {job.status for job in jobs.values()} == {"succeeded"}
    assert jobs[trim].finished_at <= jobs[encode].started_at
    assert jobs[encode].finished_at <= jobs[concat].started_at
    assert jobs[alone].attempts == 1 and jobs[concat].attempts == 1


def test_a_chain_may_grow_on_a_job_whose_input_has_run(api, sources):
    # given trim -> encode, and only the trim run since (the admin's execute of one job)
    big, _ = sources
    trim = queue(api, "trim", video_id=big["id"], trim_start="0", trim_end="1000")
    encode = queue(api, "encoding", video_id={"job_id": trim}, resolution="160:120", frame_rate=25)
    services.jobs_execute_selected(job_ids=[trim])

    # when a trim of the encode's output is queued, it is checked against the real input
    assert "past the end of the output of job" in refused(
        api, "trim", video_id={"job_id": encode}, trim_start="1000", trim_end="2000"
    )
    queue(api, "trim", video_id={"job_id": encode}, trim_start="500", trim_end="900")

    # then the rest of the chain runs
    assert execute(api).status_code == 200
