"""The smart cut's in-process join writes the packets FFmpeg's concat demuxer and a
`-c copy -copyts -start_at_zero` run write, in each kind of part and result."""

import hashlib
import subprocess
from fractions import Fraction
from pathlib import Path

import av
import pytest

from videos.engine.media import probe
from videos.engine.partjoin import Track, join_parts

# part format (extension), result extension and muxer, the parts' codec, the sound's
CASES = [
    ("ts", "mpeg", "mpeg", ["-c:v", "mpeg2video", "-bf", "2"], ["-c:a", "mp2"]),
    ("ts", "ts", "mpegts", ["-c:v", "libx264", "-bf", "2"], ["-c:a", "aac"]),
    ("mkv", "webm", "webm", ["-c:v", "libvpx-vp9", "-deadline", "realtime"], ["-c:a", "libopus"]),
    ("mkv", "avi", "avi", ["-c:v", "mpeg4", "-bf", "2"], ["-c:a", "libmp3lame"]),
]
# AVI counts frames: a smart cut says in what (the source's frame time), as FFmpeg is told.
TIME_BASES = {"avi": Fraction(1, 25)}
LENGTHS = [0.4, 1.2, None]  # each part's length in the result; the last: its own


def make_part(path: Path, start: float, length: float, codec: list[str]) -> None:
    """Frames of one testsrc2, from `start`, shown from 0 (a smart cut's part)."""
    source = f"testsrc2=s=160x120:r=25:d={start + length}"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", source]
        + ["-vf", f"trim=start={start},setpts=PTS-STARTPTS", *codec, "-pix_fmt", "yuv420p"]
        + [str(path)],
        check=True,
    )


def packets(path: Path) -> list[tuple]:
    """Each packet: its stream, show and decode time (the picture's from its first one's
    show time), and a hash of its bytes."""
    with av.open(str(path)) as container:
        found = [packet for packet in container.demux() if packet.size]
        start = next(packet.pts for packet in found if packet.stream.type == "video")
        return [
            (
                packet.stream.type,
                packet.pts - (start if packet.stream.type == "video" else 0),
                packet.dts - (start if packet.stream.type == "video" else 0),
                hashlib.md5(bytes(packet)).hexdigest(),
            )
            for packet in found
        ]


def first_picture(path: Path) -> int:
    with av.open(str(path)) as container:
        return next(packet.pts for packet in container.demux(video=0) if packet.size)


@pytest.mark.parametrize("part, extension, muxer, codec, sound_codec", CASES)
def test_the_join_writes_what_ffmpegs_concat_writes(
    tmp_path, part, extension, muxer, codec, sound_codec
):
    # given three parts (the last running on to its end) and their sound in an MP4
    parts = []
    for index, length in enumerate(LENGTHS):
        path = tmp_path / f"part{index}.{part}"
        make_part(path, sum(LENGTHS[:index]), length or 0.8, codec)
        parts.append((path, length))
    sound = tmp_path / "sound.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "sine=r=48000:d=2.4", *sound_codec]
        + ["-f", "mp4", "-strict", "experimental", str(sound)],
        check=True,
    )
    listing = tmp_path / "parts.ffconcat"
    lines = ["ffconcat version 1.0"]
    for path, length in parts:
        lines += [f"file '{path.name}'"] + ([f"duration {length}"] if length else [])
    listing.write_text("\n".join(lines) + "\n")

    # when FFmpeg joins them, and the join does
    ffmpeg = tmp_path / f"ffmpeg.{extension}"
    time_base = TIME_BASES.get(extension)
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "concat", "-safe", "1", "-i", str(listing)]
        + ["-i", str(sound), "-map", "0:v:0", "-map", "1:a:0", "-c", "copy", "-f", muxer]
        + (["-time_base:v", str(time_base)] if time_base else [])
        + ["-copyts", "-start_at_zero", str(ffmpeg)],
        check=True,
    )
    ours = tmp_path / f"ours.{extension}"
    join_parts(
        parts=parts,
        sound=sound,
        output=ours,
        muxer=muxer,
        options={},
        track=Track(time_base=time_base),
        should_cancel=lambda: False,
    )

    # then the same packets, shown and decoded at the same times, the picture from the
    # same time (FFmpeg's moves 7 ms late against its sound behind Opus's priming), and
    # a file that lasts as long
    assert packets(ours) == packets(ffmpeg)
    late = 7 if sound_codec == ["-c:a", "libopus"] else 0
    assert first_picture(ffmpeg) - first_picture(ours) == late
    assert probe(ours).duration == pytest.approx(probe(ffmpeg).duration, abs=0.008)
