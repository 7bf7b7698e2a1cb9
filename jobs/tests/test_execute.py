"""Execute: real FFmpeg runs, outputs probed by content, failures isolated and clean."""

import subprocess
import threading
from itertools import pairwise
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from conftest import ffprobe, make_media, upload
from jobs import services
from jobs.models import Job
from videos.models import Video

pytestmark = pytest.mark.django_db(transaction=True)


def queue(api, path, code="x", **body):
    response = api.post(f"/video/process/{path}", {"request_code": code, **body}, format="json")
    assert response.status_code == 200, response.json()
    return response.json()["job_id"]


def execute(api, code="x"):
    return api.post("/video/process/execute", {"request_code": code}, format="json")


def output_path(job_id: int, media_root: Path) -> Path:
    return media_root / Job.objects.get(pk=job_id).output_video.file.name


def gray_frame(path: Path, index: int) -> bytes:
    """Frame `index` of a video, decoded to a tiny grayscale picture."""
    return subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-i",
            str(path),
            "-vf",
            f"select=eq(n\\,{index}),scale=64:48,format=gray",
            "-frames:v",
            "1",
            "-f",
            "rawvideo",
            "-",
        ],
        capture_output=True,
        check=True,
    ).stdout


def difference(a: bytes, b: bytes) -> float:
    return sum(abs(x - y) for x, y in zip(a, b, strict=True)) / len(a)


def frame_count(path: Path) -> int:
    stream = ffprobe(path, "-count_frames", "-select_streams", "v:0")["streams"][0]
    return int(stream["nb_read_frames"])


def decoded_frame_hashes(path: Path) -> list[str]:
    listing = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:v:0", "-f", "framemd5", "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [line.rsplit(",", 1)[1].strip() for line in listing.splitlines() if line[:1] != "#"]


def test_trim_is_frame_accurate(api, tmp_path, media_root):
    # given 4 s at 25 fps with keyframes only every 2 s, so the cut is mid-GOP
    source = make_media(tmp_path / "gop.mp4", duration=4, extra=["-g", "50", "-keyint_min", "50"])
    video = upload(api, source).json()[0]

    # when 1230 ms .. 2500 ms is trimmed
    job_id = queue(api, "trim", video_id=video["id"], trim_start="1230", trim_end="2.5s")
    assert execute(api).status_code == 200

    # then the first frame is the source's frame at or after 1.23 s (frame 31 at 1.24 s)
    # and the last is the one before 2.5 s (frame 62): 32 frames
    trimmed = output_path(job_id, media_root)
    assert frame_count(trimmed) == 32
    first = gray_frame(trimmed, 0)
    assert difference(first, gray_frame(source, 31)) < 3
    assert difference(first, gray_frame(source, 30)) > difference(first, gray_frame(source, 31))
    assert difference(first, gray_frame(source, 32)) > difference(first, gray_frame(source, 31))
    # and it keeps the source's kind, so trims of it concatenate
    probed = ffprobe(trimmed)
    video_stream = probed["streams"][0]
    assert (video_stream["codec_name"], video_stream["pix_fmt"]) == ("h264", "yuv420p")
    assert (video_stream["width"], video_stream["height"], video_stream["r_frame_rate"]) == (
        320,
        240,
        "25/1",
    )
    # (one keyframe inside the range leaves no whole GOP to copy: a smart cut re-encodes)
    assert Video.objects.get(pk=Job.objects.get(pk=job_id).output_video_id).trim_info == {
        "trim_start": 1230,
        "trim_end": 2500,
        "video_id": video["id"],
        "trim_method": "reencode",
        "fallback_reason": "The range holds too few keyframes to copy any of it unchanged, "
        "so the whole range was re-encoded.",
    }


