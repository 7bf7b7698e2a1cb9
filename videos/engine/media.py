"""Running ffprobe and ffmpeg on users' files, safely.

Every call over a user's file allows only the `file` protocol; the probe and the poster
grab may read a SignedURL instead, a link to the file that this server made itself, and
then allow http(s) and what carries them, nothing else. The first probe allows
only the demuxers of our formats (so a playlist named .avi is never opened as one);
later calls name the demuxer that probe found.
"""

import errno
import json
import logging
import math
import os
import re
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Protocol

import av

from .tools import tools

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Format:
    muxer: str  # what `-f` names when writing this format
    demuxers: frozenset[str]  # what ffprobe may report (first name of format_name)


# The formats the service takes, by file extension.
FORMATS = {
    "mp4": Format("mp4", frozenset({"mov"})),
    "mov": Format("mov", frozenset({"mov"})),
    "3gp": Format("3gp", frozenset({"mov"})),
    "mkv": Format("matroska", frozenset({"matroska"})),
    "webm": Format("webm", frozenset({"matroska"})),
    "avi": Format("avi", frozenset({"avi"})),
    "wmv": Format("asf", frozenset({"asf"})),
    "flv": Format("flv", frozenset({"flv"})),
    "mpeg": Format("mpeg", frozenset({"mpeg", "mpegts"})),
    # MPEG transport streams: broadcast captures (.ts) and AVCHD cameras (.m2ts, .mts,
    # 192-byte packets, which the same demuxer reads).
    "ts": Format("mpegts", frozenset({"mpegts"})),
    "m2ts": Format("mpegts", frozenset({"mpegts"})),
    "mts": Format("mpegts", frozenset({"mpegts"})),
}
ALLOWED_DEMUXERS = ",".join(sorted(set().union(*(f.demuxers for f in FORMATS.values()))))

MAX_DIMENSION = 8192
# Probing decodes a few pictures: a decoder refuses one of more pixels than this before it
# allocates it (a 1 KB PNG may declare 16000x16000, 1 GB), saying so in these words.
MAX_DECODED_PIXELS = MAX_DIMENSION * MAX_DIMENSION
OVERSIZED_PICTURE = "exceeds specified max pixel count"
MAX_STREAMS = 32
MAX_DURATION = 24 * 3600  # seconds; a video whose packets span more is out of our league
# A duration is measured from the packets, as a header may claim ten hours for two seconds
# of pictures, or two seconds for ten hours of them: the first packets say where the
# streams start, and a seek this far past them (beyond any end we accept) lands on the last
# keyframe, from which the rest of the file is read to its end. A header's duration is kept
# only when the packets agree with it, within the larger of these (a header's is what
# FFmpeg lays a file out by, e.g. when joining; it knows where the last sound ends).
HEAD_PACKETS = 64
SEEK_PAST_HEAD = 2 * MAX_DURATION
HEAD_AND_TAIL = f"%+#{HEAD_PACKETS},+{SEEK_PAST_HEAD}%"  # ffprobe's -read_intervals
HEADER_SLACK = 0.25  # seconds
HEADER_SLACK_SHARE = 0.005  # of the packets' span
PACKET_FIELDS = ("stream_index", "pts_time", "dts_time", "duration_time", "flags")
PACKET_ENTRIES = f"packet={','.join(PACKET_FIELDS)}"
STDERR_TAIL_LINES = 30
# What FFmpeg and its libraries print when an allocation fails (or, for a thread's stack,
# pthread_create's EAGAIN).
OUT_OF_MEMORY_SIGNS = (
    "Cannot allocate memory",
    "Out of memory",
    "malloc of size",
    "Resource temporarily unavailable",
)
BORING_LINES = {"Conversion failed!", "Exiting normally, received signal 15."}
ERROR_WORDS_RE = re.compile(
    r"error|invalid|not (compatible|supported|permitted|found)|unsupported|could not|"
    r"cannot|no such|does not|only .* (is|are) supported|too (large|big|small)",
    re.IGNORECASE,
)


class ProbeError(Exception):
    """The file is not a video we can work on; the message says why."""


