"""Chunked encodes to VP8, VP9 and AV1 (embedded mode): each codec into the containers
the service writes it in, its chunks (written as IVF) joined by copy into the single
encode's video, which Chromium plays; chunks whose stream headers differ are not
joined."""

import subprocess
from pathlib import Path

import pytest

from conftest import upload
from jobs.models import Job
from jobs.tests.chunk_media import (
    assert_like_single_encode,
    difference,
    make_source,
    queue_encode,
    single_encode,
)
from jobs.tests.test_smartcut_chromium import PLAY, SHOW, rgb_luma, video_page
from videos.engine import chunks, pipelines

pytestmark = pytest.mark.django_db

TARGET = {"resolution": "160:120", "frame_rate": 30}  # a rate change: 25 -> 30 fps
# (video codec, audio codec, container): each codec into Matroska (webm or mkv: one
# muxer) and into mp4 where it fits (not VP8); libaom-av1, the slowest, once.
PAIRS = [
    ("libvpx-vp9", "libopus", "webm"),
    ("libvpx-vp9", "aac", "mp4"),
    ("libvpx", "libvorbis", "webm"),
    ("libaom-av1", "aac", "mp4"),
    ("libsvtav1", "libopus", "mkv"),
]


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    """6 s of small video, a keyframe every 2 s, a beep at 3.1 s: three chunks of 2 s."""
    folder = tmp_path_factory.mktemp("codecs")
    return make_source(folder / "six.mp4", duration=6, beep_at=3.1, size="160x120")


def run(api, settings, source: Path, **target) -> tuple[dict, Path]:
    """The encode run with chunks of 2 s: its record and its output."""
    settings.ENCODE_CHUNK_SECONDS = 2
    settings.FFMPEG_MAX_RUNS = 2
    video = upload(api, source).json()[0]
    job_id = queue_encode(api, video["id"], code="codecs", **TARGET, **target)
    executed = api.post("/video/process/execute", {"request_code": "codecs"}, format="json")
    assert executed.status_code == 200, executed.content
    state = api.get(f"/video/process/jobs/{job_id}").json()
    assert state["status"] == "succeeded", state
    output = Path(settings.MEDIA_ROOT) / Job.objects.get(pk=job_id).output_video.file.name
    return state, output


@pytest.mark.slow
@pytest.mark.parametrize(("video_codec", "audio_codec", "container"), PAIRS)
def test_an_encode_in_chunks_joins_into_the_single_encode_s_video(
    api, settings, source, tmp_path, video_codec, audio_codec, container
):
    # when
    codecs = {"video_codec": video_codec, "audio_codec": audio_codec}
    state, output = run(api, settings, source, container=container, **codecs)
    # then: three chunks, joined into a file of the asked container with the single
    # encode's frames, timestamps, seams and sound
    listed = state["chunks"]
    assert len(listed) == 3
    assert all(c["status"] == "succeeded" and c["attempts"] == 1 for c in listed)
    assert output.suffix == f".{container}"
    single = single_encode(source, tmp_path / f"single.{container}", **TARGET, **codecs)
    assert_like_single_encode(output, single, listed, source=source, resolution="160:120", rate=30)


def test_chunks_of_other_settings_are_told_apart_by_their_stream_headers(tmp_path):
    # given VP9 chunks of the same settings, and one of another pixel format
    made = []
    for name, pix_fmt in (("a", "yuv420p"), ("b", "yuv420p"), ("c", "yuv444p")):
        made.append(tmp_path / f"{name}.ivf")
        subprocess.run(
            ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=64x64:r=30:d=0.1"]
            + ["-c:v", "libvpx-vp9", "-pix_fmt", pix_fmt, str(made[-1])],
            check=True,
        )
    # then
    assert chunks.header_difference(made[:2]) is None
    assert chunks.header_difference(made) == (
        "chunk 2's stream differs from the first one's in profile, pix_fmt"
    )


def test_chunks_whose_stream_headers_differ_are_encoded_whole(api, settings, source, monkeypatch):
    # given chunks whose headers differ (as an encoder of another version would make)
    monkeypatch.setattr(chunks, "header_difference", lambda files: "chunk 1's differs")
    # when
    state, output = run(
        api, settings, source, video_codec="libvpx-vp9", audio_codec="libopus", container="webm"
    )
    # then the video is made whole and lists no chunk
    assert state["chunks"] == []
    assert output.stat().st_size > 0


def test_a_chunk_is_encoded_with_the_single_encode_s_settings_and_threads(settings):
    # given a VP9 encode held to two threads (row-mt and libvpx's own tile columns)
    settings.FFMPEG_THREADS = 2
    plan = pipelines.OutputPlan(
        "webm", "libvpx-vp9", "yuv420p", 160, 120, "30/1", None, None, None, False
    )
    # when
    single = pipelines.encode_args(
        source=Path("in.mp4"), demuxer="mov", plan=plan, output=Path("out.webm")
    )
    chunk = chunks.chunk_args(
        source=Path("in.mp4"),
        demuxer="mov",
        plan=plan,
        chunk=chunks.Chunk(1, 60, 120, 2.0),
        output=Path("chunk.ivf"),
    )
    # then the encoder's options are the same, no keyframe forced beyond its first frame
    options = pipelines.video_options(plan)
    assert options["threads"] == 2 and options["row-mt"] == 1
    for name, value in options.items():
        for args in (single, chunk):
            assert args[args.index(f"-{name}") + 1] == str(value)
    assert "-force_key_frames" not in chunk


@pytest.mark.slow
@pytest.mark.browser
def test_chromium_plays_a_vp9_webm_made_in_chunks(api, settings, source):
    # given an encode made in chunks
    state, output = run(
        api, settings, source, video_codec="libvpx-vp9", audio_codec="libopus", container="webm"
    )
    seams = [index for c in state["chunks"] for index in (c["first_frame"], c["end_frame"] - 1)]
    # when Chromium seeks to each chunk's first and last frame, then plays it through
    with video_page(output, "video/webm") as page:
        shown = {
            index: page.evaluate(SHOW, (index + 0.5) / TARGET["frame_rate"]) for index in seams
        }
        played = page.evaluate(PLAY)
    # then it shows FFmpeg's pictures there, and plays with no error nor corrupted frame
    for index, picture in shown.items():
        assert picture["error"] is None
        assert difference(bytes(picture["gray"]), rgb_luma(output, index)) < 6, index
    assert (played["error"], played["corrupted"]) == (None, 0)
