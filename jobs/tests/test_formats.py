"""Every allowed format, with the codecs typical of it, through upload, info, trim,
concat (with its own kind) and encode: outputs are probed, not trusted."""

import subprocess

import pytest

from conftest import ffprobe, make_media, upload

pytestmark = pytest.mark.django_db

# extension, video encoder, audio encoder, picture size, expected codec names
FORMAT_CASES = [
    ("mp4", "libx264", "aac", "320x240", "h264", "aac"),
    ("mp4", "libx265", "aac", "320x240", "hevc", "aac"),
    ("mov", "libx264", "aac", "320x240", "h264", "aac"),
    ("mkv", "libx265", "aac", "320x240", "hevc", "aac"),
    ("webm", "libvpx-vp9", "libopus", "320x240", "vp9", "opus"),
    ("webm", "libvpx", "libvorbis", "320x240", "vp8", "vorbis"),
    ("avi", "mpeg4", "libmp3lame", "320x240", "mpeg4", "mp3"),
    ("avi", "mjpeg", "libmp3lame", "320x240", "mjpeg", "mp3"),
    ("wmv", "wmv2", "wmav2", "320x240", "wmv2", "wmav2"),
    ("flv", "flv", "libmp3lame", "320x240", "flv1", "mp3"),
    ("flv", "libx264", "aac", "320x240", "h264", "aac"),
    ("3gp", "h263", "aac", "176x144", "h263", "aac"),
    ("3gp", "libx264", "aac", "176x144", "h264", "aac"),
    ("mpeg", "mpeg2video", "mp2", "320x240", "mpeg2video", "mp2"),
]


def _streams(path):
    probed = ffprobe(path)
    video = next(s for s in probed["streams"] if s["codec_type"] == "video")
    audio = next((s for s in probed["streams"] if s["codec_type"] == "audio"), None)
    return probed, video, audio


@pytest.mark.parametrize(
    "extension,video_encoder,audio_encoder,size,video_codec,audio_codec",
    FORMAT_CASES,
    ids=[f"{case[0]}-{case[4]}-{case[5]}" for case in FORMAT_CASES],
)
def test_format_round_trip(
    api,
    tmp_path,
    media_root,
    extension,
    video_encoder,
    audio_encoder,
    size,
    video_codec,
    audio_codec,
):
    # given a clip of this format, uploaded
    source = make_media(
        tmp_path / f"source.{extension}",
        video=video_encoder,
        audio=audio_encoder,
        size=size,
        rate="25",
        duration=2,
    )
    response = upload(api, source)
    assert response.status_code == 200, response.json()
    video_id = response.json()[0]["id"]
    info = api.get(f"/video/view/info?video_id={video_id}").json()
    assert (info["video_streams"], info["audio_streams"]) == (video_codec, audio_codec)
    assert info["resolution"] == size.replace("x", ":")
    assert info["frame_rate"] == 25

    # when it is trimmed twice, the trims concatenated, and the source encoded
    queue = [
        ("trim", {"video_id": video_id, "trim_start": "0", "trim_end": "1000"}),
        ("trim", {"video_id": video_id, "trim_start": "1000", "trim_end": "1600"}),
        ("encoding", {"video_id": video_id, "resolution": "160:120", "frame_rate": 10}),
    ]
    for path, body in queue:
        reply = api.post(f"/video/process/{path}", {"request_code": "fmt", **body}, format="json")
        assert reply.status_code == 200, reply.json()
    executed = api.post("/video/process/execute", {"request_code": "fmt"}, format="json")
    assert executed.status_code == 200, executed.json()
    jobs = api.get("/video/process/jobs?request_code=fmt").json()
    first_trim, second_trim, encode = (job["output_video_id"] for job in jobs)
    reply = api.post(
        "/video/process/concat",
        {"request_code": "fmt", "video_ids": [first_trim, second_trim]},
        format="json",
    )
    assert reply.status_code == 200, reply.json()
    executed = api.post("/video/process/execute", {"request_code": "fmt"}, format="json")
    assert executed.status_code == 200, executed.json()
    concat = api.get("/video/process/jobs?request_code=fmt").json()[-1]["output_video_id"]

    # then the trims keep the source's kind, the concat joins them, the encode converts
    records = {v["id"]: v for v in api.get("/video/view/all").json()}
    for trim_id, expected_seconds in ((first_trim, 1.0), (second_trim, 0.6)):
        path = media_root / records[trim_id]["processed_file_path"][len("./storage/") :]
        probed, video, audio = _streams(path)
        assert path.suffix == f".{extension}"
        assert (video["codec_name"], audio["codec_name"]) == (video_codec, audio_codec)
        assert f"{video['width']}x{video['height']}" == size
        assert float(probed["format"]["duration"]) == pytest.approx(expected_seconds, abs=0.15)
    path = media_root / records[concat]["processed_file_path"][len("./storage/") :]
    probed, video, audio = _streams(path)
    assert (video["codec_name"], audio["codec_name"]) == (video_codec, audio_codec)
    assert float(probed["format"]["duration"]) == pytest.approx(1.6, abs=0.2)
    path = media_root / records[encode]["processed_file_path"][len("./storage/") :]
    probed, video, audio = _streams(path)
    assert (video["codec_name"], audio["codec_name"]) == ("h264", "aac")
    assert (video["width"], video["height"]) == (160, 120)
    assert video["avg_frame_rate"] == "10/1"


