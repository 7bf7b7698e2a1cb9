"""The work budget (uploads 415, encode targets 400), the cap on FFmpeg runs at once per
machine, and each FFmpeg's memory limit."""

import subprocess
import sys
import textwrap
import threading
import time

import pytest

from conftest import ffprobe, make_media, upload
from jobs.models import Job
from jobs.slots import FFmpegBusy, ffmpeg_slot
from videos.engine.tests.lying import make_png_bomb
from videos.models import Video

pytestmark = pytest.mark.django_db


def queue_encode(api, video_id: int, code: str = "x", **body):
    return api.post(
        "/video/process/encoding",
        {
            "request_code": code,
            "video_id": video_id,
            "video_codec": "libx264",
            "audio_codec": "aac",
            **body,
        },
        format="json",
    )


def execute(api, code: str = "x"):
    return api.post("/video/process/execute", {"request_code": code}, format="json")


def test_an_upload_of_8192x8192_frames_is_refused_before_anything_is_stored(api, tmp_path):
    # given a small file (one frame) whose frames are 8192x8192
    big = make_media(
        tmp_path / "big.mp4",
        size="8192x8192",
        rate="1",
        duration=1,
        audio=None,
        extra=["-preset", "ultrafast"],
    )
    # when it is uploaded
    response = upload(api, big)
    # then it is refused with the reason, and nothing is stored
    assert response.status_code == 415
    detail = response.json()["detail"]
    assert "8192x8192" in detail and "MAX_FRAME_PIXELS" in detail
    assert str(tmp_path) not in detail
    assert not Video.objects.exists()


def test_an_upload_declaring_huge_pictures_is_refused_without_decoding_them(api, tmp_path):
    # given 1 KB of Matroska whose PNG pictures declare 16000x16000: probing used to
    # decode them, 1 GB each, before refusing the size
    bomb = make_png_bomb(tmp_path / "bomb.mkv", 16000, 16000)
    assert bomb.stat().st_size < 4096
    # when it is uploaded
    response = upload(api, bomb)
    # then it is refused because the decoder would not allocate such a picture
    assert response.status_code == 415
    assert "larger than 8192x8192" in response.json()["detail"]
    assert not Video.objects.exists()


def test_an_upload_beyond_the_work_budget_is_refused(api, clip, settings):
    # given a budget smaller than the clip's 320x240 x 25 fps x 2 s = 3.84 M pixels
    settings.MAX_WORK_PIXELS = 3_000_000
    response = upload(api, clip)
    assert response.status_code == 415
    assert "MAX_WORK_PIXELS" in response.json()["detail"]
    # and a budget that holds it lets it in
    settings.MAX_WORK_PIXELS = 4_000_000
    assert upload(api, clip).status_code == 200


def test_an_encode_target_beyond_the_frame_budget_is_refused_at_once(api, uploaded, settings):
    # given the default budget (DCI 4K frames)
    # when an 8K encode is asked for
    started = time.monotonic()
    response = queue_encode(api, uploaded["id"], resolution="7680:4320", frame_rate=23)
    # then it is a 400 with the reason, before any trial encode
    assert response.status_code == 400
    assert "MAX_FRAME_PIXELS" in response.json()["detail"]
    assert time.monotonic() - started < 1
    assert not Job.objects.exists()


def test_an_encode_target_beyond_the_work_budget_is_refused(api, uploaded, settings):
    # given a budget that holds the 2 s clip at 1280x720 x 30 fps, not at 60 fps
    settings.MAX_WORK_PIXELS = 1280 * 720 * 30 * 2 + 1
    response = queue_encode(api, uploaded["id"], resolution="1280:720", frame_rate=60)
    assert response.status_code == 400
    assert "MAX_WORK_PIXELS" in response.json()["detail"]
    within = queue_encode(api, uploaded["id"], resolution="1280:720", frame_rate=30)
    assert within.status_code == 200


HOLD_SLOTS = textwrap.dedent("""
    import fcntl, sys, time
    from pathlib import Path
    folder, count = Path(sys.argv[1]), int(sys.argv[2])
    folder.mkdir(parents=True, exist_ok=True)
    handles = [open(folder / f"slot{i}", "a") for i in range(count)]
    for handle in handles:
        fcntl.flock(handle, fcntl.LOCK_EX)
    print("held", flush=True)
    sys.stdin.read()  # until the test closes our stdin
""")