# Containers whose timelines differ: streams that start late (AAC priming in Matroska,
# ASF preroll, FLV), MPEG streams that start at 1.4 s and seek by guessing.
@pytest.mark.parametrize(
    "name,codecs",
    [
        ("clip.mkv", ["-c:v", "libx264", "-c:a", "aac"]),
        ("clip.webm", ["-c:v", "libvpx-vp9", "-c:a", "libopus"]),
        ("clip.avi", ["-c:v", "mpeg4", "-c:a", "libmp3lame"]),
        ("clip.wmv", ["-c:v", "wmv2", "-c:a", "wmav2"]),
        ("clip.flv", ["-c:v", "flv", "-c:a", "libmp3lame"]),
        ("program.mpeg", ["-c:v", "mpeg2video", "-c:a", "mp2"]),
        ("transport.mpeg", ["-c:v", "mpeg2video", "-c:a", "mp2", "-f", "mpegts"]),
    ],
)
def test_trim_cuts_on_the_sources_own_timeline(api, tmp_path, media_root, name, codecs):
    # given a clip whose frames' times are as its container tells them
    source = make_media(tmp_path / name, duration=4, extra=["-g", "50", *codecs])
    start_of_file = float(ffprobe(source)["format"]["start_time"])
    times = [t - start_of_file for t in frame_times(source)]
    video = upload(api, source).json()[0]

    # when 1230 ms .. 2500 ms is trimmed
    job_id = queue(api, "trim", video_id=video["id"], trim_start="1230", trim_end="2500")
    assert execute(api).status_code == 200

    # then it holds exactly the frames shown from 1.23 s to before 2.5 s
    kept = [index for index, t in enumerate(times) if 1.23 <= t < 2.5]
    trimmed = output_path(job_id, media_root)
    assert frame_count(trimmed) == len(kept)
    first = gray_frame(trimmed, 0)
    closest = min(
        range(kept[0] - 2, kept[0] + 3),
        key=lambda index: difference(first, gray_frame(source, index)),
    )
    assert closest == kept[0]


@pytest.mark.parametrize("profile", ["baseline", "main"])
def test_trim_keeps_the_h264_profile_so_it_joins_its_source(api, tmp_path, profile):
    source = make_media(tmp_path / "camera.mp4", extra=["-profile:v", profile])
    video = upload(api, source).json()[0]
    trim_id = queue(api, "trim", video_id=video["id"], trim_start="0", trim_end="1000")
    assert execute(api).status_code == 200
    trimmed = Job.objects.get(pk=trim_id).output_video
    assert trimmed.video_profile == Video.objects.get(pk=video["id"]).video_profile
    assert queue(api, "concat", video_ids=[video["id"], trimmed.id])
    assert execute(api).status_code == 200


def test_trim_end_past_the_video_is_clamped(api, uploaded, media_root):
    job_id = queue(api, "trim", video_id=uploaded["id"], trim_start="1500", trim_end="00:09")
    assert execute(api).status_code == 200
    assert frame_count(output_path(job_id, media_root)) == 12  # frames 38..49 of 50 at 25 fps


def test_concat_copies_streams_without_reencoding(api, clip, tmp_path, media_root):
    # given two compatible videos
    second = make_media(tmp_path / "second.mp4", duration=1)
    first_id, second_id = (v["id"] for v in upload(api, clip, second).json())

    # when they are concatenated
    job_id = queue(api, "concat", video_ids=[first_id, second_id])
    assert execute(api).status_code == 200

    # then the result is both, decoding to the very same pictures (a re-encode could not)
    joined = output_path(job_id, media_root)
    assert decoded_frame_hashes(joined) == decoded_frame_hashes(clip) + decoded_frame_hashes(second)
    assert float(ffprobe(joined)["format"]["duration"]) == pytest.approx(3.0, abs=0.1)
    assert frame_count(joined) == 75
    assert Job.objects.get(pk=job_id).output_video.concat_info == {
        "video_ids": [first_id, second_id]
    }


def test_concat_of_videos_counted_in_other_ticks_keeps_every_frames_time(
    api, clip, tmp_path, media_root
):
    # given two compatible mp4s whose pictures count other ticks a second (a phone's
    # 600 and FFmpeg's 12800)
    second = make_media(tmp_path / "phone.mp4", duration=1, extra=["-video_track_timescale", "600"])
    assert ffprobe(second)["streams"][0]["time_base"] == "1/600"
    first_id, second_id = (v["id"] for v in upload(api, clip, second).json())

    # when they are concatenated
    job_id = queue(api, "concat", video_ids=[first_id, second_id])
    assert execute(api).status_code == 200

    # then the second plays at its speed after the first: every frame 1/25 s apart
    joined = output_path(job_id, media_root)
    assert decoded_frame_hashes(joined) == decoded_frame_hashes(clip) + decoded_frame_hashes(second)
    times = frame_times(joined)
    assert len(times) == 75
    assert all(abs(b - a - 0.04) < 0.001 for a, b in pairwise(times))


