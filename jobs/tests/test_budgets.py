"""Work budgets by real cost, and limits that hold under concurrency (issue 16): jobs are
refused at queue time when their predicted CPU-seconds or output pixel rate are over the
server's ceilings, or over what is left of their owner's day; the active-job cap holds
when many requests queue at once."""

import subprocess
import threading

import pytest
from django.db import connection

from conftest import make_media, upload
from jobs import kinds
from jobs.models import Job
from videos.models import Video

pytestmark = pytest.mark.django_db


def encode(client, video_id: int, resolution: str, frame_rate: float, code: str = "x"):
    body = {
        "request_code": code,
        "video_id": video_id,
        "resolution": resolution,
        "frame_rate": frame_rate,
    }
    return client.post("/video/process/encoding", body, format="json")


def test_a_short_clip_to_4k_at_240_fps_is_refused_for_its_pixel_rate(api, tmp_path):
    clip = upload(api, make_media(tmp_path / "four.mp4", duration=4)).json()[0]
    response = encode(api, clip["id"], "4096:2160", 240)
    assert response.status_code == 400
    assert "pixels a second" in response.json()["detail"]
    assert "MAX_PIXEL_RATE" in response.json()["detail"]
    assert not Job.objects.exists()


def test_a_tiny_file_spanning_ten_hours_is_refused_for_its_cpu_cost(api, tmp_path):
    # given a small Matroska file whose frames, one a minute, really span ten hours
    long = make_media(
        tmp_path / "ten-hours.mkv", size="64x64", rate="1/60", duration=36000, audio=None
    )
    assert long.stat().st_size < 1_000_000
    video = upload(api, long).json()[0]
    assert api.get(f"/video/view/info?video_id={video['id']}").json()["duration"] >= 35900
    # when an encode to 320x240 at 240 fps is asked for
    response = encode(api, video["id"], "320:240", 240)
    # then it is refused, the cost named
    assert response.status_code == 400, response.content
    detail = response.json()["detail"]
    assert "CPU-seconds" in detail and "JOB_MAX_CPU_SECONDS" in detail
    assert not Job.objects.exists()


def test_a_ten_minute_1080p_encode_is_accepted(api, tmp_path):
    # given ten minutes of 1080p at 30 fps (two seconds looped by copy, to make it fast)
    two = make_media(tmp_path / "two.mp4", size="1920x1080", rate="30", duration=2)
    ten_minutes = tmp_path / "ten-minutes.mp4"
    loop = ["-stream_loop", "299", "-i", str(two), "-c", "copy", str(ten_minutes)]
    subprocess.run(["ffmpeg", "-v", "error", *loop], check=True)
    video = upload(api, ten_minutes).json()[0]
    # when it is encoded to 720p and to 1080p at 30 fps
    for resolution in ("1280:720", "1920:1080"):
        response = encode(api, video["id"], resolution, 25)
        # then both are queued, at a cost under the ceiling
        assert response.status_code == 200, response.content
    costs = list(Job.objects.values_list("cost", flat=True))
    assert all(0 < cost < 4 * 3600 for cost in costs), costs


def test_a_user_s_day_is_budgeted_and_a_cancel_before_it_runs_gives_it_back(
    alice, bob, tmp_path, settings
):
    # given a day's budget that holds two 720p encodes of a 2 s clip, not three
    clip = upload(alice, make_media(tmp_path / "a.mp4")).json()[0]
    first = encode(alice, clip["id"], "1280:720", 30)
    assert first.status_code == 200
    cost = Job.objects.get().cost
    settings.USER_DAILY_CPU_SECONDS = cost * 2.5
    assert encode(alice, clip["id"], "1280:720", 30).status_code == 200
    # when a third is asked for
    refused = encode(alice, clip["id"], "1280:720", 30)
    # then it is refused, naming the budget; another user is not charged for it
    assert refused.status_code == 400
    assert "USER_DAILY_CPU_SECONDS" in refused.json()["detail"]
    other = upload(bob, make_media(tmp_path / "b.mp4")).json()[0]
    assert encode(bob, other["id"], "1280:720", 30).status_code == 200
    # and cancelling a job that has not run gives its share back
    alice.post(f"/video/process/jobs/{first.json()['job_id']}/cancel")
    assert encode(alice, clip["id"], "1280:720", 30).status_code == 200


def queue_at_once(client, video_id: int, count: int) -> list[int]:
    """`count` trims asked for by as many threads at once: their status codes."""
    codes, start = [], threading.Barrier(count)

    def ask(index: int):
        start.wait()
        body = {"request_code": "x", "video_id": video_id, "trim_start": index, "trim_end": "1s"}
        codes.append(client.post("/video/process/trim", body, format="json").status_code)
        connection.close()

    threads = [threading.Thread(target=ask, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return codes


def parallel_queues_hold_the_cap(alice, settings) -> None:
    settings.USER_MAX_ACTIVE_JOBS = 5
    video = alice.get("/video/view/all").json()[0]
    codes = queue_at_once(alice, video["id"], 20)
    assert sorted(codes) == [200] * 5 + [429] * 15, codes
    assert Job.objects.count() == 5


@pytest.mark.django_db(transaction=True)
def test_twenty_parallel_queues_take_at_most_the_active_job_cap(alice, clip, settings):
    upload(alice, clip)
    parallel_queues_hold_the_cap(alice, settings)


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_twenty_parallel_queues_take_at_most_the_active_job_cap_on_postgresql(
    alice, clip, settings, services_up
):
    assert connection.vendor == "postgresql"
    upload(alice, clip)
    parallel_queues_hold_the_cap(alice, settings)


def test_a_video_deleted_while_its_job_is_being_queued_is_a_404_not_a_500(
    api, uploaded, monkeypatch
):
    # given a delete that lands after the trim's checks, before its job is stored
    trim = kinds.KINDS["trim"]
    checked_cost = trim.cost

    def cost_then_deleted(params, inputs, plan):
        Video.objects.filter(pk=uploaded["id"]).delete()
        return checked_cost(params, inputs, plan)

    monkeypatch.setattr(trim, "cost", cost_then_deleted)
    # when
    body = {"request_code": "x", "video_id": uploaded["id"], "trim_start": "0", "trim_end": "1s"}
    response = api.post("/video/process/trim", body, format="json")
    # then
    assert response.status_code == 404
    assert response.json() == {"detail": f"No video with id {uploaded['id']}"}
    assert not Job.objects.exists()
