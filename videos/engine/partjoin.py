"""The last step of a smart cut: its picture's parts and its sound joined by stream copy
into the result, in-process (PyAV), as FFmpeg's concat demuxer and a `-c copy` run with
`-copyts -start_at_zero` join them, without the ~60 ms an FFmpeg run costs to start.

Each part is shown from where the one before it ends (its length in the result, as a
concat list's `duration` says): its packets move by that offset less the part's own
start. The sound's packets are copied as they are, its edit list's priming included.
Picture and sound are written in decode order, so no more than a packet of each waits."""

import heapq
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from .media import FFmpegCancelled

CANCEL_EVERY = 200  # packets between two looks at whether the cut is cancelled


@dataclass(frozen=True)
class Track:
    """How the result writes its picture's track beyond what the parts say."""

    tag: str = ""  # the MOV-family sample entry ("avc3", "hvc1", "apco"); "": the parts'
    time_base: Fraction | None = None  # AVI counts frames: in the source's frame time
    # A pixel's shape, the source's: where only its container said it (ProRes, MJPEG,
    # WMV, VP9 in Matroska), a copy of its packets does not carry it.
    shape: Fraction | None = None
    rotation: int = 0  # the display matrix's turn, as ffprobe says it (-90: clockwise)


def join_parts(
    *,
    parts: list[tuple[Path, float | None]],
    sound: Path | None,
    output: Path,
    muxer: str,
    options: dict[str, str],
    track: Track,
    should_cancel: Callable[[], bool],
) -> None:
    """Write `output` with `muxer` and its `options`: the picture of `parts` (each a file
    and its length in the result; None for the last) and the sound of `sound`."""
    with ExitStack() as files:
        # FFmpeg's command line lets a muxer hold packets back 0.7 s (MPEG-TS and -PS
        # start their clocks that much later); the library, none.
        settings = {"max_delay": "700000", **options}
        out = files.enter_context(av.open(str(output), "w", format=muxer, options=settings))
        inputs = [files.enter_context(_open(path)) for path, _ in parts]
        picture = out.add_stream_from_template(inputs[0].streams.video[0], opaque=True)
        _describe(picture, track)
        flows = [_picture_packets(inputs, [length for _, length in parts])]
        targets = {"video": picture}
        if sound:
            audio = files.enter_context(_open(sound)).streams.audio[0]
            targets["audio"] = out.add_stream_from_template(audio, opaque=True)
            flows.append(_sound_packets(audio))
        for count, packet in enumerate(heapq.merge(*flows, key=_decode_time)):
            if count % CANCEL_EVERY == 0 and should_cancel():
                raise FFmpegCancelled("cancelled while joining")
            packet.stream = targets[packet.stream.type]
            out.mux(packet)


def _open(path: Path) -> av.container.InputContainer:
    return av.open(str(path), options={"protocol_whitelist": "file"})


def _describe(picture: av.VideoStream, track: Track) -> None:
    if track.tag:
        picture.codec_context.codec_tag = track.tag
    if track.time_base:
        picture.time_base = track.time_base
    if track.shape:
        picture.codec_context.sample_aspect_ratio = track.shape
    if track.rotation:
        picture.set_display_rotation(track.rotation)


def _picture_packets(
    inputs: list[av.container.InputContainer], lengths: list[float | None]
) -> Iterator[av.Packet]:
    """The parts' picture packets, each part moved to start where the one before ends."""
    offset = Fraction(0)
    for container, length in zip(inputs, lengths, strict=True):
        video = container.streams.video[0]
        start = Fraction(container.start_time or 0, av.time_base)
        shift = round((offset - start) / video.time_base)
        for packet in container.demux(video):
            if not packet.size:
                continue
            packet.pts = None if packet.pts is None else packet.pts + shift
            packet.dts = None if packet.dts is None else packet.dts + shift
            yield packet
        if length is not None:
            offset += Fraction(length).limit_denominator(10**6)


def _sound_packets(audio: av.AudioStream) -> Iterator[av.Packet]:
    """The sound's packets, the last cut short where its track ends (its edit list)."""
    end = None if audio.duration is None else (audio.start_time or 0) + audio.duration
    for packet in audio.container.demux(audio):
        if not packet.size:
            continue
        if end is not None and packet.pts is not None and packet.pts + packet.duration > end:
            packet.duration = max(end - packet.pts, 0)
        yield packet


def _decode_time(packet: av.Packet) -> float:
    stamp = packet.dts if packet.dts is not None else packet.pts
    return float((stamp or 0) * packet.time_base)
