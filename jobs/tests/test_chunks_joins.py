"""Normalised joins and edits whose re-encoded part is long: the part is encoded in chunks
by the encode's machinery (embedded mode) and makes the video the part made whole does."""

from pathlib import Path

import pytest

from conftest import upload
from jobs.models import Job
from jobs.tests.chunk_media import (
    FIRST_FRAMES,
    assert_chunked_like_whole,
    edit_segments,
    make_unlike_sources,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> tuple[Path, Path]:
    return make_unlike_sources(tmp_path_factory.mktemp("joins"))


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
    # given a second of the short clip, then 1.3 s to 9.7 s of the long unlike one
    ids = [video["id"] for video in upload(api, *sources).json()]
    # when
    state, chunked, whole = in_chunks_and_whole(
        api, settings, "/video/process/edit", {"segments": edit_segments(ids), "normalize": True}
    )
    # then
    assert_chunked_like_whole(
        state, chunked, whole, first=FIRST_FRAMES // 2, media_root=Path(settings.MEDIA_ROOT)
    )