class FFmpegError(Exception):
    """FFmpeg failed; the message carries the useful tail of its stderr."""

    @property
    def reason(self) -> str:
        """The first line that says what went wrong, without object addresses."""
        lines = [
            re.sub(r" @ 0x[0-9a-f]+\]", "]", line.strip())
            for line in str(self).splitlines()
            if line.strip() and line.strip() not in BORING_LINES
        ]
        telling = [line for line in lines if ERROR_WORDS_RE.search(line)]
        return (telling or lines or ["FFmpeg failed"])[0 if telling else -1][:300]


class FFmpegCancelled(FFmpegError):
    """FFmpeg was stopped on request."""


class FFmpegInterrupted(FFmpegError):
    """FFmpeg did not end on its own (stopped at its time limit, or killed by a signal):
    this says nothing about whether it could do the work."""


@dataclass(frozen=True)
class ProbeResult:
    container: str  # ffprobe's format_name, e.g. "mov,mp4,m4a,3gp,3g2,mj2"
    demuxer: str  # the one name to pass to -f for later reads, e.g. "mov"
    duration: float  # seconds
    size: int
    bit_rate: int | None
    video_codec: str
    video_profile: str
    width: int
    height: int
    pix_fmt: str
    sample_aspect_ratio: str
    frame_rate: str  # the average, exact, as a fraction "30000/1001"
    base_frame_rate: str  # the stream's tick rate; equal to the average unless variable
    time_base: str
    rotation: int
    audio_codec: str | None
    audio_sample_rate: int | None
    audio_channels: int | None
    audio_channel_layout: str
    # The video stream's parameters a smart cut's re-encoded parts must share, as ffprobe
    # says them (STREAM_FACTS, and the file's start_time): kept, a cut need not ask again.
    stream_facts: dict = field(default_factory=dict)

    @property
    def fps(self) -> float:
        return float(Fraction(self.frame_rate)) if self.frame_rate else 0.0


class MediaFacts(Protocol):
    """What the engine reads of a video: a stored one (videos.models.Video), or what a
    pending job will produce (jobs.dependencies.PlannedVideo)."""

    extension: str
    demuxer: str
    duration: float
    video_codec: str
    video_profile: str
    width: int
    height: int
    pix_fmt: str
    sample_aspect_ratio: str
    frame_rate: str
    base_frame_rate: str
    rotation: int
    audio_codec: str | None
    audio_sample_rate: int | None
    audio_channels: int | None
    audio_channel_layout: str

    @property
    def label(self) -> str: ...  # how messages name it: "video 13"

    @property
    def fps(self) -> float: ...


def file_url(path: str | os.PathLike) -> str:
    """An input name FFmpeg cannot mistake for a protocol URL or an option."""
    return "file:" + str(Path(path).resolve())


@dataclass(frozen=True)
class SignedURL:
    """An http(s) link to a file that this server made itself (a presigned link to an
    object in its own bucket), read with range requests instead of copied here first.
    Never a user's URL: that would let a user make the server fetch anything."""

    url: str

    def __post_init__(self):
        if not self.url.startswith(("http://", "https://")):
            raise ValueError("a SignedURL is an http(s) link")


# What FFmpeg may read a SignedURL through: the link's own protocol and its transport.
SIGNED_URL_PROTOCOLS = "http,https,tcp,tls"


def input_of(source: str | os.PathLike | SignedURL) -> tuple[str, str]:
    """The protocols FFmpeg may use for a source, and the input name to give it."""
    if isinstance(source, SignedURL):
        return SIGNED_URL_PROTOCOLS, source.url
    return "file", file_url(source)


