"""Chunked encodes: one long encode of a source's span (the whole source for an encode, a
part of a normalised join or edit) split at the source's keyframes into chunks that are
encoded apart (on any worker) and joined by stream copy into the video a single encode
makes: every output frame once, continuous timestamps, the sound encoded once.

How a chunk stays frame-exact: it is cut by *output* frame index, after the picture
went through the same scale / pad / fps filters as a single encode's, with the source's
timestamps kept as a single encode sees them (`-copyts -start_at_zero`). The fps filter
gives output frame n the source frame shown at n / rate whichever frame decoding started
at, so a chunk decoding from the keyframe at its start and keeping frames
[first_frame, end_frame) holds exactly those frames of the single encode. A span
starting at `start` seconds has its timestamps moved earlier by `start` at the demuxer
(`-itsoffset`), as the single encode's input seek moves them, and is cut to [0, its
length) by the same filter (normalize.span_picture).
"""

import hashlib
import math
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

import av
import ffmpeg

from . import cutscan, normalize
from .media import FORMATS, FFmpegError, SignedURL, file_url, input_of
from .pipelines import EXACT_SEEK_DEMUXERS, OutputPlan, audio_options, video_options
from .tools import tools

# Encoders whose chunks join by copy into one valid stream (constant quality, the same
# stream headers from the same settings, each chunk starting on a keyframe and referring
# to nothing outside it), and the container each one's chunks are written in meanwhile:
# one whose timestamps count whole frames (mp4's timescale, IVF's time base of one
# frame), so the join's stay exact. Matroska's milliseconds would round each chunk's
# length, the join drifting a millisecond a seam; mp4 cannot hold VP8 in FFmpeg 5.1.
CHUNK_CONTAINERS = {
    "libx264": "mp4",
    "libx265": "mp4",
    "libvpx": "ivf",
    "libvpx-vp9": "ivf",
    "libaom-av1": "ivf",
    "libsvtav1": "ivf",
}
CHUNK_DEMUXERS = {"mp4": "mov", "ivf": "ivf"}  # a chunk container's muxer: its extension
# Encoders told to make the chunk's first frame a keyframe. VP8, VP9 and AV1 streams
# always start with one, and libaom told so at frame 0 makes frame 1 a second one.
FORCED_FIRST_KEYFRAME = {"libx264", "libx265"}
# Containers the join writes.
JOINED_CONTAINERS = {"mp4", "mov", "mkv", "webm"}
SEEK_PAST_KEYFRAME = 0.0005  # seconds: less than any frame; a seek lands on the keyframe
LIST_NAME = "chunks.txt"


@dataclass(frozen=True)
class Sound:
    """The sound muxed in at the join, made once over the whole span: `args` write it
    into `path`, beside the chunks."""

    path: Path
    args: list[str]


@dataclass(frozen=True)
class Chunk:
    """Output frames [first_frame, end_frame) (end None: to the end), decoded from the
    source's keyframe at `seek` seconds from its start."""

    index: int
    first_frame: int
    end_frame: int | None
    seek: float


def refusal(*, plan: OutputPlan, demuxer: str) -> str | None:
    """Why an encode to `plan` is not split, or None if it can be."""
    if plan.video_encoder not in CHUNK_CONTAINERS:
        return f"{plan.video_encoder} chunks are not joined by copy here"
    if plan.extension not in JOINED_CONTAINERS:
        return f"a {plan.extension} output is not joined from chunks here"
    if demuxer not in EXACT_SEEK_DEMUXERS:
        return "the source's container does not seek exactly to a keyframe"
    return None


def chunk_extension(plan: OutputPlan) -> str:
    """The container (its extension and muxer) the plan's chunks are written in."""
    return CHUNK_CONTAINERS[plan.video_encoder]


def first_frame(keyframe: float, frame_rate: str) -> int:
    """The output frame the source frame at `keyframe` seconds becomes: FFmpeg's fps
    filter rounds a time to the nearest frame, halves away from zero."""
    return math.floor(keyframe * Fraction(frame_rate) + Fraction(1, 2))


