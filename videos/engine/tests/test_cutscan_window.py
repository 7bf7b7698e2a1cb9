"""A cut's scan reads only the packets around its span (cutscan.scan's `span`), and plans
exactly what a scan of the whole file plans: in containers that seek exactly and those
that do not, with open GOPs, near the file's ends, and where keyframes come too seldom
for the window (the whole file is read then)."""

import subprocess
from pathlib import Path

import pytest

from videos.engine import cutplan, cutscan, media, pipelines

SECONDS = 40
# (name, encoder arguments, keyframe interval in frames at 25 fps)
SOURCES = [
    ("h264.mp4", ["-c:v", "libx264", "-bf", "2"], 25),
    ("h264.ts", ["-c:v", "libx264", "-bf", "2"], 25),
    ("mpeg2.mpeg", ["-c:v", "mpeg2video", "-bf", "2", "-q:v", "4"], 15),  # open GOPs
    ("hevc.mkv", ["-c:v", "libx265", "-x265-params", "log-level=error:open-gop=1"], 25),
    ("vp9.webm", ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8"], 25),
    ("sparse.mp4", ["-c:v", "libx264", "-bf", "2"], 300),  # a keyframe every 12 s
]
SPANS = [(15.3, 25.7), (2.0, 5.5), (33.1, 39.9), (12.02, 41.0), (22.5, 30.0)]


@pytest.fixture(scope="module", params=SOURCES, ids=[name for name, _, _ in SOURCES])
def source(request, tmp_path_factory) -> Path:
    name, encoder, gop = request.param
    path = tmp_path_factory.mktemp("window") / name
    subprocess.run(
        [
            *("ffmpeg", "-v", "error", "-f", "lavfi"),
            *("-i", f"testsrc2=s=160x120:r=25:d={SECONDS}", "-pix_fmt", "yuv420p"),
            *(*encoder, "-g", str(gop), "-keyint_min", str(gop), str(path)),
        ],
        check=True,
    )
    return path


def planned(found: cutscan.Scan, span: tuple[float, float], demuxer: str):
    """The cut's plan, or why there is none."""
    try:
        return cutplan.plan_cut(
            found,
            start=span[0],
            end=span[1],
            exact_seek=demuxer in pipelines.EXACT_SEEK_DEMUXERS,
        )
    except cutscan.NotSmart as refused:
        return refused.detail


def test_a_window_plans_what_the_whole_file_plans(source):
    # given a 40 s source, and its scan whole
    probed = media.probe(source)
    whole = cutscan.scan(source, probed.demuxer, probed.stream_facts)

    for span in SPANS:
        # when a cut of a span scans only around it
        window = cutscan.scan(source, probed.demuxer, probed.stream_facts, span=span)

        # then it plans the same cut, the same frames copied and re-encoded
        assert planned(window, span, probed.demuxer) == planned(whole, span, probed.demuxer)
        assert window.stream == whole.stream
        # and a span well inside the file, where keyframes come often, reads only about
        # SCAN_LEAD before it and two keyframes after it
        if span == SPANS[0] and "sparse" not in source.name:
            times = [packet.time for packet in window.packets]
            assert min(times) > span[0] - cutscan.SCAN_LEAD - 2 and max(times) < span[1] + 2
        # and where the window holds one keyframe before the span, the whole file is read
        if span == SPANS[-1] and "sparse" in source.name:
            assert window.packets == whole.packets
