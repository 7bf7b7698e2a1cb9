"""What this FFmpeg can write: its encoders, what each takes, and whether a container
holds a planned output (a trial mux).

Asked of FFmpeg itself, so the answers cannot drift from the binary that will do the
work, and cached per process and on disk (`tools.answers_dir`) for that binary (its path,
size and time): a process's first job of a kind then asks FFmpeg nothing another process
has asked already. Parsers and builders are pure; only `encoders`, `encoder_caps` and
`trial_mux` run FFmpeg.
"""

import dataclasses
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

import ffmpeg

from .media import FFmpegError, FFmpegInterrupted, run_ffmpeg
from .tools import tools

# Encoders that need hardware this server may not have; never chosen automatically.
HARDWARE_MARKERS = ("_vaapi", "_qsv", "_nvenc", "_v4l2m2m", "_amf", "_omx", "_mf", "_vulkan")
ENCODER_LINE_RE = re.compile(r"^ ([VAS])([.F])([.S])([.X])([.B])([.D]) (\S+)\s+(.*)$")

# A trial writes this many frames: enough for a muxer to write a header, a packet and
# its trailer, cheap at any size.
TRIAL_FRAMES = 2
TRIAL_AUDIO_SECONDS = 0.1
TRIAL_TIMEOUT = 30  # seconds; a trial that takes longer proves nothing and is not cached
# Below this many pixels a side, encoders care about a size only through its remainders
# (odd sides, macroblock padding): a trial keeps them on a small frame. Above it live
# the hard limits (H.263+ 2048, MPEG-1/2 4095, MPEG-4 Part 2 8191): a trial keeps the size.
SMALL_SIDE_LIMIT = 2048
TRIAL_SIDE = 64
# MPEG-4 Part 2 and H.263 store the time base (1 / frame rate) in 16 bits: a rate whose
# numerator needs more is refused by them, others are all alike.
MAX_16BIT = 65535
TRIAL_FRAME_RATE = "25"


@dataclass(frozen=True)
class Encoder:
    name: str
    kind: str  # "video" or "audio"
    codec: str  # the codec it produces, as ffprobe names it
    experimental: bool


def parse_encoders(listing: str) -> dict[str, Encoder]:
    """The video and audio encoders of an `ffmpeg -encoders` listing, by name."""
    found = {}
    _, _, table = listing.partition("------\n")  # after the legend, whose lines look alike
    for line in table.splitlines():
        match = ENCODER_LINE_RE.match(line)
        if not match or match[1] == "S":
            continue
        name, description = match[7], match[8]
        codec = re.search(r"\(codec (\w+)\)\s*$", description)
        found[name] = Encoder(
            name=name,
            kind="video" if match[1] == "V" else "audio",
            codec=codec[1] if codec else name,
            experimental=match[4] == "X",
        )
    return found


@lru_cache(maxsize=1)
def encoders() -> dict[str, Encoder]:
    """This FFmpeg's encoders, by name."""
    return parse_encoders(_ffmpeg_says("-encoders"))


def _ffmpeg_says(*args: str) -> str:
    key = f"says {' '.join(args)}"
    if (said := _recalled(key)) is None:
        said = _ask_ffmpeg(*args)
        _remember(key, said)
    return said