def split(
    *, keyframes: list[float], duration: float, frame_rate: str, chunk_seconds: float
) -> list[Chunk]:
    """Chunks of about `chunk_seconds`, each starting at the keyframe nearest to an equal
    share of the duration; [] when the source is not longer than two chunks or its
    keyframes are too sparse to make two."""
    if chunk_seconds <= 0 or duration <= 2 * chunk_seconds:
        return []
    count = round(duration / chunk_seconds)
    starts: list[float] = [0.0]
    inner = [time for time in keyframes if 0 < time < duration]
    for share in range(1, count):
        if not inner:
            break
        target = duration * share / count
        nearest = min(inner, key=lambda time: abs(time - target))
        if first_frame(nearest, frame_rate) > first_frame(starts[-1], frame_rate):
            starts.append(nearest)
    if len(starts) < 2:
        return []
    firsts = [first_frame(time, frame_rate) for time in starts]
    return [
        Chunk(
            index=index,
            first_frame=firsts[index],
            end_frame=firsts[index + 1] if index + 1 < len(starts) else None,
            seek=starts[index],
        )
        for index in range(len(starts))
    ]


def plan_chunks(
    *,
    source: Path,
    demuxer: str,
    plan: OutputPlan,
    duration: float,
    chunk_seconds: float,
    start: float = 0.0,
    end: float | None = None,
    facts: dict | None = None,
) -> tuple[list[Chunk], str | None]:
    """The chunks of an encode of `source`'s span [start, end) (end None: to its end,
    `duration`) to `plan`, or ([], why not). Frames count from the span's start.
    `facts`: the source's probe's stream facts (cutscan.scan)."""
    length = (duration if end is None else end) - start
    if chunk_seconds <= 0 or length <= 2 * chunk_seconds:  # 0: never split, nothing to log
        return [], None
    if reason := refusal(plan=plan, demuxer=demuxer):
        return [], reason
    try:
        packets = cutscan.scan(source, demuxer, facts).packets
    except cutscan.NotSmart as error:
        return [], error.reason
    keyframes = sorted(packet.time for packet in packets if packet.safe_start)
    chunks = split(
        keyframes=[time - start for time in keyframes],
        duration=length,
        frame_rate=plan.frame_rate,
        chunk_seconds=chunk_seconds,
    )
    # The first chunk decodes from the keyframe at or before the span's start, as the
    # single encode's input seek does.
    lead = max((time for time in keyframes if time <= start), default=0.0)
    chunks = [replace(c, seek=c.seek + start if c.index else lead) for c in chunks]
    return chunks, None if chunks else "its keyframes are too far apart"


def chunk_args(
    *,
    source: Path | SignedURL,
    demuxer: str,
    plan: OutputPlan,
    chunk: Chunk,
    output: Path,
    start: float = 0.0,
    end: float | None = None,
) -> list[str]:
    """Encode one chunk's frames of the span [start, end) (both given, or neither: the
    whole source), picture only, with the plan's encoder settings. Through a SignedURL
    FFmpeg fetches only what the chunk decodes (HTTP range requests)."""
    protocols, name = input_of(source)
    options = {"f": demuxer, "protocol_whitelist": protocols}
    if start > 0:
        options["itsoffset"] = f"-{start:.6f}"  # the single encode's `-ss start`, in µs alike
    if chunk.seek > 0:
        options.update(ss=f"{chunk.seek + SEEK_PAST_KEYFRAME:.6f}", noaccurate_seek=None)
    source_input = ffmpeg.input(name, **options)
    # After the fps filter a frame's timestamp is its index (time base 1 / rate).
    trim = {"start_pts": chunk.first_frame}
    if chunk.end_frame is not None:
        trim["end_pts"] = chunk.end_frame
    length = None if end is None else end - start
    picture = (
        normalize.span_picture(source_input["v:0"], plan, length=length)
        .filter("trim", **trim)
        .filter("setpts", "PTS-STARTPTS")
    )
    return (
        ffmpeg.output(
            picture,
            str(output),
            **video_options(plan),
            **({"force_key_frames": "0"} if plan.video_encoder in FORCED_FIRST_KEYFRAME else {}),
            f=chunk_extension(plan),
        )
        .global_args("-copyts", "-start_at_zero")
        .compile(cmd=tools.ffmpeg, overwrite_output=True)
    )


