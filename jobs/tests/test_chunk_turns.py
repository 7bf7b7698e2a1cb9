"""Chunks share the workers fairly: a chunk message gives its worker to another
requester's queued job that holds no more workers, once, and a requester's chunks on
other workers count as its runs in the turns."""

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from jobs import chunks, services, turns
from jobs.models import Job, JobChunk

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(monkeypatch) -> list[dict]:
    """The chunk messages sent, instead of a broker."""
    messages: list[dict] = []
    monkeypatch.setattr(
        chunks.current_app,
        "send_task",
        lambda name, args, kwargs, queue: messages.append({"job_id": args[0], **kwargs}),
    )
    return messages


@pytest.fixture
def ran(monkeypatch) -> list[int]:
    """The chunks a worker started, instead of encoding them."""
    started: list[int] = []
    monkeypatch.setattr(chunks, "chunk_run", lambda *, chunk: started.append(chunk.index))
    return started


def chunked_job(code: str, chunk_count: int = 3) -> Job:
    job = Job.objects.create(
        request_code=code, kind="encode", params={}, status=Job.Status.RUNNING, worker="w0"
    )
    for index in range(chunk_count):
        JobChunk.objects.create(job=job, index=index, first_frame=index * 10, seek=index, work={})
    return job


def queued_job(code: str) -> Job:
    return Job.objects.create(request_code=code, kind="encode", params={}, status=Job.Status.QUEUED)


def test_a_chunk_message_yields_once_to_another_requester_s_waiting_job(sent, ran):
    # given user a's long encode, running, and user b's job waiting
    job = chunked_job("a")
    queued_job("b")
    # when a worker gets a chunk message
    services.chunk_run_dispatched(job_id=job.id, worker="w1")
    # then it takes no chunk and sends the message to the back of the queue, once
    assert ran == []
    assert sent == [{"job_id": job.id, "yielded": True}]
    # and the message, when it comes back, is run
    services.chunk_run_dispatched(job_id=job.id, worker="w1", yielded=True)
    assert ran == [0]


def test_a_chunk_message_runs_a_chunk_when_no_one_else_waits(sent, ran):
    job = chunked_job("a")
    queued_job("a")  # the same requester's own next job does not outrank its chunks
    services.chunk_run_dispatched(job_id=job.id, worker="w1")
    assert ran == [0] and sent == []
    assert JobChunk.objects.get(job=job, index=0).worker == "w1"


def test_chunks_on_other_workers_count_as_their_requester_s_runs():
    # given user a's encode with two chunks on helpers, one on its own worker
    job = chunked_job("a")
    JobChunk.objects.filter(job=job, index__in=[0, 1]).update(
        status=JobChunk.Status.RUNNING, worker="w1"
    )
    JobChunk.objects.filter(job=job, index=2).update(status=JobChunk.Status.RUNNING, worker="w0")
    # then a holds three runs: its job and two helpers
    assert turns.running_units()[("code", "a")] == 3


def test_cancel_between_attempts_removes_the_chunks_an_earlier_run_stored(api):
    # given a job given back after its run died, one chunk stored by that run
    job = chunked_job("a")
    Job.objects.filter(pk=job.pk).update(status=Job.Status.PENDING)
    name = default_storage.save("chunks/job1/0000.mp4", ContentFile(b"encoded"))
    JobChunk.objects.filter(job=job, index=0).update(status=JobChunk.Status.SUCCEEDED, output=name)
    # when
    response = api.post(f"/video/process/jobs/{job.id}/cancel")
    # then
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert not default_storage.exists(name)
    assert {c["status"] for c in response.json()["chunks"]} == {"succeeded", "cancelled"}
