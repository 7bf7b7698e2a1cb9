"""Smart cut, H.264 and HEVC: the picture written as one stream whose copied packets are
the source's, byte for byte, under the source's own configuration record (avcC, hvcC).

The re-encoded head and tail come out of the encoder in Annex B (MPEG-TS parts, their
timing exact); their packets are rewritten to the source's form (length-prefixed NAL
units, access-unit delimiters dropped) and keep their parameter sets in-band, under ids
the source does not use (`bitstream`), so the source's record stays what the copied
packets decode with, before, after and across any seek. The parts are laid out on the
result's timeline in the source's time base, decode times kept rising across the seams.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from . import bitstream
from .cutplan import UNMATCHED_SETTINGS as UNMATCHED
from .cutplan import CutPlan
from .cutscan import NotSmart, Scan
from .media import FFmpegCancelled

SPLICED_CODECS = {"h264", "hevc"}
SPLICED_DEMUXERS = {"mov", "matroska", "flv"}  # those keep H.264/HEVC with a record
# The MP4 sample entries whose streams may carry parameter sets in-band (ISO/IEC
# 14496-15): avc1/hvc1 promise every parameter set is in the record.
IN_BAND_TAGS = {"h264": "avc3", "hevc": "hev1"}
AUDS = {"h264": bitstream.H264_AUD, "hevc": bitstream.HEVC_AUD}


def spliced(codec: str, demuxer: str) -> bool:
    """Whether a smart cut of this source writes its picture by splicing packets."""
    return codec in SPLICED_CODECS and demuxer in SPLICED_DEMUXERS


def x264_sps_id(found: Scan) -> int | None:
    """The SPS/PPS id x264 gives a part of this source (None: not H.264)."""
    return bitstream.free_h264_id(found.ids) if found.stream.codec == "h264" else None


@dataclass
class _Piece:
    data: bytes
    pts: int
    dts: int
    key: bool


def decode_times(shown: list[int], step: int) -> list[int]:
    """Decode times for packets shown at `shown` (decode order): the show times in order,
    as many frames late as the stream reorders, so none is decoded after it is shown.
    `step`: a frame, for the first ones."""
    ranks = {pts: rank for rank, pts in enumerate(sorted(shown))}
    delay = max([0] + [index - ranks[pts] for index, pts in enumerate(shown)])
    ordered = sorted(shown)
    return [
        ordered[index - delay] if index >= delay else ordered[0] - (delay - index) * step
        for index in range(len(shown))
    ]


def _part_pieces(
    path: Path,
    *,
    codec: str,
    length_size: int,
    renumber,
    frame_pts: list[int],
    step: int,
    time_base: Fraction,
) -> list[_Piece]:
    """A re-encoded part's packets in the source's form, in decode order, shown from its
    first frame's time in the source (`frame_pts`, its frames' ticks in shown order) by
    the encoder's clock, rounded to the source's ticks (players and probes guess the
    rate from the steps)."""
    with av.open(str(path), options={"protocol_whitelist": "file"}) as part:
        video = part.streams.video[0]
        found = [
            (packet.pts, packet.is_keyframe, bytes(packet))
            for packet in part.demux(video)
            if packet.size
        ]
        scale = Fraction(video.time_base) / time_base
    if len(found) != len(frame_pts):
        raise NotSmart(
            "the smart cut did not give exactly the frames asked for",
            f"a re-encoded part holds {len(found)} frames, not the {len(frame_pts)} planned",
        )
    start = min(pts for pts, _, _ in found)
    shown = [frame_pts[0] + round((pts - start) * scale) for pts, _, _ in found]
    pieces = []
    for (_, key, data), pts, dts in zip(found, shown, decode_times(shown, step), strict=True):
        units = [
            unit
            for unit in bitstream.annexb_units(data)
            if unit and bitstream.unit_type(codec, unit) != AUDS[codec]
        ]
        if renumber:
            units = [bitstream.renumber_hevc(unit, renumber) for unit in units]
        pieces.append(_Piece(bitstream.length_prefixed(units, length_size), pts, dts, key))
    return pieces


def splice(
    *,
    source: Path,
    demuxer: str,
    found: Scan,
    plan: CutPlan,
    head: Path | None,
    tail: Path | None,
    margin: float,
    container: str,
    output: Path,
    should_cancel: Callable[[], bool],
) -> None:
    """Write the cut's picture to `output` (`container`: mp4 or matroska): the head's
    packets, the source's from the copy's keyframe up to the tail's (untouched), the
    tail's. Decode times at a seam are `margin` seconds apart at least: the parts before
    one are decoded earlier by whole frames where needed (never after they are shown)."""
    with av.open(str(source), format=demuxer, options={"protocol_whitelist": "file"}) as src:
        video = src.streams.video[0]
        codec = video.codec_context.name
        record_bytes = bytes(video.codec_context.extradata or b"")
        record = bitstream.config_record(codec, record_bytes)
        if record is None:
            raise NotSmart(
                "the video's encoding settings could not be read",
                "the video has no codec configuration record",
            )
        length_size = record[0]
        time_base = Fraction(video.time_base)
        renumber = bitstream.HevcIds.avoiding(found.ids) if codec == "hevc" else None
        frame = Fraction(1) / Fraction(found.stream.frame_rate) / time_base
        step = max(round(frame), 1)
        # Every kept frame's show time in ticks from the first, as the source has it.
        first_pts = min(p.pts for p in found.packets if p.time >= plan.first - 1e-9)

        def frames_of(part) -> list[int]:
            return [
                packet.pts - first_pts
                for packet in found.packets
                if part.start <= packet.time < part.end
            ]

        try:
            heads, tails = (
                _part_pieces(
                    path,
                    codec=codec,
                    length_size=length_size,
                    renumber=renumber,
                    frame_pts=sorted(frames_of(part)),
                    step=step,
                    time_base=time_base,
                )
                if part
                else []
                for path, part in ((head, plan.head), (tail, plan.tail))
            )
        except bitstream.BitstreamError as error:
            raise NotSmart(UNMATCHED, str(error)) from error
        body_offset = plan.body.first_pts - first_pts
        # The body's decode times: its packets from the keyframe up to the tail's, less
        # an open GOP's leading pictures; the source's own where it stamps them all (MP4),
        # else (Matroska stores none; FFmpeg guesses some) made as a decoder takes them.
        order = {packet.pts: index for index, packet in enumerate(found.packets)}
        stop = order[plan.body.stop_pts] if plan.body.stop_pts is not None else None
        body = [
            packet
            for packet in found.packets[order[plan.body.first_pts] : stop]
            if packet.pts >= plan.body.first_pts
        ]
        if all(packet.dts is not None for packet in body):
            body_decode = [packet.dts - plan.body.first_pts for packet in body]
        else:
            body_decode = decode_times([p.pts - plan.body.first_pts for p in body], step)

        # Shifts: each part's decode times move earlier by its shift, at least as much as
        # the next part's, and enough to be decoded `margin` before it.
        spans = [(min(p.dts for p in heads), max(p.dts for p in heads))] if heads else []
        spans.append((body_offset + body_decode[0], body_offset + body_decode[-1]))
        if tails:
            spans.append((min(p.dts for p in tails), max(p.dts for p in tails)))
        need = math.ceil(Fraction(margin) / time_base)
        shifts = [0] * len(spans)
        for index in range(len(spans) - 2, -1, -1):
            overlap = spans[index][1] - spans[index + 1][0] + need
            extra = math.ceil(math.ceil(overlap / frame) * frame) if overlap > 0 else 0
            shifts[index] = shifts[index + 1] + extra
        head_shift, body_shift = (shifts[0], shifts[1]) if heads else (0, shifts[0])

        with av.open(str(output), "w", format=container) as out:
            target = out.add_stream_from_template(video)
            target.time_base = video.time_base
            if codec == "hevc":
                # This muxer writes an hvcC again from the parameter sets, its arrays
                # marked complete only under hvc1: say the source's, so that its record
                # comes out byte for byte (the join copies it as it finds it).
                complete = len(record_bytes) > 23 and record_bytes[23] & 0x80
                target.codec_tag = "hvc1" if complete else "hev1"

            def write_piece(piece: _Piece, shift: int) -> None:
                packet = av.Packet(piece.data)
                packet.stream = target
                packet.time_base = video.time_base
                packet.pts, packet.dts = piece.pts, piece.dts - shift
                packet.is_keyframe = piece.key
                packet.duration = step
                out.mux(packet)

            for piece in heads:
                write_piece(piece, head_shift)
            _copy_body(
                src=src,
                video=video,
                found=found,
                plan=plan,
                offset=body_offset,
                decode_times=[dts + body_offset - body_shift for dts in body_decode],
                target=target,
                out=out,
                should_cancel=should_cancel,
            )
            for piece in tails:
                write_piece(piece, 0)


def _copy_body(
    *, src, video, found: Scan, plan: CutPlan, offset, decode_times, target, out, should_cancel
) -> None:
    """Mux the source's packets of the copy untouched, shown from `offset` ticks and
    decoded at `decode_times` (ticks, in order)."""
    body = plan.body
    start_time = found.stream.start_time
    if body.seek > 0:
        src.seek(int((body.seek + start_time) / video.time_base), stream=video)
    copying, written = False, 0
    for count, packet in enumerate(src.demux(video)):
        if count % 100 == 0 and should_cancel():
            raise FFmpegCancelled("cancelled while copying")
        copying = copying or packet.pts == body.first_pts
        if not copying or packet.size == 0 or packet.pts < body.first_pts:
            continue
        if packet.pts == body.stop_pts:
            break
        if written == len(decode_times):
            raise NotSmart(
                "the video could not be copied from its keyframe",
                "the copy holds more packets than the scan found",
            )
        packet.pts += offset - body.first_pts
        packet.dts = decode_times[written]
        written += 1
        packet.stream = target
        out.mux(packet)
    if not copying:
        raise NotSmart(
            "the video could not be copied from its keyframe",
            "the keyframe to copy from was not found again",
        )
