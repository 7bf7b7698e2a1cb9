"""Poster frames: one small JPEG per video, grabbed once when the video is stored.

The grab follows the media module's rules for users' files: only the `file` protocol (or,
for a SignedURL the server made, only http(s)), and the demuxer the first probe found.
"""

from pathlib import Path, PurePosixPath

import ffmpeg

from .media import FFmpegError, SignedURL, input_of, run_ffmpeg, without_file_name
from .tools import tools

FOLDER = "thumbs"
WIDTH = 320
# Early enough to exist in any clip, late enough to skip a fade from black.
POSITION = 0.1
TIMEOUT = 60  # seconds; one frame near a keyframe takes a fraction of that


def poster_name(video_name: str) -> str:
    """`thumbs/<video's stem>.jpg`; the storage makes it unique when it saves."""
    return f"{FOLDER}/{PurePosixPath(video_name).stem}.jpg"


def poster_args(*, source: Path | SignedURL, demuxer: str, at: float, output: Path) -> list[str]:
    """Seek in the input (fast), take one frame, shrink it to WIDTH keeping its shape."""
    protocols, name = input_of(source)
    source_input = ffmpeg.input(name, f=demuxer, protocol_whitelist=protocols, ss=f"{at:.3f}")
    return poster_output(source_input["v:0"], output).compile(
        cmd=tools.ffmpeg, overwrite_output=True
    )


def poster_output(frames: ffmpeg.nodes.Stream, output: Path) -> ffmpeg.nodes.OutputStream:
    """The first of `frames` (an input's picture), shrunk to WIDTH keeping its shape."""
    frame = frames.filter("scale", f"min({WIDTH},iw)", -2).filter("setsar", 1)
    return ffmpeg.output(frame, str(output), vframes=1, f="image2", update=1, **{"q:v": 4})


def poster_grab(*, source: Path | SignedURL, demuxer: str, duration: float, output: Path) -> Path:
    """Write the poster frame of a video (a local file, or one read through a SignedURL)
    to output; FFmpegError if there is none."""
    try:
        run_ffmpeg(
            poster_args(source=source, demuxer=demuxer, at=duration * POSITION, output=output),
            timeout=TIMEOUT,
        )
    except FFmpegError as error:
        if isinstance(source, SignedURL):  # its message is logged: never with the signature
            raise FFmpegError(without_file_name(str(error), source)) from None
        raise
    # A seek past the last decodable frame makes FFmpeg succeed without writing anything.
    if not output.is_file() or output.stat().st_size == 0:
        raise FFmpegError("no frame could be decoded for the poster")
    return output
