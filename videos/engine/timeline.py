"""Timeline data of one video, made once: a storyboard (JPEG sprite sheets of small
thumbnails and a WebVTT file whose cues name each thumbnail's region as
`sprite-001.jpg#xywh=x,y,w,h`), audio peaks (audiowaveform's JSON, version 2, which
peaks.js reads) and the keyframe times.

One FFmpeg run makes the sprites and decodes the sound: the video through
`fps=1/interval`, a scale and `tile` (decoding keyframes only, `-skip_frame nokey`, when
they are at least as dense as the thumbnails), the sound as low-rate mono PCM, whose
peaks are computed here. The keyframes come from the smart cut's packet scan (PyAV,
demuxing only). Plain values in, plain values out: files in a working directory the
caller gives and removes.
"""

import json
import math
import sys
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import cutscan
from .media import FFmpegError, file_url, run_ffmpeg
from .tools import tools

THUMB_EDGE = 160  # pixels: a thumbnail's longer side
COLUMNS, ROWS = 10, 10  # most thumbnails per sprite sheet: at most 1600x1600 pixels
TARGET_THUMBNAILS = 200  # per video, before the interval's bounds
MIN_INTERVAL, MAX_INTERVAL = 1, 10  # whole seconds between thumbnails
JPEG_QUALITY = 5  # FFmpeg's -q:v, 2 (best) .. 31
PEAKS_SAMPLE_RATE = 16000  # Hz: the decoded mono sound the peaks are read from
SAMPLES_PER_PIXEL = 160  # 100 peaks (min, max pairs) per second
PEAKS_BITS = 8
SPRITE_PATTERN = "sprite-%03d.jpg"
STORYBOARD_NAME = "storyboard.vtt"
WAVEFORM_NAME = "peaks.json"
PCM_NAME = "sound.s16le"


@dataclass(frozen=True)
class StoryboardPlan:
    interval: int  # seconds between thumbnails; thumbnail i is the frame at i * interval
    count: int  # thumbnails
    width: int  # of one thumbnail
    height: int
    keyframes_only: bool  # decode keyframes only: they are at least as dense as thumbnails
    columns: int  # of a sprite sheet: fewer than COLUMNS x ROWS for a short video
    rows: int

    @property
    def sprites(self) -> int:
        return math.ceil(self.count / (self.columns * self.rows))

    def region(self, index: int) -> tuple[int, int, int, int, int]:
        """Thumbnail index's sprite (0-based) and x, y, w, h inside it."""
        sprite, place = divmod(index, self.columns * self.rows)
        row, column = divmod(place, self.columns)
        return sprite, column * self.width, row * self.height, self.width, self.height


def _even(value: float) -> int:
    return max(2, 2 * round(value / 2))


def thumbnail_size(
    *, width: int, height: int, sample_aspect_ratio: str = "", rotation: int = 0
) -> tuple[int, int]:
    """A thumbnail's size, shown as the player shows the video (its sample aspect ratio
    and rotation applied), its longer side THUMB_EDGE, both even."""
    num, _, den = (sample_aspect_ratio or "1:1").partition(":")
    try:
        sar = int(num) / int(den or 1)
    except (ValueError, ZeroDivisionError):
        sar = 1.0
    shown_width, shown_height = width * (sar if sar > 0 else 1.0), float(height)
    if rotation % 180:
        shown_width, shown_height = shown_height, shown_width
    scale = THUMB_EDGE / max(shown_width, shown_height)
    return _even(shown_width * scale), _even(shown_height * scale)


def storyboard_plan(
    *,
    duration: float,
    width: int,
    height: int,
    sample_aspect_ratio: str = "",
    rotation: int = 0,
    keyframes: list[float] = (),
) -> StoryboardPlan:
    """About TARGET_THUMBNAILS thumbnails, MIN_INTERVAL..MAX_INTERVAL whole seconds apart."""
    interval = min(MAX_INTERVAL, max(MIN_INTERVAL, math.ceil(duration / TARGET_THUMBNAILS)))
    count = max(1, math.ceil(duration / interval))
    thumb_width, thumb_height = thumbnail_size(
        width=width, height=height, sample_aspect_ratio=sample_aspect_ratio, rotation=rotation
    )
    marks = [*keyframes, duration]
    gaps = [later - earlier for earlier, later in zip(marks, marks[1:], strict=False)]
    keyframes_only = bool(keyframes) and keyframes[0] <= interval and max(gaps) <= interval
    columns = min(COLUMNS, count)
    rows = min(ROWS, math.ceil(count / columns))
    return StoryboardPlan(interval, count, thumb_width, thumb_height, keyframes_only, columns, rows)