@pytest.mark.parametrize(
    "extension,codecs", [("webm", ["libvpx", "libopus"]), ("mkv", ["libx264", "aac"])]
)
def test_streamed_recording_without_a_duration_in_its_header(
    api, tmp_path, media_root, extension, codecs
):
    # given a recording written as a stream, as a browser's MediaRecorder does: its header
    # says nothing of how long it is
    recording = tmp_path / f"recording.{extension}"
    with open(recording, "wb") as output:
        subprocess.run(
            [
                "ffmpeg",
                "-v",
                "error",
                "-f",
                "lavfi",
                "-i",
                "testsrc2=s=320x240:r=30:d=3",
                "-f",
                "lavfi",
                "-i",
                "sine=d=3",
                "-c:v",
                codecs[0],
                "-c:a",
                codecs[1],
                "-f",
                "webm" if extension == "webm" else "matroska",
                "pipe:1",
            ],
            stdout=output,
            check=True,
        )
    assert "duration" not in ffprobe(recording)["format"]

    # when it is uploaded, trimmed and encoded
    response = upload(api, recording)
    assert response.status_code == 200, response.json()
    video_id = response.json()[0]["id"]
    info = api.get(f"/video/view/info?video_id={video_id}").json()
    assert info["duration"] == pytest.approx(3.0, abs=0.1)
    for path, body in [
        ("trim", {"video_id": video_id, "trim_start": "2s", "trim_end": "9s"}),
        ("encoding", {"video_id": video_id, "resolution": "160:120"}),
    ]:
        reply = api.post(f"/video/process/{path}", {"request_code": "rec", **body}, format="json")
        assert reply.status_code == 200, reply.json()
    assert (
        api.post("/video/process/execute", {"request_code": "rec"}, format="json").status_code
        == 200
    )

    # then the trim holds the last second (clamped to the measured end) and the encode all
    trim, encode = (
        job["output_video_id"] for job in api.get("/video/process/jobs?request_code=rec").json()
    )
    records = {v["id"]: v for v in api.get("/video/view/all").json()}
    durations = [
        float(
            ffprobe(media_root / records[i]["processed_file_path"][len("./storage/") :])["format"][
                "duration"
            ]
        )
        for i in (trim, encode)
    ]
    assert durations == [pytest.approx(1.0, abs=0.1), pytest.approx(3.0, abs=0.15)]
