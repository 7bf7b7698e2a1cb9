"""The plan of a smart cut: which of the source's frames are copied (the body: whole
GOPs from the first keyframe decoding can start at) and which are re-encoded (the head
before it and the tail after it), or why the cut cannot be smart.

Times are seconds from the file's start, as `-copyts -start_at_zero` sees them.
"""

from dataclasses import dataclass
from fractions import Fraction

from . import capabilities, pipelines
from .cutscan import NotSmart, Packet, Scan, SourceStream, fraction

# What the smart path handles: codec -> the demuxers it is proven on, the encoder that
# re-encodes head and tail (None: all-intra, every frame a keyframe, so every kept frame
# is copied and none encoded), and the container the parts travel in.
SMART_CODECS = {
    "h264": ({"mov", "matroska", "flv", "mpegts"}, "libx264", "mpegts"),
    "hevc": ({"mov", "matroska"}, "libx265", "mpegts"),  # FFmpeg 5.1 has no HEVC in FLV
    "vp9": ({"matroska"}, "libvpx-vp9", "matroska"),
    "vp8": ({"matroska"}, "libvpx", "matroska"),
    "mpeg2video": ({"mpeg", "mpegts"}, "mpeg2video", "mpegts"),
    "mpeg4": ({"avi"}, "mpeg4", "mpegts"),
    # ASF: every part counts milliseconds, as the source does (the join moves each part
    # in whole ticks), and PyAV's FFmpeg writes WMV2 to no Matroska.
    "wmv2": ({"asf"}, "wmv2", "asf"),
    "msmpeg4v3": ({"asf"}, "msmpeg4", "asf"),
    "av1": ({"mov", "matroska"}, "libaom-av1", "matroska"),
    "prores": ({"mov"}, None, "matroska"),
    "mjpeg": ({"avi"}, None, "matroska"),
}
INTERLACED = {"tt", "bb", "tb", "bt"}
# Codecs whose pictures never refer across a keyframe (an AV1 key frame resets every
# reference; WMV2 and MS-MPEG-4 have no B-frames; all-intra codecs no references at all).
CLOSED_GOPS = {"h264", "vp8", "vp9", "av1", "wmv2", "msmpeg4v3", "prores", "mjpeg"}
X264_PROFILES = {
    "Constrained Baseline": "baseline",
    "Baseline": "baseline",
    "Main": "main",
    "High": "high",
    "High 10": "high10",
    "High 4:2:2": "high422",
    "High 4:4:4 Predictive": "high444",
}
X265_PROFILES = {
    "Main": "main",
    "Main 10": "main10",
    "Main 4:2:2 10": "main422-10",
    "Main 4:4:4": "main444-8",
}
# FFmpeg 5.1 names every range-extensions profile "Rext": the pixel format tells which.
X265_REXT_PROFILES = {
    "yuv422p10le": "main422-10",
    "yuv444p": "main444-8",
    "yuv444p10le": "main444-10",
    "yuv422p12le": "main422-12",
    "yuv444p12le": "main444-12",
}
MPEG2_PROFILES = {"Main": 4, "Simple": 5, "High": 1, "4:2:2": 0}


@dataclass(frozen=True)
class Part:
    """A re-encoded part: the frames from `start` to `end`, `origin` shown at 0."""

    start: float
    end: float
    origin: float
    seek: float  # where to start decoding
    # Bits a second the source spends on the frames from the keyframe before `origin` to
    # `end` (a keyframe's cost included, as the part starts with one); 0: unknown.
    bitrate: float = 0.0


@dataclass(frozen=True)
class Body:
    """The copied part: packets from the one shown at `first_pts` (a safe keyframe) up
    to the one shown at `stop_pts` (the next part's keyframe, or the first frame after the
    range where the codec decodes in order; None: the end)."""

    first_pts: int
    stop_pts: int | None
    seek: float
    first_lead: float  # how long before it is shown its keyframe is decoded
    last_decode: float  # when its last packet is decoded, from its start
    # The next keyframe decoding can start at (or the last frame scanned): a decoder that
    # reaches the body's first keyframe decodes the frames up to it for no more than a
    # seek of their own would.
    second_start: float


@dataclass(frozen=True)
class CutPlan:
    first: float  # the first kept frame
    end: float  # the end of the last kept frame
    frame_times: list[float]  # every kept frame, from `first`
    head: Part | None
    body: Body
    tail: Part | None
    body_start: float  # the keyframe the copy starts at
    body_end: float  # where the copy's last frame ends


