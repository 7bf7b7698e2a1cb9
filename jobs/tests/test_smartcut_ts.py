"""MPEG transport streams (.ts broadcast captures, .m2ts/.mts from AVCHD cameras) are
taken like the other formats: uploaded, probed, and cut exactly and smartly (MPEG-2
and H.264)."""

import subprocess
from pathlib import Path

import pytest

from conftest import ffprobe, upload
from jobs.models import Job

from .test_execute import execute, output_path
from .test_smartcut import CUT, MPEG2, X264, assert_exact, make_source, trim

CASES = [
    ("h264.ts", [*X264, "-f", "mpegts"], "aac"),
    ("h264.m2ts", [*X264, "-f", "mpegts", "-mpegts_m2ts_mode", "1"], "aac"),
    ("h264.mts", [*X264, "-f", "mpegts", "-mpegts_m2ts_mode", "1"], "ac3"),
    ("mpeg2.ts", [*MPEG2, "-f", "mpegts"], "mp2"),
    ("mpeg2.m2ts", [*MPEG2, "-f", "mpegts", "-mpegts_m2ts_mode", "1"], "mp2"),
]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("name", "video_options", "audio"), CASES, ids=[c[0] for c in CASES])
def test_transport_streams_are_uploaded_and_cut_smartly(
    api, tmp_path, media_root, name, video_options, audio
):
    # given a transport stream with a keyframe every 0.4 s
    source = make_source(tmp_path / name, video_options, audio)
    if "m2ts_mode" in video_options:
        assert source.stat().st_size % 192 == 0  # 192-byte packets, as AVCHD writes

    # when it is uploaded and trimmed smartly, both cut points inside a GOP
    response = upload(api, source)
    assert response.status_code in (200, 201), response.content
    video = response.json()[0]
    job_id = trim(api, video["id"], *CUT)
    assert execute(api).status_code == 200

    # then it was taken as what it is, and cut smartly and exactly into the same container
    job = Job.objects.get(pk=job_id)
    assert job.status == "succeeded", job.error
    assert job.outcome["trim_method"] == "smart", job.outcome
    result = output_path(job_id, media_root)
    assert result.suffix == Path(name).suffix
    assert ffprobe(result)["format"]["format_name"] == "mpegts"
    if "m2ts_mode" in video_options:
        assert result.stat().st_size % 192 == 0  # written as it came, in 192-byte packets
    assert_exact(source, result, 0.55, 3.3)
    assert subprocess.run(["ffprobe", "-v", "error", str(result)]).returncode == 0
