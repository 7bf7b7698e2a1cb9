"""Normalised joins and edits whose re-encoded part is long: the part is encoded in chunks
by the encode's machinery (embedded mode) and makes the video the part made whole does."""

from pathlib import Path

import pytest

from conftest import upload
from jobs.models import Job
from jobs.tests.chunk_media import (
    assert_frames_like,
    beep_time,
    make_source,
    stream_durations,
)

pytestmark = pytest.mark.django_db

FIRST_FRAMES = 50  # the first input: 2 s at 25 fps, the target every part is made like


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> tuple[Path, Path]:
    """A short silent 320x180@25 clip, and a 10 s one unlike it (256x144@30, a keyframe
    every second) with a beep at 5 s."""
    folder = tmp_path_factory.mktemp("joins")
    first = make_source(folder / "first.mp4", duration=2, beep_at=99, size="320x180")
    long = make_source(
        folder / "long.mp4", duration=10, beep_at=5, size="256x144", rate=30, keyframe_every=30
    )
    return first, long


def in_chunks_and_whole(api, settings, path: str, body: dict) -> tuple[dict, Path, Path]:
    """The job run with chunks of 2 s, then again never split: the first's record, and
    both outputs."""
    outputs, states = [], []
    for chunk_seconds in (2, 0):
        settings.ENCODE_CHUNK_SECONDS = chunk_seconds
        queued = api.post(path, {"request_code": "joins", **body}, format="json")
        assert queued.status_code == 200, queued.content
        executed = api.post("/video/process/execute", {"request_code": "joins"}, format="json")
        assert executed.status_code == 200, executed.content
        job = Job.objects.get(pk=queued.json()["job_id"])
        states.append(api.get(f"/video/process/jobs/{job.id}").json())
        outputs.append(Path(settings.MEDIA_ROOT) / job.output_video.file.name)
    assert states[1]["chunks"] == []
    return states[0], *outputs


def assert_chunked_like_whole(
    state: dict, chunked: Path, whole: Path, *, first: int, media_root: Path
) -> None:
    assert state["status"] == "succeeded" and state["progress"] == 100
    listed = state["chunks"]
    assert len(listed) >= 4
    assert all(c["status"] == "succeeded" and c["attempts"] == 1 for c in listed)
    assert_frames_like(chunked, whole, listed, first=first)
    # the sound as long as the picture, the beep where the part made whole has it
    video_seconds, audio_seconds = stream_durations(chunked)
    assert abs(video_seconds - audio_seconds) < 0.1
    assert abs(video_seconds - stream_durations(whole)[0]) < 0.01
    assert abs(beep_time(chunked) - beep_time(whole)) < 0.01
    assert list((media_root / "chunks").rglob("*.*")) == []


def test_a_normalised_concat_encodes_its_long_unlike_part_in_chunks(api, sources, settings):
    # given the short clip and the long unlike one, uploaded
    settings.FFMPEG_MAX_RUNS = 2
    ids = [video["id"] for video in upload(api, *sources).json()]
    # when they are joined normalised, in chunks and whole
    state, chunked, whole = in_chunks_and_whole(
        api, settings, "/video/process/concat", {"video_ids": ids, "normalize": True}
    )
    # then the long part's chunks cover its 10 s at 25 fps, after the first's frames
    assert state["chunks"][-1]["end_frame"] == 250
    assert_chunked_like_whole(
        state, chunked, whole, first=FIRST_FRAMES, media_root=Path(settings.MEDIA_ROOT)
    )


def test_an_edit_encodes_its_long_normalised_segment_in_chunks(api, sources, settings):
    # given a second of the short clip, then 1.3 s to 9.7 s of the long unlike one: a
    # span starting between two of its frames
    ids = [video["id"] for video in upload(api, *sources).json()]
    segments = [
        {"video_id": ids[0], "start": "0", "end": "1s"},
        {"video_id": ids[1], "start": "1300", "end": "9700"},
    ]
    # when
    state, chunked, whole = in_chunks_and_whole(
        api, settings, "/video/process/edit", {"segments": segments, "normalize": True}
    )
    # then
    assert_chunked_like_whole(
        state, chunked, whole, first=FIRST_FRAMES // 2, media_root=Path(settings.MEDIA_ROOT)
    )