def probe(
    path: str | os.PathLike | SignedURL, *, demuxer: str | None = None, sound_only: bool = False
) -> ProbeResult:
    """Probe a file; raise ProbeError unless it is a real video in one of our containers
    (or, with sound_only, sound alone: an encode's audio-only result, whose picture fields
    are empty). ffprobe runs as FFmpeg does: capped in memory, killed with the process
    that ran it."""
    protocols, name = input_of(path)
    args = [tools.ffprobe, "-v", "error", "-protocol_whitelist", protocols]
    args += ["-max_pixels", str(MAX_DECODED_PIXELS)]
    args += ["-f", demuxer] if demuxer else ["-format_whitelist", ALLOWED_DEMUXERS]
    args += ["-show_format", "-show_streams", "-of", "json"]
    # The first and last packets, which measure its duration (_head_and_tail), come with
    # the same run: an ffprobe costs a tenth of a second to start. Where reading them
    # fails (a seek to the end some file refuses), it is asked again without them.
    packets = [*args, "-show_entries", PACKET_ENTRIES, "-read_intervals", HEAD_AND_TAIL]
    completed = _run_probe([*packets, name])
    with_packets = completed.returncode == 0
    if not with_packets:
        completed = _run_probe([*args, name])
    stderr = completed.stderr.decode(errors="replace")
    if OVERSIZED_PICTURE in stderr:
        raise ProbeError(f"its pictures are larger than {MAX_DIMENSION}x{MAX_DIMENSION}")
    if completed.returncode != 0:
        if tools.memory_limit_mb and any(sign in stderr for sign in OUT_OF_MEMORY_SIGNS):
            raise ProbeError(
                f"probing it needs more than the {tools.memory_limit_mb} MB this server "
                "allows one FFmpeg (FFMPEG_MEMORY_LIMIT_MB)"
            )
        reason = without_file_name(stderr, path).strip().splitlines()
        raise ProbeError(f"FFmpeg cannot read it ({reason[-1] if reason else 'ffprobe failed'})")
    data = json.loads(completed.stdout or b"{}")
    read = [
        [str(packet.get(entry, "")) for entry in PACKET_FIELDS]
        for packet in data.get("packets", [])
    ]
    return _parse_probe(
        data,
        measure_duration=lambda timed: _duration_from_packets(
            path, timed, read if with_packets else None
        ),
        sound_only=sound_only,
    )


ATTACHED_PICTURE = av.stream.Disposition.attached_pic  # a cover picture, not the video
MADE_READ_WHOLE = 1024  # packets: a made file of fewer is read whole, cheaper than a seek


def probe_made(path: Path, *, sound_only: bool = False) -> ProbeResult:
    """Probe a file this server has just written, in-process (PyAV): what `probe` finds,
    in ffprobe's words for it, and checked alike, without the tenth of a second an
    ffprobe costs to start (which a short job feels). Its stream facts are left for a
    cut to ask ffprobe: PyAV's libraries name some of them otherwise."""
    try:
        data, packets = _read_made(path)
    except av.FFmpegError as error:
        raise ProbeError(f"FFmpeg cannot read it ({error})") from None

    def measure(timed: TimedStreams) -> float | None:
        if len(packets) < MADE_READ_WHOLE:  # every packet was read
            return _span(_times_of(packets, _lengths(timed)), timed)
        return _duration_from_packets(path, timed, packets)

    found = _parse_probe(data, measure_duration=measure, sound_only=sound_only)
    return replace(found, stream_facts={})  # not all of them are read here