def test_encode_produces_what_was_asked(api, uploaded, media_root):
    job_id = queue(
        api,
        "encoding",
        video_id=uploaded["id"],
        video_codec="libvpx-vp9",
        audio_codec="libopus",
        resolution="640:360",
        frame_rate=15,
    )
    assert execute(api).status_code == 200
    encoded = output_path(job_id, media_root)
    assert encoded.suffix == ".mp4"  # mp4 holds vp9 + opus, so the source's container stays
    probed = ffprobe(encoded)
    video_stream, audio_stream = probed["streams"]
    assert (video_stream["codec_name"], audio_stream["codec_name"]) == ("vp9", "opus")
    assert (video_stream["width"], video_stream["height"]) == (640, 360)
    assert video_stream["avg_frame_rate"] == "15/1"
    assert video_stream["pix_fmt"] == "yuv420p"
    assert float(probed["format"]["duration"]) == pytest.approx(2.0, abs=0.15)
    record = api.get("/video/view/all").json()[-1]
    assert record["encode_info"] == {
        "video_codec": "libvpx-vp9",
        "audio_codec": "libopus",
        "resolution": "640:360",
        "frame_rate": 15,
        "video_id": uploaded["id"],
    }
    assert record["processed_file_path"].endswith(".mp4")


def test_hevc_in_mp4_is_tagged_for_apple_players(api, uploaded, media_root):
    job_id = queue(
        api,
        "encoding",
        video_id=uploaded["id"],
        video_codec="libx265",
        resolution="320:240",
        frame_rate=25,
    )
    assert execute(api).status_code == 200
    stream = ffprobe(output_path(job_id, media_root))["streams"][0]
    assert (stream["codec_name"], stream["codec_tag_string"]) == ("hevc", "hvc1")


def test_encode_keeps_the_picture_shape_by_padding(api, tmp_path, media_root):
    # a 4:3 source into a 16:9 frame is letterboxed, not stretched
    video = upload(api, make_media(tmp_path / "square.mkv", size="320x240")).json()[0]
    job_id = queue(api, "encoding", video_id=video["id"], resolution="640:360", frame_rate=25)
    assert execute(api).status_code == 200
    encoded = output_path(job_id, media_root)
    assert encoded.suffix == ".mkv"
    stream = ffprobe(encoded)["streams"][0]
    assert (stream["width"], stream["height"], stream.get("sample_aspect_ratio")) == (
        640,
        360,
        "1:1",
    )
    left_edge = gray_frame(encoded, 0)[::64]  # the first column of each row
    assert max(left_edge) < 20  # black padding


def test_phone_footage_keeps_rotation_and_timing(api, tmp_path, media_root):
    # given variable-frame-rate footage stored sideways, as phones do
    drop_four_in_ten = ["-vf", "select='lt(mod(n\\,10)\\,6)'", "-fps_mode", "vfr"]
    source = make_media(tmp_path / "phone.mp4", rate="30", duration=3, extra=drop_four_in_ten)
    rotate_mp4(source)
    video = upload(api, source).json()[0]
    stored = Video.objects.get(pk=video["id"])
    assert stored.rotation == -90

    # when it is trimmed, concatenated with itself and encoded
    trim_id = queue(api, "trim", video_id=video["id"], trim_start="500", trim_end="2500")
    concat_id = queue(api, "concat", video_ids=[video["id"], video["id"]])
    encode_id = queue(api, "encoding", video_id=video["id"], resolution="240:320", frame_rate=30)
    assert execute(api).status_code == 200

    # then the trim still says how to turn the picture and keeps the frames' timing
    trimmed = ffprobe(output_path(trim_id, media_root))["streams"][0]
    assert (trimmed["width"], trimmed["height"]) == (320, 240)
    assert any(side.get("rotation") == -90 for side in trimmed.get("side_data_list", []))
    source_times = frame_times(source)
    expected = [t - source_times[0] for t in source_times if 0.5 <= t < 2.5]
    got = frame_times(output_path(trim_id, media_root))
    assert len(got) == len(expected)
    assert [round(t - got[0], 3) for t in got] == [round(t - expected[0], 3) for t in expected]
    # the concat keeps it too, and the encode turns the picture upright at a constant rate
    joined = ffprobe(output_path(concat_id, media_root))["streams"][0]
    assert any(side.get("rotation") == -90 for side in joined.get("side_data_list", []))
    upright = ffprobe(output_path(encode_id, media_root))["streams"][0]
    assert (upright["width"], upright["height"]) == (240, 320)
    assert not upright.get("side_data_list")
    assert upright["avg_frame_rate"] == "30/1"

    # and two trims of it, whose average rates differ, still concatenate
    second_trim = queue(api, "trim", video_id=video["id"], trim_start="0", trim_end="400")
    assert execute(api).status_code == 200
    siblings = [Job.objects.get(pk=job).output_video_id for job in (trim_id, second_trim)]
    assert queue(api, "concat", video_ids=siblings)
    assert execute(api).status_code == 200


