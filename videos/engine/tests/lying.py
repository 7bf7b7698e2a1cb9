"""Media whose headers lie (about how long it lasts, or how big its pictures are), made in
the tests with FFmpeg's lavfi sources and a few patched bytes (no media is committed)."""

import struct
import subprocess
from pathlib import Path

MATROSKA_DURATION = bytes.fromhex("448988")  # Segment Info's Duration, an 8-byte float
MATROSKA_MS_TIMESTAMPS = bytes.fromhex("2ad7b1830f4240")  # TimestampScale 1 ms, FFmpeg's
FLV_DURATION = b"\x00\x08duration\x00"  # its AMF name, then a number: an 8-byte float


def make_sparse(path: Path, *, seconds: float, every: int = 60, size: str = "320x240") -> Path:
    """A still grey picture, one frame every `every` seconds for `seconds`: its packets really
    span that long, and a still encodes to almost nothing."""
    subprocess.run(
        [
            "ffmpeg",
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"color=c=gray:s={size}:r=1/{every}:d={seconds}",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            str(path),
        ],
        check=True,
    )
    return path


def claim_duration(path: Path, seconds: float) -> Path:
    """Make the header of a Matroska file (Segment Info's Duration), an FLV (onMetaData's
    duration) or an MP4 (the movie header's) claim `seconds`, leaving every packet as it
    was."""
    data = bytearray(path.read_bytes())
    if data.startswith(b"FLV"):
        at = data.find(FLV_DURATION, 0, 4096)
        assert at > 0, "no duration in onMetaData"
        struct.pack_into(">d", data, at + len(FLV_DURATION), seconds)
    elif data.startswith(bytes.fromhex("1a45dfa3")):  # EBML: Matroska or WebM
        at = data.find(MATROSKA_DURATION, 0, 4096)
        assert at > 0 and MATROSKA_MS_TIMESTAMPS in data[:4096], "not a Matroska FFmpeg writes"
        data[at + 3 : at + 11] = struct.pack(">d", seconds * 1000)
    else:
        at = data.find(b"mvhd") + 4  # version, flags, two dates, timescale, duration
        assert at > 4, "no movie header"
        if data[at] == 1:  # 64-bit dates and duration
            (timescale,) = struct.unpack_from(">I", data, at + 20)
            struct.pack_into(">Q", data, at + 24, round(seconds * timescale))
        else:
            (timescale,) = struct.unpack_from(">I", data, at + 12)
            struct.pack_into(">I", data, at + 16, round(seconds * timescale))
    path.write_bytes(bytes(data))
    return path


def make_png_bomb(path: Path, width: int, height: int) -> Path:
    """A decompression bomb of about 1 KB: two 64x64 PNG pictures in Matroska whose PNG
    headers declare `width` x `height` (a decoder allocates that much before it finds the
    data short)."""
    subprocess.run(
        [
            "ffmpeg",
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "color=c=gray:s=64x64:r=1:d=2",
            "-c:v",
            "png",
            str(path),
        ],
        check=True,
    )
    data = bytearray(path.read_bytes())
    at, patched = 0, 0
    while (at := data.find(b"IHDR", at + 1)) > 0:  # each picture's header chunk
        struct.pack_into(">II", data, at + 4, width, height)
        patched += 1
    assert patched == 2, "not the two PNG pictures FFmpeg writes"
    path.write_bytes(bytes(data))
    return path
