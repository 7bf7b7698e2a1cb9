"""True states and fair turns (issue 16): a job is running only while its work runs,
waiting jobs read queued with their place in line, an execute of long jobs is never
recovered under itself, and requesters take turns, on real gunicorn and Celery."""

import threading
import time

import pytest

from conftest import make_media, upload
from jobs import turns
from jobs.models import Job
from jobs.tests.integration import wait_for
from jobs.tests.test_scale import JOB_DEADLINE, queue_encode

# Heartbeats of a second: a job waiting unbeaten for 2 s would be recovered.
HEARTBEAT = {"JOB_HEARTBEAT_INTERVAL": "0.5", "JOB_HEARTBEAT_TIMEOUT": "2"}


def job(status: str, code: str, **fields) -> Job:
    return Job.objects.create(request_code=code, kind="encode", params={}, status=status, **fields)


@pytest.mark.django_db
def test_waiting_jobs_take_turns_across_requesters():
    # given bob's three queued jobs, then alice's two, and one of bob's running
    job(Job.Status.RUNNING, "bob")
    bobs = [job(Job.Status.QUEUED, "bob") for _ in range(3)]
    alices = [job(Job.Status.QUEUED, "alice") for _ in range(2)]
    # when they are put in line
    line = turns.ranked(Job.objects.filter(status=Job.Status.QUEUED))
    # then alice goes first (bob has one running), then they alternate
    assert [j.id for j in line] == [alices[0].id, bobs[0].id, alices[1].id, bobs[1].id, bobs[2].id]
    assert turns.places()[bobs[2].id] == 5


@pytest.mark.django_db
def test_a_job_waits_for_an_input_still_being_made_not_for_one_nobody_runs():
    made = job(Job.Status.RUNNING, "bob")
    dependant = job(Job.Status.QUEUED, "bob")
    dependant.depends_on.set([made])
    orphan = job(Job.Status.QUEUED, "bob")
    orphan.depends_on.set([job(Job.Status.PENDING, "bob")])  # it fails at once, with why
    assert turns.ranked(Job.objects.filter(status=Job.Status.QUEUED)) == [orphan]


def http_execute(web, code: str, answers: dict) -> threading.Thread:
    def run():
        answers[code] = web.request(
            "POST", "/video/process/execute", {"request_code": code}, timeout=JOB_DEADLINE * 4
        )

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.fixture
def six_seconds(api, tmp_path) -> dict:
    """A 6 s 640x360 clip, uploaded: its encode to 720p takes seconds here."""
    return upload(api, make_media(tmp_path / "six.mp4", size="640x360", duration=6)).json()[0]


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_an_embedded_execute_of_long_jobs_is_never_recovered_under_itself(
    api, six_seconds, start_web
):
    # given six encodes that take together over four heartbeat timeouts, on gunicorn
    # with one FFmpeg at a time and recovery looking every half second
    web = start_web(CELERY_BROKER_URL="", FFMPEG_MAX_RUNS="1", **HEARTBEAT)
    ids = [queue_encode(api, six_seconds["id"], "1280:720") for _ in range(6)]
    # when they are executed, and watched
    answers, seen = {}, []
    started = time.monotonic()
    request = http_execute(web, "user", answers)
    while request.is_alive():
        seen.append(dict(Job.objects.filter(pk__in=ids).values_list("id", "status")))
        time.sleep(0.2)
    elapsed = time.monotonic() - started
    # then the execute answers 200, each job ran once, and none was given back
    assert elapsed >= 4 * 2, "the jobs were too quick to test this on this machine"
    assert answers["user"][0] == 200, answers
    jobs = Job.objects.filter(pk__in=ids).order_by("id")
    assert [(j.status, j.attempts, j.error) for j in jobs] == [("succeeded", 1, None)] * 6
    # and while one ran, the others read queued (or finished): never running unstarted
    taken = [statuses for statuses in seen if set(statuses.values()) != {"pending"}]
    for statuses in taken:
        assert list(statuses.values()).count("running") <= 1, statuses
        assert set(statuses.values()) <= {"queued", "running", "succeeded"}, statuses
    assert any(list(s.values()).count("queued") >= 4 for s in taken)
    # and each started when its work began: one after another's end
    for earlier, later in zip(jobs, jobs[1:], strict=False):
        assert later.started_at >= earlier.finished_at


def assert_alice_served_in_turn(bobs: list[int], alices: int) -> None:
    finished = dict(Job.objects.values_list("id", "finished_at"))
    assert all(finished[job_id] for job_id in [*bobs, alices]), finished
    assert finished[alices] < finished[bobs[-2]]
    assert Job.objects.get(pk=alices).started_at < Job.objects.get(pk=bobs[2]).started_at


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("mode", ["embedded", "celery"])
def test_a_requester_with_one_job_is_not_stuck_behind_another_s_ten(
    api, uploaded, start_web, start_worker, mode
):
    # given bob's ten encodes and alice's one, one FFmpeg at a time
    bobs = [queue_encode(api, uploaded["id"], "640:480", "bob") for _ in range(10)]
    alices = queue_encode(api, uploaded["id"], "640:480", "alice")
    answers = {}
    if mode == "embedded":
        web = start_web(CELERY_BROKER_URL="", FFMPEG_MAX_RUNS="1")
        # when bob executes, and alice too once bob's first job runs
        bob = http_execute(web, "bob", answers)
        wait_for(
            lambda: Job.objects.filter(pk=bobs[0], status="running").exists(),
            timeout=JOB_DEADLINE,
            what="bob's first job to run",
        )
        alice = http_execute(web, "alice", answers)
        alice.join(JOB_DEADLINE)
        bob.join(JOB_DEADLINE * 4)
        assert (answers["alice"][0], answers["bob"][0]) == (200, 200), answers
    else:
        start_worker("only")
        for code in ("bob", "alice"):
            response = api.post(
                "/video/process/execute", {"request_code": code, "wait": False}, format="json"
            )
            assert response.status_code == 202, response.content
        wait_for(
            lambda: not Job.objects.filter(status__in=["queued", "running"]).exists(),
            timeout=JOB_DEADLINE * 4,
            what="every job to finish",
        )
    # then alice was served in turn, not after all of bob's
    assert_alice_served_in_turn(bobs, alices)