UNMATCHED_SETTINGS = "this video's encoder settings could not be matched"


def x265_profile(stream: SourceStream) -> str | None:
    """The x265 profile that writes the source's HEVC profile, if there is one."""
    if stream.profile == "Rext":
        return X265_REXT_PROFILES.get(stream.pix_fmt)
    return X265_PROFILES.get(stream.profile)


def refusal(stream: SourceStream, demuxer: str) -> NotSmart | None:
    """Why a stream cannot be cut smartly, before looking at its packets; None if it can."""
    if stream.codec not in SMART_CODECS or demuxer not in SMART_CODECS[stream.codec][0]:
        return NotSmart(
            "smart cuts do not handle this video's format",
            f"{stream.codec} in {demuxer} is not cut smartly",
        )
    encoder = SMART_CODECS[stream.codec][1]
    if encoder and encoder not in capabilities.encoders():
        return NotSmart(
            "this server cannot encode this video's format",
            f"this server has no {encoder} encoder",
        )
    if stream.field_order in INTERLACED and encoder:  # all-intra: no field re-encoded
        return NotSmart("the video is interlaced")
    if fraction(stream.frame_rate) <= 0 or stream.time_base <= 0:
        return NotSmart("the video's frame rate is unknown")
    if stream.codec == "h264" and stream.profile not in X264_PROFILES:
        return NotSmart(
            UNMATCHED_SETTINGS,
            f"H.264 profile {stream.profile or 'unknown'} is not re-encoded smartly",
        )
    if stream.codec == "hevc" and not x265_profile(stream):
        return NotSmart(
            UNMATCHED_SETTINGS,
            f"HEVC profile {stream.profile or 'unknown'} is not re-encoded smartly",
        )
    if stream.codec in ("h264", "hevc") and stream.has_b_frames > 2:
        return NotSmart(
            UNMATCHED_SETTINGS, f"a reorder depth of {stream.has_b_frames} frames is not matched"
        )
    return None


def _midpoint(times: list[float], index: int) -> float:
    """A boundary just before frame `index`, halfway from the one before it, so a trim
    filter keeps exactly the planned frames whatever its rounding."""
    if index <= 0:
        return max(times[0] - 1, 0) if times else 0.0
    if index >= len(times):
        return times[-1] + 1
    return (times[index - 1] + times[index]) / 2


def _seek_before(
    keyframes: list[float], time: float, *, exact_seek: bool, open_gops: bool
) -> float:
    """Where to start decoding for a frame at `time`: the keyframe at or before it, or
    one GOP earlier where GOPs may be open (their leading frames need the GOP before)."""
    earlier = [k for k in keyframes if k <= time]
    back = 2 if open_gops else 1
    seek = earlier[-back] if len(earlier) >= back else 0.0
    return max(seek if exact_seek else seek - pipelines.SEEK_PRE_ROLL, 0.0)


# A copy starts at a keyframe and, unless it runs to the video's end, stops at one.
TOO_FEW_KEYFRAMES = "the range holds too few keyframes to copy any of it unchanged"
# Codecs whose frames are decoded in the order they are shown (VP8 and VP9 keep an
# alternate reference hidden in the packet of a frame shown; WMV2 and MS-MPEG-4 have no
# B-frames): a copy may stop after any frame, so the end of a range is copied too, and
# no tail is encoded.
IN_ORDER = {"vp8", "vp9", "wmv2", "msmpeg4v3"}


