"""A job's result is probed in-process (PyAV): it must say of each file what ffprobe
says, in every container and codec a job writes, turned, non-square, sound only, and
long enough to be read as a head and a tail."""

from dataclasses import asdict

import av
import pytest

from conftest import make_media
from jobs.tests.test_execute import rotate_mp4
from videos.engine.media import ProbeError, probe, probe_made

# name, video encoder, audio encoder, extra output options
MADE = [
    ("h264.mp4", "libx264", "aac", []),
    ("h264.mov", "libx264", "libmp3lame", []),
    ("h263.3gp", "h263", "aac", ["-s", "176x144"]),
    ("hevc.mkv", "libx265", "libopus", ["-x265-params", "log-level=error"]),
    ("vp9.webm", "libvpx-vp9", "libopus", ["-deadline", "realtime"]),
    ("vp8.webm", "libvpx", "libvorbis", []),
    ("av1.mp4", "libaom-av1", "libopus", ["-cpu-used", "8"]),
    ("mpeg4.avi", "mpeg4", "libmp3lame", []),
    ("mjpeg.avi", "mjpeg", "pcm_s16le", []),
    ("mpeg2.mpeg", "mpeg2video", "mp2", []),
    ("h264.ts", "libx264", "aac", []),
    ("flv.flv", "flv", "libmp3lame", []),
    ("wmv2.wmv", "wmv2", "wmav2", []),
    ("prores.mov", "prores", "pcm_s16le", []),
    ("wide.mkv", "libx264", "flac", ["-vf", "setsar=4/3"]),
    ("rate.mp4", "libx264", "aac", ["-r", "30000/1001", "-ac", "2"]),
]


@pytest.mark.parametrize("name, video, audio, extra", MADE, ids=[case[0] for case in MADE])
def test_a_made_file_is_described_as_ffprobe_describes_it(tmp_path, name, video, audio, extra):
    path = make_media(tmp_path / name, video=video, audio=audio, size="160x120", extra=extra)
    assert asdict(probe_made(path)) == {**asdict(probe(path)), "stream_facts": {}}


def test_a_file_written_in_process_is_described_as_ffprobe_describes_it(tmp_path):
    # given VP9 remuxed by PyAV (as a smart cut's join writes it): no display size said
    made = make_media(tmp_path / "made.webm", video="libvpx-vp9", audio="libopus", size="160x120")
    path = tmp_path / "remuxed.mkv"
    with av.open(str(made)) as source, av.open(str(path), "w") as out:
        streams = {s.index: out.add_stream_from_template(s) for s in source.streams}
        for packet in source.demux():
            if packet.size:
                packet.stream = streams[packet.stream.index]
                out.mux(packet)
    assert asdict(probe_made(path)) == {**asdict(probe(path)), "stream_facts": {}}


def test_a_turned_picture_is_described_turned(tmp_path):
    path = make_media(tmp_path / "turned.mp4", size="160x120")
    rotate_mp4(path)
    made = probe_made(path)
    assert made.rotation == probe(path).rotation == -90


def test_a_long_file_is_read_as_a_head_and_a_tail_and_lasts_what_ffprobe_says(tmp_path):
    # 30 s: more packets than a made file is read whole at
    path = make_media(tmp_path / "long.mkv", size="64x48", duration=30)
    assert asdict(probe_made(path)) == {**asdict(probe(path)), "stream_facts": {}}


def test_sound_alone_is_described_as_sound(tmp_path):
    path = make_media(tmp_path / "sound.m4a", video=None)
    assert asdict(probe_made(path, sound_only=True)) == {
        **asdict(probe(path, sound_only=True)),
        "stream_facts": {},
    }


def test_a_broken_made_file_is_refused(tmp_path):
    path = tmp_path / "broken.mp4"
    path.write_bytes(b"\0" * 4096)
    with pytest.raises(ProbeError):
        probe_made(path)