def sound_args(*, source: Path, demuxer: str, plan: OutputPlan, output: Path) -> list[str]:
    """The sound of the whole source, encoded once (per-chunk sound would click at every
    seam: each encode's priming)."""
    source_input = ffmpeg.input(file_url(source), f=demuxer, protocol_whitelist="file")
    return ffmpeg.output(
        source_input["a:0"], str(output), **audio_options(plan), f=FORMATS[plan.extension].muxer
    ).compile(cmd=tools.ffmpeg, overwrite_output=True)


def concat_list(chunk_files: list[Path]) -> str:
    """The concat demuxer's list: the chunks by their generated names, in order."""
    return "".join(f"file '{path.name}'\n" for path in chunk_files)


def join_args(
    *, list_file: Path, extension: str, sound: Path | None, options: dict, output: Path
) -> list[str]:
    """The encoded chunks (listed in `list_file`, beside it, in the `extension`
    container) joined by copy, with the sound muxed in: one file written with `options`
    (its muxer's, the caller's)."""
    parts = ffmpeg.input(
        str(list_file),
        f="concat",
        safe=1,
        protocol_whitelist="file",
        format_whitelist=f"concat,{CHUNK_DEMUXERS[extension]}",
    )
    streams = [parts["v:0"]]
    if sound is not None:
        demuxers = FORMATS[sound.suffix.removeprefix(".")].demuxers
        sound_input = ffmpeg.input(
            file_url(sound), f=sorted(demuxers)[0], protocol_whitelist="file"
        )
        streams.append(sound_input["a:0"])
    return ffmpeg.output(*streams, str(output), c="copy", **options).compile(
        cmd=tools.ffmpeg, overwrite_output=True
    )


def _stream_header(path: Path) -> dict:
    """What a decoder of the joined stream learns from its first chunk only (the concat
    demuxer keeps the first file's stream parameters): its codec private data (avcC,
    hvcC, av1C) and the profile, level and picture format a muxer writes VP8's and VP9's
    from. Read in this process: an ffprobe per chunk cost ~0.1 s each on the join's path."""
    try:
        with av.open(str(path)) as container:
            context = container.streams.video[0].codec_context
            return {
                "codec_name": context.name,
                "profile": context.profile,
                "level": context.level,
                "pix_fmt": context.pix_fmt,
                "width": context.width,
                "height": context.height,
                "color_range": context.color_range,
                "color_space": context.colorspace,
                "color_transfer": context.color_trc,
                "color_primaries": context.color_primaries,
                "extradata": hashlib.sha256(context.extradata or b"").hexdigest(),
            }
    except (av.FFmpegError, IndexError) as error:
        raise FFmpegError(f"an encoded chunk cannot be read: {error}") from error


def header_difference(chunk_files: list[Path]) -> str | None:
    """Why encoded chunks do not join into one stream, their headers differing (the
    same settings make the same ones, but not an encoder of another version on another
    worker), or None."""
    first = _stream_header(chunk_files[0])
    for index, path in enumerate(chunk_files[1:], start=1):
        header = _stream_header(path)
        if differs := [field for field in first if header[field] != first[field]]:
            return f"chunk {index}'s stream differs from the first one's in {', '.join(differs)}"
    return None


def frame_count(path: Path) -> int:
    """How many pictures an encoded chunk holds (its packets: no decoding)."""
    try:
        with av.open(str(path)) as container:
            return sum(1 for packet in container.demux(video=0) if packet.size)
    except av.FFmpegError as error:
        raise FFmpegError(f"an encoded chunk cannot be read: {error}") from error