def plan_cut(scan: Scan, *, start: float, end: float, exact_seek: bool) -> CutPlan:
    """Which frames are copied and which re-encoded to keep exactly the frames shown at
    `start` <= time < `end`; NotSmart if nothing can be copied."""
    shown = sorted(scan.packets, key=lambda packet: packet.pts)
    times = [packet.time for packet in shown]
    kept = [index for index, time in enumerate(times) if start <= time < end]
    if not kept:
        raise NotSmart(
            "no frame of the video falls inside the range", "no frame is shown inside the range"
        )
    first_index, last_index = kept[0], kept[-1]
    starts = [packet for packet in shown[first_index : last_index + 1] if packet.safe_start]
    keyframes = [packet.time for packet in shown if packet.safe_start]
    if not starts:
        raise NotSmart(TOO_FEW_KEYFRAMES, "no keyframe inside the range to copy from")
    copy_from = starts[0]
    reaches_end = last_index == len(shown) - 1
    # The copy may stop at a keyframe inside the range, or at the one right after it.
    ends = shown[first_index : last_index + 2]
    later = [packet for packet in ends if packet.safe_start and packet.time > copy_from.time]
    if reaches_end:
        stop = None
    elif scan.stream.codec in IN_ORDER:
        stop = shown[last_index + 1]
    elif later:
        stop = later[-1]
    else:
        raise NotSmart(TOO_FEW_KEYFRAMES, "the range holds no whole group of pictures to copy")
    # The body: packets from copy_from up to stop, in decode order, less the leading
    # pictures of an open GOP (shown before copy_from, they need frames not copied).
    order = {packet.pts: index for index, packet in enumerate(scan.packets)}
    stop_at = order[stop.pts] if stop else len(scan.packets)
    body = [
        packet
        for packet in scan.packets[order[copy_from.pts] : stop_at]
        if packet.pts >= copy_from.pts
    ]
    body_times = sorted(packet.time for packet in body)
    body_first = times.index(body_times[0])
    body_last = body_first + len(body_times) - 1
    if times[body_first : body_last + 1] != body_times or body_last > last_index:
        raise NotSmart(
            "the video's frame order does not allow a clean copy at the cut points",
            "frames are reordered across the keyframes a copy would start at",
        )
    if len({packet.parameter_sets for packet in body if packet.parameter_sets}) > 1:
        raise NotSmart(
            "the video's encoding settings change inside the range",
            "the parameter sets change inside the range",
        )
    # H.264 starts only at IDR pictures and VP8/VP9 keyframes are closed: no open GOPs.
    seeking = {"exact_seek": exact_seek, "open_gops": scan.stream.codec not in CLOSED_GOPS}
    head = tail = None
    if body_first > first_index:
        head = Part(
            start=_midpoint(times, first_index),
            end=_midpoint(times, body_first),
            origin=times[first_index],
            seek=_seek_before(keyframes, times[first_index], **seeking),
            bitrate=_bitrate(shown, keyframes, times[first_index], copy_from.time),
        )
    if body_last < last_index:
        tail = Part(
            start=_midpoint(times, body_last + 1),
            end=_midpoint(times, last_index + 1),
            origin=times[body_last + 1],
            seek=_seek_before(keyframes, times[body_last + 1], **seeking),
            bitrate=_bitrate(shown, keyframes, times[body_last + 1], times[last_index] + 1e-6),
        )
    first = times[first_index]
    last = shown[last_index]
    return CutPlan(
        first=first,
        end=last.end if last.end > last.time else _next_time(times, last_index, scan.stream),
        frame_times=[times[index] - first for index in kept],
        head=head,
        body=Body(
            first_pts=copy_from.pts,
            stop_pts=stop.pts if stop else None,
            seek=_seek_before(keyframes, copy_from.time, **seeking),
            first_lead=float((copy_from.pts - _dts(copy_from)) * scan.stream.time_base),
            last_decode=float((_dts(body[-1]) - copy_from.pts) * scan.stream.time_base),
            second_start=min(
                (time for time in keyframes if time > copy_from.time), default=times[-1]
            ),
        ),
        tail=tail,
        body_start=copy_from.time,
        body_end=times[body_last + 1] if body_last + 1 < len(times) else shown[body_last].end,
    )


def _bitrate(shown: list[Packet], keyframes: list[float], origin: float, end: float) -> float:
    """Bits a second the source spends on its frames from the keyframe at or before
    `origin` up to `end` (shown order)."""
    start = max((keyframe for keyframe in keyframes if keyframe <= origin), default=0.0)
    frames = [packet for packet in shown if start <= packet.time < end]
    if not frames or not all(packet.size for packet in frames):
        return 0.0
    seconds = max(frames[-1].end, frames[-1].time) - frames[0].time
    if seconds <= 0:
        return 0.0
    return sum(packet.size for packet in frames) * 8 / seconds


def _dts(packet: Packet) -> int:
    return packet.pts if packet.dts is None else packet.dts


def _next_time(times: list[float], index: int, stream: SourceStream) -> float:
    if index + 1 < len(times):
        return times[index + 1]
    return times[index] + float(1 / Fraction(stream.frame_rate))
