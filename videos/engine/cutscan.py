"""What a smart cut reads from its source before it plans: the video stream's parameters
(ffprobe) and every packet's timing, and which keyframes decoding can start at (PyAV,
demuxing only: no decoding).

Times are seconds from the file's start, as `-copyts -start_at_zero` sees them.
"""

import json
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

import av

from . import bitstream
from .media import confined, file_url, stream_facts
from .tools import tools

# The H.264 / HEVC NAL unit types a decoder can start at (IDR; HEVC's IRAP: BLA, IDR, CRA)
# and those that carry a parameter set (SPS; VPS, SPS).
H264_IDR, H264_SPS = {5}, {7}
HEVC_IRAP, HEVC_SPS = set(range(16, 22)), {32, 33}


class NotSmart(Exception):
    """The smart path cannot prove this cut safe. The message says why in words a person
    follows ("the video is interlaced"): the job's outcome and the page show it. `detail`
    is the technical why (FFmpeg's own words, say), for the log only."""

    def __init__(self, reason: str, detail: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.detail = detail or reason

    def fallback(self, what: str) -> str:
        """The sentence a cut that falls back says: why, and that `what` was re-encoded."""
        return f"{self.reason[:1].upper()}{self.reason[1:]}, so the whole {what} was re-encoded."


@dataclass(frozen=True)
class SourceStream:
    """The first video stream's parameters that a re-encoded part must share."""

    codec: str
    profile: str
    level: int
    pix_fmt: str
    field_order: str
    has_b_frames: int
    time_base: Fraction
    frame_rate: str
    color_range: str
    color_space: str
    color_transfer: str
    color_primaries: str
    start_time: float  # the file's, which -start_at_zero takes away
    codec_tag: str = ""  # e.g. "apco": ProRes says its profile in its MOV sample entry
    sample_aspect_ratio: Fraction | None = None  # a pixel's shape; None where unknown
    extradata: bytes = b""  # the stream's header as its demuxer gives it (WMV2: settings)


@dataclass(frozen=True)
class Packet:
    """One video packet, in decode order."""

    pts: int
    dts: int | None
    time: float  # when it is shown, in seconds from the file's start
    end: float  # when the next one is shown
    safe_start: bool  # a keyframe that decoding can start at
    parameter_sets: bytes  # the in-band SPS (and VPS) it carries, if any
    size: int = 0  # bytes: what the source spends on the picture


@dataclass(frozen=True)
class Scan:
    stream: SourceStream
    packets: list[Packet]  # decode order
    # The parameter set ids the source defines, in its configuration record or in-band:
    # a re-encoded part's must differ.
    ids: bitstream.Ids = bitstream.Ids()


def probe_stream(source: Path, demuxer: str) -> SourceStream:
    """The video stream's parameters, asked of ffprobe (for a video probed before its
    probe kept them)."""
    args = [
        tools.ffprobe,
        "-v",
        "error",
        "-protocol_whitelist",
        "file",
        "-f",
        demuxer,
        "-select_streams",
        "v:0",
        "-show_streams",
        "-show_format",
        "-of",
        "json",
        file_url(source),
    ]
    completed = subprocess.run(
        confined(args), capture_output=True, timeout=tools.probe_timeout, stdin=subprocess.DEVNULL
    )
    if completed.returncode:
        raise NotSmart(
            "the video could not be read closely enough to cut it smartly",
            "the video stream could not be probed",
        )
    probed = json.loads(completed.stdout)
    if not probed.get("streams"):
        raise NotSmart("the file has no video stream")
    return source_stream(stream_facts(probed["streams"][0], probed["format"]))


def source_stream(facts: dict) -> SourceStream:
    """The parameters from ffprobe's words for them (media.stream_facts)."""
    return SourceStream(
        codec=facts.get("codec_name", ""),
        profile=facts.get("profile", ""),
        level=int(facts.get("level", -99)),
        pix_fmt=facts.get("pix_fmt", ""),
        field_order=facts.get("field_order", "unknown"),
        has_b_frames=int(facts.get("has_b_frames", 0)),
        time_base=fraction(facts.get("time_base", "")),
        frame_rate=facts.get("r_frame_rate", "0/0"),
        color_range=facts.get("color_range", "unknown"),
        color_space=facts.get("color_space", "unknown"),
        color_transfer=facts.get("color_transfer", "unknown"),
        color_primaries=facts.get("color_primaries", "unknown"),
        start_time=float(facts.get("start_time", 0)),
        codec_tag=facts.get("codec_tag_string", ""),
        sample_aspect_ratio=fraction(facts.get("sample_aspect_ratio", "").replace(":", "/"))
        or None,
    )


def fraction(text: str) -> Fraction:
    """ffprobe's "30000/1001"; 0 for what it does not know ("0/0", "")."""
    numerator, _, denominator = text.partition("/")
    try:
        return Fraction(int(numerator), int(denominator or 1))
    except (ValueError, ZeroDivisionError):
        return Fraction(0)


def nal_units(data: bytes, length_size: int | None) -> list[bytes]:
    """The NAL units of an H.264/HEVC packet: length-prefixed (mp4, Matroska: the size
    of the prefix from the codec's extradata) or Annex B (start codes)."""
    units = []
    if length_size:
        position = 0
        while position + length_size <= len(data):
            size = int.from_bytes(data[position : position + length_size], "big")
            position += length_size
            units.append(data[position : position + size])
            position += size
        return units
    for chunk in data.split(b"\x00\x00\x01")[1:]:
        units.append(chunk.rstrip(b"\x00"))
    return units


def _length_size(codec: str, extradata: bytes | None) -> int | None:
    """The NAL length prefix size from avcC / hvcC extradata; None for Annex B."""
    if not extradata or extradata[0] != 1:  # avcC / hvcC begin with their version, 1
        return None
    if codec == "h264":
        return (extradata[4] & 3) + 1
    return (extradata[21] & 3) + 1 if len(extradata) > 21 else None


def classify_keyframe(codec: str, data: bytes, length_size: int | None) -> tuple[bool, bytes]:
    """Whether a keyframe packet can start decoding, and the parameter sets it carries."""
    if codec not in ("h264", "hevc"):
        return True, b""
    starts, parameter_sets = (H264_IDR, H264_SPS) if codec == "h264" else (HEVC_IRAP, HEVC_SPS)
    safe, found = False, []
    for unit in nal_units(data, length_size):
        if not unit:
            continue
        kind = unit[0] & 0x1F if codec == "h264" else (unit[0] >> 1) & 0x3F
        safe = safe or kind in starts
        if kind in parameter_sets:
            found.append(unit)
    return safe, b"".join(found)


# Seconds a cut's scan reads before its start: two keyframes (an open GOP's head decodes
# from the one before its own) where they come at least every 5 s; a sparser source's
# scan reads it all.
SCAN_LEAD = 10.0


def scan(
    source: Path,
    demuxer: str,
    facts: dict | None = None,
    *,
    span: tuple[float, float] | None = None,
) -> Scan:
    """The video stream's parameters and every packet's timing, and which keyframes a
    copy may start at (demuxing only: no decoding). The parameters are ffprobe's: those
    its probe kept (`facts`: media.ProbeResult.stream_facts), or else asked while PyAV
    reads the packets. They, the start time above all, must be the ones the FFmpeg that
    cuts sees (PyAV brings FFmpeg libraries of its own).

    `span` (start, end): only the packets a cut of that span plans with, from SCAN_LEAD
    before its start to the second keyframe after its end (a 10 s cut of a two-hour film
    reads seconds of it, not all); the whole file where that window does not hold two
    keyframes before the start."""
    found = []  # pts, dts, duration, safe start, parameter sets, size
    defining: dict[bytes, list[bytes]] = {}  # distinct in-band parameter sets: their units
    ids = bitstream.Ids()
    seeked = stopped = False
    with ThreadPoolExecutor(max_workers=1) as pool:
        probing = None if facts else pool.submit(probe_stream, source, demuxer)
        with av.open(
            str(source), format=demuxer, options={"protocol_whitelist": "file"}
        ) as container:
            video = container.streams.video[0]
            codec = video.codec_context.name
            extradata = video.codec_context.extradata
            length_size = _length_size(codec, extradata)
            time_base = video.time_base
            # PyAV's start time, near enough ffprobe's to place the window.
            first_pts = video.start_time or 0
            if span and span[0] > SCAN_LEAD:
                container.seek(first_pts + round((span[0] - SCAN_LEAD) / time_base), stream=video)
                seeked = True
            later_starts = 0  # keyframes decoding can start at, shown at or after the end
            for packet in container.demux(video):
                if packet.size == 0:  # the demuxer's end-of-stream marker
                    continue
                if packet.pts is None:
                    raise NotSmart(
                        "parts of the video carry no timing",
                        "the video has packets without timestamps",
                    )
                safe, parameter_sets = False, b""
                if packet.is_keyframe:
                    data = bytes(packet)
                    safe, parameter_sets = classify_keyframe(codec, data, length_size)
                    if parameter_sets and parameter_sets not in defining:
                        defining[parameter_sets] = nal_units(data, length_size)
                if span and safe and (packet.pts - first_pts) * time_base >= span[1]:
                    later_starts += 1
                    if later_starts == 2:  # an open GOP's leading frames are all read
                        stopped = True
                        break
                found.append(
                    (
                        packet.pts,
                        packet.dts,
                        packet.duration or 0,
                        safe,
                        parameter_sets,
                        packet.size,
                    )
                )
        known = probing.result() if probing else source_stream(facts or {})
        stream = replace(known, extradata=bytes(extradata or b""))
    if codec in ("h264", "hevc"):
        record = bitstream.config_record(codec, extradata)
        units = [unit for units in defining.values() for unit in units if unit]
        ids = bitstream.parameter_set_ids(codec, units + (record[1] if record else []))
    packets = []
    for pts, dts, duration, safe, parameter_sets, size in found:
        time = float(pts * time_base) - stream.start_time
        end = time + float(duration * time_base)
        packets.append(Packet(pts, dts, time, end, safe, parameter_sets, size))
    if span and not _holds(packets, span, seeked=seeked, stopped=stopped):
        return scan(source, demuxer, facts)
    return Scan(stream, packets, ids)


def _holds(
    packets: list[Packet], span: tuple[float, float], *, seeked: bool, stopped: bool
) -> bool:
    """Whether a window of a file's packets holds what a cut of `span` plans with: two
    keyframes a copy may start at before its start (unless read from the file's start)
    and one after its end (unless read to the file's end)."""
    starts = [packet.time for packet in packets if packet.safe_start]
    before = sum(time <= span[0] for time in starts)
    return (not seeked or before >= 2) and (not stopped or any(t >= span[1] for t in starts))