def make_args(
    *,
    source: Path,
    demuxer: str,
    plan: StoryboardPlan,
    sprites: Path,
    pcm: Path | None,
) -> list[str]:
    """One FFmpeg run: the sprite sheets (sprites: a directory) and, with pcm, the
    sound as mono signed 16-bit little-endian PCM at PEAKS_SAMPLE_RATE.

    Exactly plan.count thumbnails reach `tile`: a stream that ends early repeats its
    last thumbnail (tpad), extra ones are dropped (trim); the last sheet's empty places
    are black."""
    chain = ",".join(
        [
            f"fps=1/{plan.interval}",
            f"scale={plan.width}:{plan.height}",
            "setsar=1",
            f"tpad=stop_mode=clone:stop={plan.count}",
            f"trim=end_frame={plan.count}",
            f"tile={plan.columns}x{plan.rows}",
        ]
    )
    args = [tools.ffmpeg, "-protocol_whitelist", "file", "-f", demuxer]
    if plan.keyframes_only:
        args += ["-skip_frame", "nokey"]
    args += ["-i", file_url(source), "-map", "0:v:0", "-vf", chain, "-fps_mode", "passthrough"]
    args += ["-q:v", str(JPEG_QUALITY), "-f", "image2", str(sprites / SPRITE_PATTERN)]
    if pcm is not None:
        args += ["-map", "0:a:0", "-ac", "1", "-ar", str(PEAKS_SAMPLE_RATE)]
        args += ["-c:a", "pcm_s16le", "-f", "s16le", str(pcm)]
    return [*args, "-y"]


def _cue_time(seconds: float) -> str:
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    seconds, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}"


def storyboard_vtt(*, plan: StoryboardPlan, duration: float, sprite_urls: list[str]) -> str:
    """The WebVTT storyboard: one cue per thumbnail, back to back from 0 to duration,
    naming its region of its sprite (sprite_urls: one per sheet, in order)."""
    lines = ["WEBVTT", ""]
    for index in range(plan.count):
        start = index * plan.interval
        end = duration if index == plan.count - 1 else (index + 1) * plan.interval
        sprite, x, y, w, h = plan.region(index)
        lines += [
            f"{_cue_time(start)} --> {_cue_time(max(end, start))}",
            f"{sprite_urls[sprite]}#xywh={x},{y},{w},{h}",
            "",
        ]
    return "\n".join(lines)


def peaks(pcm: Path, *, samples_per_pixel: int = SAMPLES_PER_PIXEL) -> dict:
    """audiowaveform's JSON (version 2, 8 bits, one channel) of mono s16le PCM at
    PEAKS_SAMPLE_RATE: a min and a max per samples_per_pixel samples (the last pixel
    may have fewer), scaled to 8 bits as audiowaveform does (divided by 256)."""
    data: list[int] = []
    step = samples_per_pixel
    with open(pcm, "rb") as handle:
        while chunk := handle.read(2 * step * 4096):
            samples = array("h")
            samples.frombytes(chunk[: len(chunk) // 2 * 2])
            if sys.byteorder == "big":
                samples.byteswap()
            for start in range(0, len(samples), step):
                pixel = samples[start : start + step]
                data += (int(min(pixel) / 256), int(max(pixel) / 256))
    return {
        "version": 2,
        "channels": 1,
        "sample_rate": PEAKS_SAMPLE_RATE,
        "samples_per_pixel": samples_per_pixel,
        "bits": PEAKS_BITS,
        "length": len(data) // 2,
        "data": data,
    }


def keyframe_times(source: Path, demuxer: str, facts: dict | None = None) -> list[float]:
    """Seconds from the start of every keyframe a decode can start at, in order (the
    smart cut's scan: its packets flagged key whose content is an IDR / IRAP picture)."""
    packets = cutscan.scan(source, demuxer, facts).packets
    return sorted(packet.time for packet in packets if packet.safe_start)


@dataclass(frozen=True)
class Made:
    keyframes: list[float]
    plan: StoryboardPlan
    sprites: list[Path]  # in order
    storyboard: Path  # its cues name the sprites by their file names
    waveform: Path | None  # None without sound


def make(
    *,
    source: Path,
    demuxer: str,
    duration: float,
    width: int,
    height: int,
    sample_aspect_ratio: str = "",
    rotation: int = 0,
    has_audio: bool,
    workdir: Path,
    on_progress: Callable[[float], None] | None = None,
    facts: dict | None = None,
) -> Made:
    """Make a local video's timeline data in workdir; FFmpegError (or cutscan.NotSmart
    for a video whose packets cannot be read) on failure. `facts`: its probe's stream
    facts (cutscan.scan)."""
    keyframes = keyframe_times(source, demuxer, facts)
    plan = storyboard_plan(
        duration=duration,
        width=width,
        height=height,
        sample_aspect_ratio=sample_aspect_ratio,
        rotation=rotation,
        keyframes=keyframes,
    )
    sprite_dir = workdir / "sprites"
    sprite_dir.mkdir()
    pcm = workdir / PCM_NAME if has_audio else None
    run_ffmpeg(
        make_args(source=source, demuxer=demuxer, plan=plan, sprites=sprite_dir, pcm=pcm),
        duration=duration,
        on_progress=on_progress,
    )
    sprites = sorted(sprite_dir.glob("sprite-*.jpg"))
    if len(sprites) != plan.sprites:
        raise FFmpegError(f"{len(sprites)} sprite sheets were made instead of {plan.sprites}")
    storyboard = workdir / STORYBOARD_NAME
    storyboard.write_text(
        storyboard_vtt(plan=plan, duration=duration, sprite_urls=[path.name for path in sprites])
    )
    waveform = None
    if pcm is not None:
        waveform = workdir / WAVEFORM_NAME
        waveform.write_text(json.dumps(peaks(pcm), separators=(",", ":")))
        pcm.unlink()
    return Made(keyframes, plan, sprites, storyboard, waveform)