def _ask_ffmpeg(*args: str) -> str:
    return subprocess.run(
        [tools.ffmpeg, "-hide_banner", *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=TRIAL_TIMEOUT,
    ).stdout


def _answers_file() -> Path | None:
    """Where this FFmpeg binary's answers are kept; None: no folder for them set (or no
    such binary), so only this process remembers them."""
    binary = shutil.which(tools.ffmpeg)
    if not tools.answers_dir or not binary:
        return None
    found = os.stat(binary)
    identity = f"{os.path.realpath(binary)}:{found.st_size}:{found.st_mtime_ns}"
    digest = hashlib.sha256(identity.encode()).hexdigest()[:16]
    return Path(tools.answers_dir) / f"{digest}.json"


def _read_answers(path: Path) -> dict:
    try:
        answers = json.loads(path.read_text())
    except (OSError, ValueError):  # none yet, or half a file from an older version
        return {}
    return answers if isinstance(answers, dict) else {}


def _recalled(key: str):
    """What FFmpeg answered to `key` before, kept on disk; None if unknown."""
    path = _answers_file()
    return _read_answers(path).get(key) if path else None


def _remember(key: str, answer) -> None:
    """Keep an answer on disk: written whole and renamed into place, so that a reader never
    sees half of it (two processes writing at once may lose one answer: it is asked again)."""
    path = _answers_file()
    if not path:
        return
    answers = {**_read_answers(path), key: answer}
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{os.getpid()}-{threading.get_ident()}")
    partial.write_text(json.dumps(answers))
    os.replace(partial, path)


def dependable(encoder: Encoder) -> bool:
    """Whether to offer or pick an encoder unasked: software and not experimental."""
    return not encoder.experimental and not any(
        marker in encoder.name for marker in HARDWARE_MARKERS
    )


def encoder_for_codec(codec: str) -> str | None:
    """The software encoder this FFmpeg would use to write `codec`, if it has one."""
    for encoder in encoders().values():
        if encoder.codec == codec and dependable(encoder):
            return encoder.name
    return None


@dataclass(frozen=True)
class EncoderCaps:
    pix_fmts: tuple[str, ...]  # empty: anything
    sample_rates: tuple[int, ...]  # empty: anything
    frame_rates: tuple[str, ...]  # empty: anything


def parse_encoder_caps(text: str) -> EncoderCaps:
    """What an `ffmpeg -h encoder=NAME` page says the encoder takes."""

    def listed(label: str) -> tuple[str, ...]:
        match = re.search(rf"Supported {label}:\s*(.*)", text)
        return tuple(match[1].split()) if match else ()

    return EncoderCaps(
        pix_fmts=listed("pixel formats"),
        sample_rates=tuple(int(rate) for rate in listed("sample rates")),
        frame_rates=listed("framerates"),
    )


@lru_cache(maxsize=128)
def encoder_caps(name: str) -> EncoderCaps:
    return parse_encoder_caps(_ffmpeg_says("-h", f"encoder={name}"))


def pick_pix_fmt(encoder: str, wanted: str) -> str | None:
    """`wanted` if the encoder takes it, else 4:2:0 (what players expect), else its own."""
    supported = encoder_caps(encoder).pix_fmts
    if not supported or wanted in supported:
        return wanted or None
    for candidate in ("yuv420p", "yuvj420p"):
        if candidate in supported:
            return candidate
    return supported[0]


def pick_sample_rate(encoder: str, wanted: int | str | None) -> int | None:
    """Keep the source's rate where the encoder takes it; else let FFmpeg choose."""
    supported = encoder_caps(encoder).sample_rates
    known = isinstance(wanted, int)  # not a pending job's undecided rate
    return wanted if known and (not supported or wanted in supported) else None


@dataclass(frozen=True)
class Trial:
    """A trial mux: only what decides whether FFmpeg can write an output, so that one
    answer serves every output alike in those respects (see `trial_for`)."""

    options: tuple[tuple[str, str], ...]  # the output's options: encoders, formats, muxer
    width: int
    height: int
    frame_rate: str
    sample_rate: int | None  # None: no audio
    channels: int | None


def _trial_side(side: int) -> int:
    return side if side > SMALL_SIDE_LIMIT else TRIAL_SIDE + side % 16


def trial_for(
    *,
    options: dict,
    video_encoder: str,
    width: int,
    height: int,
    frame_rate: str,
    audio: bool,
    sample_rate: int | None,
    channels: int | None,
    exact_size: bool = False,
) -> Trial:
    """The trial that answers for an output: a small frame with the same remainders
    (unless `exact_size`, or a side is large), and one frame rate for all, except where
    the encoder lists the rates it takes or the rate needs more than 16 bits."""
    rate = Fraction(frame_rate)
    keeps_rate = encoder_caps(video_encoder).frame_rates or rate.numerator > MAX_16BIT
    return Trial(
        options=tuple((key, str(value)) for key, value in options.items()),
        width=width if exact_size else _trial_side(width),
        height=height if exact_size else _trial_side(height),
        frame_rate=frame_rate if keeps_rate else TRIAL_FRAME_RATE,
        sample_rate=(sample_rate or 48000) if audio else None,
        channels=(channels or 2) if audio else None,
    )


def trial_args(trial: Trial, output: Path) -> list[str]:
    """FFmpeg arguments writing a trial's few gray frames (and silence) to `output`."""
    streams = [
        ffmpeg.input(f"color=c=gray:s={trial.width}x{trial.height}:r={trial.frame_rate}", f="lavfi")
    ]
    if trial.sample_rate:
        layout = {1: "mono", 2: "stereo"}.get(trial.channels, f"{trial.channels}c")
        streams.append(
            ffmpeg.input(
                f"anullsrc=r={trial.sample_rate}:cl={layout}", f="lavfi", t=TRIAL_AUDIO_SECONDS
            )
        )
    options = {"frames:v": TRIAL_FRAMES, **dict(trial.options)}
    return ffmpeg.output(*streams, str(output), **options).compile(
        cmd=tools.ffmpeg, overwrite_output=True
    )


@lru_cache(maxsize=512)
def trial_mux(trial: Trial) -> str | None:
    """Write the trial in scratch: None if FFmpeg can, else its reason. Only FFmpeg's own
    answers are remembered; a timeout or a crash (FFmpegInterrupted) or a full disk
    (OSError) is raised, and so never cached."""
    key = f"trial {json.dumps(dataclasses.asdict(trial), sort_keys=True)}"
    if (answer := _recalled(key)) is not None:
        return answer["refusal"]
    if tools.scratch_dir:
        Path(tools.scratch_dir).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="trial-", dir=tools.scratch_dir) as directory:
        try:
            run_ffmpeg(trial_args(trial, Path(directory) / "trial"), timeout=TRIAL_TIMEOUT)
            refusal = None
        except FFmpegInterrupted:
            raise
        except FFmpegError as error:
            refusal = error.reason
    _remember(key, {"refusal": refusal})
    return refusal


def mux_refusal(**output) -> str | None:
    """Why FFmpeg cannot write such an output (see `trial_for`), or None if it can. A
    refusal on the small frame is asked again at the real size: some encoders take only
    certain sizes (H.263, DNxHD)."""
    small = trial_for(**output)
    reason = trial_mux(small)
    if reason and (exact := trial_for(**output, exact_size=True)) != small:
        reason = trial_mux(exact)
    return reason