@pytest.fixture
def slots_held_elsewhere(settings):
    """Another process on this machine holding every FFmpeg slot, until released."""
    settings.FFMPEG_MAX_RUNS = 2
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_SLOTS, str(settings.FFMPEG_SLOTS_DIR), "2"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    yield holder
    holder.stdin.close()
    holder.wait(timeout=10)


def test_an_execute_finding_every_ffmpeg_slot_busy_and_the_line_full_answers_503(
    api, uploaded, slots_held_elsewhere, settings
):
    # given a pending trim, another process running as many FFmpeg as allowed, and no
    # room for an execute to wait in line
    settings.EXECUTE_LINE_LIMIT = 0
    trim = {"request_code": "x", "video_id": uploaded["id"], "trim_start": "0", "trim_end": "1s"}
    assert api.post("/video/process/trim", trim, format="json").status_code == 200
    # when the requester executes
    response = execute(api)
    # then it is told to come back, and its job is still pending
    assert response.status_code == 503
    assert int(response["Retry-After"]) > 0
    assert "pending" in response.json()["detail"]
    assert Job.objects.get().status == Job.Status.PENDING
    # and once a slot is free, the same execute runs it
    slots_held_elsewhere.stdin.close()
    slots_held_elsewhere.wait(timeout=10)
    assert execute(api).status_code == 200
    assert Job.objects.get().status == Job.Status.SUCCEEDED


def test_a_waiting_run_starts_when_a_slot_frees(settings, slots_held_elsewhere):
    # given every slot held by another process
    with pytest.raises(FFmpegBusy):
        with ffmpeg_slot(wait=False):
            pass
    # when a worker waits for one
    got_one = threading.Event()

    def worker():
        with ffmpeg_slot(wait=True):
            got_one.set()

    waiting = threading.Thread(target=worker)
    waiting.start()
    time.sleep(1)
    assert not got_one.is_set()
    # then it runs as soon as the other process lets go
    slots_held_elsewhere.stdin.close()
    waiting.join(timeout=10)
    assert got_one.is_set()


def test_slots_are_shared_by_threads_of_one_process(settings):
    settings.FFMPEG_MAX_RUNS = 1
    with ffmpeg_slot(wait=False):
        with pytest.raises(FFmpegBusy):
            with ffmpeg_slot(wait=False):
                pass
    with ffmpeg_slot(wait=False):  # released on leaving
        pass


@pytest.mark.django_db(transaction=True)
def test_an_ffmpeg_outgrowing_its_memory_fails_its_job_with_a_clear_error(
    api, uploaded, settings, media_root
):
    # given a memory limit that a 320x240 encode fits in and a 4K one does not
    settings.FFMPEG_MEMORY_LIMIT_MB = 1000
    big = queue_encode(api, uploaded["id"], resolution="3840:2160", frame_rate=25).json()["job_id"]
    small = queue_encode(api, uploaded["id"], resolution="320:240", frame_rate=10).json()["job_id"]
    # when both run
    response = execute(api)
    # then the big one failed, saying why, and the small one still ran
    assert response.status_code == 500
    failed = Job.objects.get(pk=big)
    assert failed.status == Job.Status.FAILED
    assert "ran out of memory" in failed.error and "FFMPEG_MEMORY_LIMIT_MB" in failed.error
    done = Job.objects.get(pk=small)
    assert done.status == Job.Status.SUCCEEDED
    stream = ffprobe(media_root / done.output_video.file.name)["streams"][0]
    assert (stream["width"], stream["height"]) == (320, 240)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_default_memory_limit_fits_a_4k_encode_at_60_fps(api, tmp_path, settings, media_root):
    # given the default limit, which grows with the cores FFmpeg's threads follow (4096 MB
    # on up to 6 cores; a 4K encode at 60 fps measured 2.2 GB of address space on 2)
    assert settings.FFMPEG_MEMORY_LIMIT_MB >= 4096
    # when the largest picture the budget allows is encoded at 60 fps, for a second: 60
    # frames, more than x264 holds in its lookahead, so memory is at its peak
    [video] = upload(api, make_media(tmp_path / "second.mp4", duration=1)).json()
    job = queue_encode(api, video["id"], resolution="4096:2160", frame_rate=60).json()
    assert execute(api).status_code == 200
    # then it fits
    done = Job.objects.get(pk=job["job_id"])
    assert done.status == Job.Status.SUCCEEDED, done.error
    stream = ffprobe(media_root / done.output_video.file.name)["streams"][0]
    assert (stream["width"], stream["height"], stream["r_frame_rate"]) == (4096, 2160, "60/1")