def _read_made(path: Path) -> tuple[dict, list[list[str]]]:
    """ffprobe's -show_format -show_streams JSON of a file, and every packet's
    PACKET_FIELDS, as ffprobe prints them, from PyAV."""

    def seconds(stamp: int | None, time_base: Fraction) -> str:
        return "" if stamp is None else f"{stamp * time_base.numerator / time_base.denominator:.6f}"

    def ratio(value: Fraction, separator: str = "/") -> str:
        return f"{value.numerator}{separator}{value.denominator}"

    def fields(packet: av.Packet) -> list[str]:
        return [
            str(packet.stream.index),
            seconds(packet.pts, packet.time_base),
            seconds(packet.dts, packet.time_base),
            seconds(packet.duration or None, packet.time_base),
            "D" if packet.is_discard else "_",
        ]

    with av.open(str(path), options={"protocol_whitelist": "file"}) as container:
        packets, first = [], {}
        for packet in container.demux():
            packets.append(fields(packet))
            if packet.size and packet.stream.index not in first:
                first[packet.stream.index] = bytes(packet)[:1]
            if len(packets) == MADE_READ_WHOLE:
                # A long file: its head, and from its last keyframe on (as probe reads)
                del packets[HEAD_PACKETS:]
                container.seek(SEEK_PAST_HEAD * av.time_base, backward=True)
                packets += [fields(packet) for packet in container.demux()]
                break
        streams = []
        for stream in container.streams:
            context = stream.codec_context
            entry = {
                "index": stream.index,
                "codec_type": stream.type,
                "codec_name": context.codec.canonical_name,
                "time_base": ratio(stream.time_base),
                "disposition": {"attached_pic": int(bool(stream.disposition & ATTACHED_PICTURE))},
            }
            if stream.start_time is not None:
                entry["start_time"] = seconds(stream.start_time, stream.time_base)
            if stream.type == "video":
                profile = context.profile or ""
                if entry["codec_name"] == "vp8" and first.get(stream.index):
                    # ffprobe numbers the profiles FFmpeg does not name: VP8's is in bits
                    # 1-3 of its frames' first byte (RFC 6386, 9.1).
                    profile = str(first[stream.index][0] >> 1 & 7)
                entry |= {
                    "profile": profile,
                    "width": context.width,
                    "height": context.height,
                    "pix_fmt": context.pix_fmt or "",
                    "avg_frame_rate": ratio(stream.average_rate or Fraction(0)),
                    "r_frame_rate": ratio(stream.base_rate or Fraction(0)),
                }
                if shape := stream.sample_aspect_ratio or context.sample_aspect_ratio:
                    entry["sample_aspect_ratio"] = ratio(shape, ":")
                if rotation := _display_rotation(path, container.format.name):
                    entry["side_data_list"] = [{"rotation": rotation}]
            elif stream.type == "audio":
                layout = context.layout
                entry |= {"sample_rate": str(context.sample_rate), "channels": context.channels}
                if layout.name != f"{layout.nb_channels} channels":  # ffprobe: no order known
                    entry["channel_layout"] = layout.name
            streams.append(entry)
        fmt = {
            "format_name": container.format.name,
            "size": str(container.size),
            "bit_rate": str(container.bit_rate),
        }
        if container.duration is not None:
            fmt["duration"] = f"{container.duration / av.time_base:.6f}"
    return {"format": fmt, "streams": streams}, packets


def _display_rotation(path: Path, container: str) -> int:
    """How far a MOV-family file's picture is turned, as ffprobe says it: its video
    track's display matrix (in its tkhd box), which PyAV shows only on a decoded
    picture (a 1080p one costs 20-30 ms). The other containers carry none."""
    if not container.startswith("mov,"):
        return 0
    with open(path, "rb") as file:
        movie = _top_box(file, b"moov") or b""
    for kind, track in _boxes(movie):
        parts = dict(_boxes(track)) if kind == b"trak" else {}
        handler = dict(_boxes(parts.get(b"mdia", b""))).get(b"hdlr", b"")
        header = parts.get(b"tkhd", b"")
        if handler[8:12] != b"vide" or not header:
            continue
        at = 4 + (32 if header[0] == 1 else 20) + 16  # past the times, layer and volume
        a, b, _, c, d = (
            int.from_bytes(header[at + 4 * index : at + 4 * index + 4], "big", signed=True)
            for index in range(5)
        )
        if not (math.hypot(a, c) and math.hypot(b, d)):
            return 0
        # av_display_rotation_get's angle, and its sign
        turn = math.degrees(math.atan2(b / math.hypot(b, d), a / math.hypot(a, c)))
        return int(-turn)
    return 0


def _top_box(file, kind: bytes) -> bytes | None:
    """The payload of a file's first top-level ISO BMFF box of `kind`, skipping others."""
    while len(header := file.read(8)) == 8:
        size, name, consumed = int.from_bytes(header[:4], "big"), header[4:], 8
        if size == 1:
            size, consumed = int.from_bytes(file.read(8), "big"), 16
        if size == 0:  # to the end of the file
            return file.read() if name == kind else None
        if size < consumed:
            return None
        if name == kind:
            return file.read(size - consumed)
        file.seek(size - consumed, os.SEEK_CUR)
    return None


