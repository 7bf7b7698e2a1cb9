"""Normalised joins: unlike inputs made to match the first (or a named target), only
those that differ re-encoded, the parts joined by copy into one clean file."""

import subprocess
from itertools import pairwise
from pathlib import Path

import pytest

from conftest import ffprobe, make_media, upload
from jobs.models import Job
from jobs.tests.test_execute import (
    decoded_frame_hashes,
    execute,
    frame_count,
    frame_times,
    gray_frame,
    output_path,
    rotate_mp4,
)
from jobs.tests.test_smartcut import stream_end, strict_decode_errors

pytestmark = pytest.mark.django_db(transaction=True)


def concat(api, video_ids, **body):
    return api.post(
        "/video/process/concat",
        {"request_code": "x", "video_ids": video_ids, **body},
        format="json",
    )


def stored_path(video: dict, media_root: Path) -> Path:
    return media_root / video["original_file_path"][len("./storage/") :]


def loudest_db(path: Path, start: float, end: float) -> float:
    """The peak level of the sound between start and end, in dB (-91 is silence)."""
    stderr = subprocess.run(
        [
            "ffmpeg",
            "-hide_banner",
            "-nostats",
            "-ss",
            str(start),
            "-t",
            str(end - start),
            "-i",
            str(path),
            "-map",
            "0:a:0",
            "-af",
            "volumedetect",
            "-f",
            "null",
            "-",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    return float(stderr.split("max_volume:")[1].split("dB")[0])


def decode_errors(path: Path) -> str:
    return subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-f", "null", "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stderr


@pytest.fixture
def unlike(api, tmp_path) -> list[dict]:
    """640x360@25 with sound, 1280x720@30 without, and phone footage stored sideways."""
    first = make_media(tmp_path / "first.mp4", size="640x360", rate="25")
    wide = make_media(tmp_path / "wide.mp4", size="1280x720", rate="30", audio=None)
    phone = make_media(tmp_path / "phone.mp4", size="320x240", rate="25", audio_rate=48000)
    rotate_mp4(phone)
    return upload(api, first, wide, phone).json()


def test_unlike_videos_join_as_the_first_when_asked(api, unlike, media_root):
    first, wide, phone = unlike
    ids = [first["id"], wide["id"], phone["id"]]
    # given the plain concat is refused, naming the difference
    refusal = concat(api, ids)
    assert refusal.status_code == 400
    assert "differs from video" in refusal.json()["detail"]

    # when they are joined with normalize
    response = concat(api, ids, normalize=True)
    assert response.status_code == 200, response.json()
    assert execute(api).status_code == 200

    # then it is one file at the first's size and rate, with sound all through
    job = Job.objects.get(pk=response.json()["job_id"])
    joined = output_path(job.id, media_root)
    video, audio = ffprobe(joined)["streams"]
    assert (video["codec_name"], video["width"], video["height"]) == ("h264", 640, 360)
    assert (video["r_frame_rate"], video["avg_frame_rate"]) == ("25/1", "25/1")
    assert video["sample_aspect_ratio"] == "1:1" and not video.get("side_data_list")
    assert (audio["codec_name"], int(audio["sample_rate"]), audio["channels"]) == ("aac", 44100, 1)
    assert frame_count(joined) == 150  # 2 s of each at 25 fps
    assert decode_errors(joined) == ""
    # silence where the wide clip had no sound, the tone elsewhere
    assert loudest_db(joined, 2.2, 3.8) < -80
    assert loudest_db(joined, 0.2, 1.8) > -20 and loudest_db(joined, 4.2, 5.8) > -20
    # the first was copied, the others re-encoded
    assert decoded_frame_hashes(joined)[:50] == decoded_frame_hashes(stored_path(first, media_root))
    assert job.output_video.concat_info == {
        "video_ids": ids,
        "normalized": {
            "target": {
                "resolution": "640:360",
                "frame_rate": 25.0,
                "video_codec": "h264",
                "audio_codec": "aac",
                "container": "mp4",
            },
            "reencoded": [wide["id"], phone["id"]],
        },
    }
    # the phone's picture stands upright between bars; the wide one fills the frame
    upright = gray_frame(joined, 125)
    rows = [upright[row * 64 : row * 64 + 64] for row in range(48)]
    assert max(max(row[:10]) for row in rows) < 20 and max(max(row[-10:]) for row in rows) < 20
    assert max(rows[24][28:36]) > 40
    filled = gray_frame(joined, 75)
    assert max(filled[:64]) > 40 and max(filled[-64:]) > 40


def test_a_named_target_reencodes_only_the_inputs_that_differ(api, tmp_path, media_root):
    # given two clips already at the target and one that is not
    at_target = [make_media(tmp_path / f"ok{n}.mp4", size="320x240", rate="30") for n in (1, 2)]
    other = make_media(tmp_path / "other.mp4", size="640x480", rate="25", duration=1)
    ok1, odd, ok2 = upload(api, at_target[0], other, at_target[1]).json()

    # when they are joined to a named target
    response = concat(
        api,
        [ok1["id"], odd["id"], ok2["id"]],
        normalize={"resolution": "320:240", "frame_rate": 30},
    )
    assert response.status_code == 200, response.json()
    assert execute(api).status_code == 200

    # then only the odd one was re-encoded: the others' pictures are the very same
    job = Job.objects.get(pk=response.json()["job_id"])
    assert job.output_video.concat_info["normalized"]["reencoded"] == [odd["id"]]
    joined = output_path(job.id, media_root)
    hashes = decoded_frame_hashes(joined)
    assert len(hashes) == 60 + 30 + 60
    assert hashes[:60] == decoded_frame_hashes(at_target[0])
    assert hashes[90:] == decoded_frame_hashes(at_target[1])
    assert decode_errors(joined) == ""


def test_a_copied_part_counted_in_other_ticks_keeps_its_speed(api, tmp_path, media_root):
    # given a clip at the target counted in a phone's ticks, and one to re-encode
    phone = make_media(
        tmp_path / "phone.mp4", size="320x240", rate="30", extra=["-video_track_timescale", "600"]
    )
    other = make_media(tmp_path / "other.mp4", size="640x480", rate="25", duration=1)
    first, odd = upload(api, phone, other).json()

    # when they are joined as the first
    response = concat(api, [first["id"], odd["id"]], normalize=True)
    assert response.status_code == 200, response.json()
    assert execute(api).status_code == 200

    # then the copied one is the very same pictures, and every frame is 1/30 s apart
    joined = output_path(response.json()["job_id"], media_root)
    assert decoded_frame_hashes(joined)[:60] == decoded_frame_hashes(phone)
    times = frame_times(joined)
    assert len(times) == 90
    assert all(abs(b - a - 1 / 30) < 0.001 for a, b in pairwise(times))


@pytest.mark.parametrize(
    "normalize,reason",
    [
        ({"resolution": "641:360"}, "even"),
        ({"frame_rate": 0}, "between"),
        ({"video_codec": "nosuch"}, "no video encoder named 'nosuch'"),
        ({"container": "webm"}, "cannot hold"),
        ({"size": "640:360"}, "A normalising target has no size"),
        ("yes", "Normalising is true (match the first input), false, or the target"),
    ],
)
def test_bad_targets_are_refused_and_nothing_is_stored(api, unlike, normalize, reason):
    response = concat(api, [video["id"] for video in unlike], normalize=normalize)
    assert response.status_code == 400
    assert reason in response.json()["detail"]
    assert not Job.objects.exists()


def test_vorbis_sound_of_a_normalised_join_is_encoded_once(api, tmp_path, media_root):
    # given two VP8/Vorbis clips whose sound differs in rate: the second's is re-encoded
    # to the first's, which has its own codebooks (Vorbis keeps them in the header)
    clips = [
        make_media(
            tmp_path / f"clip{rate}.webm", video="libvpx", audio="libvorbis", audio_rate=rate
        )
        for rate in (48000, 44100)
    ]
    first, second = upload(api, *clips).json()

    # when they are joined as the first
    response = concat(api, [first["id"], second["id"]], normalize=True)
    assert response.status_code == 200, response.json()
    assert execute(api).status_code == 200

    # then every frame of both, decoding cleanly, the sound as long as the picture
    job = Job.objects.get(pk=response.json()["job_id"])
    assert job.status == "succeeded", job.error
    joined = output_path(job.id, media_root)
    assert frame_count(joined) == 100
    assert strict_decode_errors(joined) == ""
    assert abs(stream_end(joined, "v:0") - stream_end(joined, "a:0")) <= 1152 / 48000