def frame_times(path: Path) -> list[float]:
    listing = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "frame=best_effort_timestamp_time",
            "-of",
            "csv=p=0",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    times = [line.split(",")[0] for line in listing.split()]
    return sorted(float(t) for t in times if t != "N/A")  # MPEG-PS ends on a stamp-less entry


def rotate_mp4(path: Path) -> None:
    """Mark an mp4's video track as turned 90°, in its track header's display matrix."""
    data = bytearray(path.read_bytes())
    position = data.find(b"tkhd")
    while position >= 0:
        version = data[position + 4]
        matrix = position + 8 + (32 if version == 1 else 20) + 16
        width = int.from_bytes(data[matrix + 36 : matrix + 40], "big") >> 16
        if width:  # the video track (audio tracks have no size)
            rotation = [0, 1 << 16, 0, -(1 << 16), 0, 0, 0, 0, 1 << 30]
            data[matrix : matrix + 36] = b"".join(
                v.to_bytes(4, "big", signed=True) for v in rotation
            )
        position = data.find(b"tkhd", position + 1)
    path.write_bytes(data)


def test_failed_job_is_recorded_and_the_others_still_run(api, clip, tmp_path, media_root):
    # given a requester with a good job, a job on a corrupt source, and another good job
    good, corrupt = upload(api, clip, make_media(tmp_path / "broken.mp4")).json()
    queue(api, "trim", video_id=good["id"], trim_start="0", trim_end="1000")
    broken_job = queue(api, "trim", video_id=corrupt["id"], trim_start="0", trim_end="1000")
    queue(api, "encoding", video_id=good["id"], resolution="160:120")
    stored = media_root / corrupt["original_file_path"][len("./storage/") :]
    data = bytearray(stored.read_bytes())
    data[len(data) // 3 :] = bytes(len(data) - len(data) // 3)  # zero its media data
    stored.write_bytes(data)

    # when they are executed
    response = execute(api)

    # then execute answers 500 naming the failed job, which says why and left nothing
    assert response.status_code == 500
    assert f"job {broken_job}" in response.json()["detail"]
    jobs = list(Job.objects.order_by("id"))
    assert [job.status for job in jobs] == ["succeeded", "failed", "succeeded"]
    assert jobs[1].error and jobs[1].output_video is None and jobs[1].finished_at
    assert Video.objects.filter(kind=Video.Kind.RESULT).count() == 2
    assert len(list((media_root / "modi").iterdir())) == 2
    assert list(settings.SCRATCH_DIR.iterdir()) == []


def test_execute_touches_only_its_request_code(api, uploaded):
    mine = queue(api, "trim", code="alice", video_id=uploaded["id"], trim_start="0", trim_end="500")
    theirs = queue(api, "trim", code="bob", video_id=uploaded["id"], trim_start="0", trim_end="500")
    response = execute(api, "alice")
    assert response.status_code == 200
    assert response.json() == {
        "message": "All pending jobs for request_code alice executed successfully"
    }
    assert Job.objects.get(pk=mine).status == Job.Status.SUCCEEDED
    assert Job.objects.get(pk=theirs).status == Job.Status.PENDING
    assert execute(api, "alice").status_code == 400  # nothing pending any more


def test_two_executes_at_once_never_run_a_job_twice(api, uploaded, settings):
    # given several pending jobs of one requester, and room for two FFmpeg at once (with
    # one, the second execute would be turned away before it could race for the jobs)
    settings.FFMPEG_MAX_RUNS = 2
    job_ids = [
        queue(api, "trim", video_id=uploaded["id"], trim_start=str(start), trim_end="1500")
        for start in range(0, 1000, 200)
    ]
    outcomes = []

    def run_execute():
        try:
            services.jobs_execute(request_code="x")
            outcomes.append("ok")
        except Exception as error:  # the loser may find nothing left to run
            outcomes.append(getattr(error, "status_code", repr(error)))
        finally:
            connection.close()

    # when two executes race
    threads = [threading.Thread(target=run_execute) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # then every job ran exactly once
    assert "ok" in outcomes and set(outcomes) <= {"ok", 400}
    jobs = Job.objects.filter(pk__in=job_ids)
    assert {job.status for job in jobs} == {Job.Status.SUCCEEDED}
    assert {job.attempts for job in jobs} == {1}
    assert Video.objects.filter(kind=Video.Kind.RESULT).count() == len(job_ids)