def _boxes(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    """The boxes in a box's payload: (kind, payload)."""
    position = 0
    while position + 8 <= len(data):
        size, consumed = int.from_bytes(data[position : position + 4], "big"), 8
        if size == 1:
            size, consumed = int.from_bytes(data[position + 8 : position + 16], "big"), 16
        size = size or len(data) - position
        if size < consumed:
            return
        yield data[position + 4 : position + 8], data[position + consumed : position + size]
        position += size


def _run_probe(args: list[str]) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(
            confined(args),
            capture_output=True,
            timeout=tools.probe_timeout,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise ProbeError("probing took too long") from None


@dataclass(frozen=True)
class TimedStreams:
    """What measuring a file's duration needs from its first probe."""

    demuxer: str
    video: int  # the video stream's index
    frame_length: float  # seconds: the length of a video packet that does not say
    audio: int | None  # the audio stream's index
    start_times: dict[int, float]  # FFmpeg's start time of those two, when it gives one


@dataclass
class _PacketTimes:
    starts: dict[int, float]  # per stream, the earliest time one of its packets is shown
    ends: dict[int, float]  # per stream, the latest end of one of its packets
    started_in_head: set[int]  # streams shown by a packet among the first HEAD_PACKETS read
    read_after_head: set[int]  # streams with a packet (shown or not) read after those
    packets: int = 0  # how many were read, of every stream


def _duration_from_packets(
    path: str | os.PathLike | SignedURL, timed: TimedStreams, read: list[list[str]] | None = None
) -> float | None:
    """How long the video really lasts, by its packets' timestamps: from the first time its
    video or audio shows something to the end of the last of their packets (its time plus
    its duration); packets a player discards (an encoder's priming, an edit list's pre-roll)
    do not count. None when the video stream has no timed packet.

    Cheap for big files (_head_and_tail; `read`: its packets' fields, where the probe
    read them already); every packet is read when that cannot be trusted. Demuxes only;
    ProbeError when it takes longer than a probe may.
    """
    deadline = time.monotonic() + tools.probe_timeout
    lengths = _lengths(timed)
    times = _head_and_tail(path, timed, lengths, deadline, read) or _packet_times(
        path, timed.demuxer, lengths, deadline, None
    )
    return _span(times, timed)


def _lengths(timed: TimedStreams) -> dict[int, float]:
    """The streams a duration is measured on: index -> the length of one of its packets
    that does not say."""
    lengths = {timed.video: timed.frame_length}
    if timed.audio is not None:
        lengths[timed.audio] = 0.0  # an audio packet that does not say ends where it starts
    return lengths


def _span(times: _PacketTimes | None, timed: TimedStreams) -> float | None:
    """From the first time shown to the end of the last packet; None without a picture."""
    if times is None or timed.video not in times.starts:
        return None
    return round(max(times.ends.values()) - min(times.starts.values()), 6)


def _head_and_tail(
    path: str | os.PathLike | SignedURL,
    timed: TimedStreams,
    lengths: dict[int, float],
    deadline: float,
    read: list[list[str]] | None,
) -> _PacketTimes | None:
    """The first packets, then a seek far past them, which lands on the last keyframe, and
    every packet from there to the end of the file. None when that cannot be trusted to
    have found where the streams start and end: ffprobe failed; the seek found no picture
    (a demuxer without an index may seek to the very end; a file of few packets is read
    whole again, which is cheap); or a stream's start is neither among the first packets
    (a long pre-roll an edit list hides) nor given by FFmpeg (from its first packets)."""
    if read is None:
        times = _packet_times(path, timed.demuxer, lengths, deadline, HEAD_AND_TAIL)
    else:
        times = _times_of(read, lengths)
    if times is None or timed.video not in times.read_after_head:
        return None
    for index in times.starts.keys() - times.started_in_head:
        if index not in timed.start_times:
            return None
        times.starts[index] = min(times.starts[index], timed.start_times[index])
    return times


def _packet_times(
    path: str | os.PathLike | SignedURL,
    demuxer: str,
    lengths: dict[int, float],
    deadline: float,
    read_intervals: str | None,
) -> _PacketTimes | None:
    """When the packets of the streams in `lengths` (index: the length of one of its packets
    that does not say) are shown, in the whole file or in `read_intervals` (ffprobe's
    syntax); None when ffprobe fails."""
    protocols, name = input_of(path)
    args = [tools.ffprobe, "-v", "error", "-protocol_whitelist", protocols, "-f", demuxer]
    args += ["-max_pixels", str(MAX_DECODED_PIXELS)]
    args += ["-show_entries", PACKET_ENTRIES, "-of", "csv=p=0"]
    args += ["-read_intervals", read_intervals] if read_intervals else []
    found = None
    timed_out = threading.Event()
    with subprocess.Popen(
        confined([*args, name]),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        text=True,
    ) as scan:
        timer = threading.Timer(
            max(deadline - time.monotonic(), 0), lambda: (timed_out.set(), scan.kill())
        )
        timer.start()
        try:
            # one line a packet: streamed, a long file has millions
            found = _times_of((line.strip().split(",") for line in scan.stdout), lengths)
        finally:
            timer.cancel()
    if timed_out.is_set():
        raise ProbeError("probing took too long")
    return found if scan.returncode == 0 else None


def _times_of(packets: Iterable[list[str]], lengths: dict[int, float]) -> _PacketTimes:
    """What packets' fields (PACKET_FIELDS, in order) say of the streams in `lengths`."""
    found = _PacketTimes({}, {}, set(), set())
    for fields in packets:
        # (side data comes on lines apart)
        if len(fields) < 5 or not fields[0].isdigit():
            continue
        found.packets += 1
        index = int(fields[0])
        if found.packets > HEAD_PACKETS:
            found.read_after_head.add(index)
        shown = _float(fields[1])
        if shown is None:  # no presentation time: MPEG streams may give only dts
            shown = _float(fields[2])
        if index not in lengths or "D" in fields[4] or not _finite(shown):
            continue
        end = shown + (_float(fields[3]) or lengths[index])
        found.starts[index] = min(found.starts.get(index, shown), shown)
        found.ends[index] = max(found.ends.get(index, end), end)
        if found.packets <= HEAD_PACKETS:
            found.started_in_head.add(index)
    return found


# The picture fields of a file that has none (a sound-only result).
NO_PICTURE = {
    "video_codec": "",
    "video_profile": "",
    "width": 0,
    "height": 0,
    "pix_fmt": "",
    "sample_aspect_ratio": "",
    "frame_rate": "",
    "base_frame_rate": "",
    "time_base": "",
    "rotation": 0,
}


def _parse_probe(
    data: dict, *, measure_duration: Callable[[TimedStreams], float | None], sound_only: bool
) -> ProbeResult:
    fmt = data.get("format") or {}
    streams = data.get("streams") or []
    container = fmt.get("format_name", "")
    demuxer = container.split(",")[0]
    if demuxer not in ALLOWED_DEMUXERS.split(","):
        raise ProbeError(f"'{container}' is not a video container we accept")
    if len(streams) > MAX_STREAMS:
        raise ProbeError(f"too many streams ({len(streams)})")
    video = next(
        (
            s
            for s in streams
            if s.get("codec_type") == "video" and not s.get("disposition", {}).get("attached_pic")
        ),
        None,
    )
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    if video is None and not (sound_only and audio):
        raise ProbeError("it has no video stream")
    picture = _picture(video) if video else NO_PICTURE
    # The header's durations are claims: the packets say how long it lasts (by its
    # sound's when it has no picture).
    timed = video or audio
    measured = measure_duration(
        TimedStreams(
            demuxer=demuxer,
            video=int(timed["index"]),
            frame_length=float(1 / Fraction(picture["frame_rate"])) if video else 0.0,
            audio=int(audio["index"]) if audio and video else None,
            start_times={
                int(stream["index"]): start
                for stream in (video, audio)
                if stream and _finite(start := _float(stream.get("start_time")))
            },
        )
    )
    if not measured or measured <= 0:
        raise ProbeError("it has no duration")
    duration = claimed = _float(fmt.get("duration"))
    if not claimed or abs(claimed - measured) > max(HEADER_SLACK, HEADER_SLACK_SHARE * measured):
        if claimed:
            logger.info("header claims %.3f s, packets %.3f s (%s)", claimed, measured, demuxer)
        duration = measured
    if duration > MAX_DURATION:
        raise ProbeError(f"it lasts {duration:.0f} s, more than {MAX_DURATION} s")
    return ProbeResult(
        container=container,
        demuxer=demuxer,
        duration=duration,
        size=int(fmt.get("size") or 0),
        bit_rate=int(fmt["bit_rate"]) if str(fmt.get("bit_rate", "")).isdigit() else None,
        **picture,
        audio_codec=audio.get("codec_name") if audio else None,
        audio_sample_rate=int(audio["sample_rate"]) if audio and audio.get("sample_rate") else None,
        audio_channels=int(audio["channels"]) if audio and audio.get("channels") else None,
        audio_channel_layout=(audio or {}).get("channel_layout", ""),
        stream_facts=stream_facts(video, fmt) if video else {},
    )


# What of ffprobe's video stream a smart cut's parts must share (cutscan.source_stream).
STREAM_FACTS = (
    "codec_name",
    "profile",
    "level",
    "pix_fmt",
    "field_order",
    "has_b_frames",
    "time_base",
    "r_frame_rate",
    "color_range",
    "color_space",
    "color_transfer",
    "color_primaries",
    "codec_tag_string",
    "sample_aspect_ratio",
)


def stream_facts(video: dict, fmt: dict) -> dict:
    """ffprobe's video stream fields a smart cut reads, and the file's start time."""
    facts = {key: video[key] for key in STREAM_FACTS if key in video}
    if "start_time" in fmt:
        facts["start_time"] = fmt["start_time"]
    return facts


def _picture(video: dict) -> dict:
    """The probe's fields of a video stream, checked."""
    width, height = int(video.get("width") or 0), int(video.get("height") or 0)
    if not (0 < width <= MAX_DIMENSION and 0 < height <= MAX_DIMENSION):
        raise ProbeError(f"unsupported picture size {width}x{height}")
    frame_rate = _frame_rate(video, "avg_frame_rate", "r_frame_rate")
    if not frame_rate:
        raise ProbeError("it has no frame rate")
    return {
        "video_codec": video.get("codec_name", ""),
        "video_profile": video.get("profile", ""),
        "width": width,
        "height": height,
        "pix_fmt": video.get("pix_fmt", ""),
        "sample_aspect_ratio": video.get("sample_aspect_ratio", ""),
        "frame_rate": frame_rate,
        "base_frame_rate": _frame_rate(video, "r_frame_rate", "avg_frame_rate"),
        "time_base": video.get("time_base", ""),
        "rotation": _rotation(video),
    }


def _float(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _frame_rate(video: dict, *keys: str) -> str:
    """The first of ffprobe's rates under `keys` that is a sensible fraction."""
    for key in keys:
        num, _, den = (video.get(key) or "0/0").partition("/")
        if num.isdigit() and den.isdigit() and int(num) and int(den):
            rate = Fraction(int(num), int(den))
            if 0 < rate <= 1000:
                return f"{rate.numerator}/{rate.denominator}"
    return ""


def _rotation(video: dict) -> int:
    for side_data in video.get("side_data_list") or []:
        if "rotation" in side_data:
            return int(side_data["rotation"])
    return int(video.get("tags", {}).get("rotate", 0) or 0)


def run_ffmpeg(
    args: list[str],
    *,
    duration: float | None = None,
    on_progress: Callable[[float], None] | None = None,
    should_cancel: Callable[[], bool] | None = None,
    timeout: float | None = None,
) -> None:
    """Run one FFmpeg command to completion, reporting progress as a fraction 0..1.

    FFmpeg runs in its own process group so that a cancel or a timeout stops all of it.
    Raises FFmpegCancelled when should_cancel() turns true, FFmpegError on failure.
    """
    args = [args[0], "-hide_banner", "-nostdin", "-nostats", "-progress", "pipe:1", *args[1:]]
    args = with_threads(args)
    logger.debug("running %s", args)
    process = subprocess.Popen(
        confined(args),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        text=True,
        errors="replace",
    )
    stderr_tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
    # Drain stderr concurrently: a full pipe would stall FFmpeg.
    reader = threading.Thread(target=stderr_tail.extend, args=(process.stderr,), daemon=True)
    reader.start()
    time_limit = timeout or tools.time_limit
    timed_out = threading.Event()
    timer = threading.Timer(time_limit, lambda: (timed_out.set(), _stop(process)))
    timer.start()
    cancelled = False
    try:
        for line in process.stdout:
            key, _, value = line.strip().partition("=")
            if key == "out_time_us" and duration and on_progress and value.lstrip("-").isdigit():
                on_progress(min(max(int(value) / 1e6 / duration, 0.0), 1.0))
            elif key == "progress" and should_cancel and should_cancel():
                cancelled = True
                _stop(process)
                break
        process.wait()
    finally:
        timer.cancel()
        if process.poll() is None:
            _stop(process)
        reader.join(timeout=5)
    if cancelled:
        raise FFmpegCancelled("cancelled")
    if process.returncode != 0:
        _raise_failure(process.returncode, "".join(stderr_tail), timed_out.is_set(), time_limit)
    if on_progress:
        on_progress(1.0)


def with_threads(args: list[str]) -> list[str]:
    """FFmpeg's arguments with its decoders (a -threads before each input) and filters
    held to tools.threads (FFMPEG_THREADS); encoders take it from their own options
    (pipelines.video_options). Unchanged when it is not set."""
    if not tools.threads:
        return args
    count = str(tools.threads)
    limited = [args[0], "-filter_threads", count, "-filter_complex_threads", count]
    for arg in args[1:]:
        limited += ["-threads", count, arg] if arg == "-i" else [arg]
    return limited


def _raise_failure(returncode: int, stderr: str, timed_out: bool, time_limit: float) -> None:
    """The error for a failed run: out of disk, out of its memory, stopped, or refused."""
    if "No space left on device" in stderr:
        raise OSError(errno.ENOSPC, "No space left on device")
    memory_limit = tools.memory_limit_mb
    if memory_limit and any(sign in stderr for sign in OUT_OF_MEMORY_SIGNS):
        raise FFmpegError(
            f"FFmpeg ran out of memory: this server allows one FFmpeg {memory_limit} MB "
            "(FFMPEG_MEMORY_LIMIT_MB)"
        )
    if timed_out:
        raise FFmpegInterrupted(f"FFmpeg was stopped after {time_limit:g} s")
    if returncode < 0:
        name = signal.strsignal(-returncode) or f"signal {-returncode}"
        raise FFmpegInterrupted(
            f"FFmpeg was killed ({name})"
            + (f" (it may have outgrown its {memory_limit} MB of memory)" if memory_limit else "")
        )
    raise FFmpegError(hide_paths(stderr).strip()[-2000:] or f"FFmpeg exited with {returncode}")


def hide_paths(text: str) -> str:
    """FFmpeg's words without this server's folders: a file in scratch or in the media
    folder is named by its own name alone, as users may see these messages."""
    for folder in tools.private_folders:
        text = re.sub(rf"(file:)?{re.escape(str(Path(folder).resolve()))}/(\S*/)?", "", text)
    return text


def without_file_name(text: str, path: str | os.PathLike | SignedURL) -> str:
    """FFmpeg's words about one file without its name: the caller names it as its user
    knows it (an upload's scratch copy is "tmpk2x8.upload.mp4"; its user sent "clip.mp4";
    a SignedURL's signature is no one's to see).
    FFmpeg starts a line with the name ("<file>: Invalid data ..."), or says it mid-line."""
    if isinstance(path, SignedURL):
        name = re.escape(path.url)
    else:
        resolved = re.escape(str(Path(path).resolve()))
        given = re.escape(str(path))
        name = rf"(?:file:)?(?:{resolved}|{given})"
    text = re.sub(rf"(?m)^\s*{name}:\s*", "", text)
    return hide_paths(re.sub(name, "the file", text))


def confined(args: list[str]) -> list[str]:
    """`args` run so that if the process running the job is killed (a worker lost with
    SIGKILL), the kernel kills FFmpeg (or ffprobe) too instead of leaving it encoding for
    no one; and with its address space capped, so an overrun fails this job (or probe),
    not the machine. util-linux's setpriv and prlimit set both and exec into it: Python
    code run in the child before exec (preexec_fn) would make every start fork this
    process's whole address space, about 12 ms, where the standard library otherwise
    spawns with vfork."""
    wrapper = ["setpriv", "--pdeathsig", "KILL"]
    if tools.memory_limit_mb:
        wrapper += ["prlimit", f"--as={tools.memory_limit_mb * 1024 * 1024}"]
    return [*wrapper, "--", *args]


def _stop(process: subprocess.Popen, grace: float = 2.0) -> None:
    """SIGTERM FFmpeg's process group, then SIGKILL it if it lingers."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if process.poll() is not None:
                return
            time.sleep(0.05)
