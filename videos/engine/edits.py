"""Edit jobs: segments of one or more videos, in order, as one video.

Each segment's picture is cut on its own, frame-exact (smart where the source allows:
copied between the cut points), into a picture-only part that carries its parameter
sets in-band; segments of a source unlike the target are re-encoded to it (only with
"normalize"). The parts then join by stream copy, and the sound is cut from the sources
over the very same spans and encoded once, so it has no seams and stays in sync.
"""

import math
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

import ffmpeg

from . import normalize, pipelines
from .media import FORMATS, MediaFacts, file_url
from .pipelines import OutputPlan
from .tools import tools

SILENCE_SAMPLE_RATE = normalize.SILENCE_SAMPLE_RATE
FRAME_EPSILON = 1e-6  # seconds: a frame this close to a cut point counts as on it


@dataclass(frozen=True)
class Segment:
    """A span of a source, as the job's params give it (seconds, end clamped)."""

    video: MediaFacts
    start: float
    end: float

    @property
    def first_frame(self) -> float:
        """When its first frame shows in the source: the first at or after `start`, on a
        constant-rate source's grid; `start` itself otherwise (then off by under a frame)."""
        rate = Fraction(self.video.frame_rate)
        if not rate or rate != Fraction(self.video.base_frame_rate):
            return self.start
        return float(math.ceil((self.start - FRAME_EPSILON) * rate) / rate)


def picture_plan(plan: OutputPlan) -> OutputPlan:
    """The plan of a part: the picture only (the sound is made at the join)."""
    return replace(plan, audio_encoder=None, sample_rate=None, channels=None)


def in_band_args(*, source: Path, output: Path, video_codec: str, extension: str) -> list[str]:
    """Copy a part's picture into a part of the join, its parameter sets put in-band."""
    options = {"c:v": "copy", "f": FORMATS[extension].muxer}
    if bsf := normalize.IN_BAND_PARAMETER_SETS.get(video_codec):
        options["bsf:v"] = bsf
    return ffmpeg.output(
        ffmpeg.input(str(source), protocol_whitelist="file")["v:0"], str(output), **options
    ).compile(cmd=tools.ffmpeg, overwrite_output=True)


def join_args(
    *,
    list_file: Path,
    extension: str,
    sounds: list[tuple[Path, Segment, float]],
    plan: OutputPlan,
    output: Path,
) -> list[str]:
    """The parts' pictures joined by copy; with sound, each segment's sound cut from its
    source from its first frame for as long as its part lasts (silence where the source
    has none), brought to one rate and layout, joined and encoded once."""
    pictures = ffmpeg.input(
        str(list_file),
        f="concat",
        safe=1,
        protocol_whitelist="file",
        format_whitelist=",".join(["concat", *sorted(FORMATS[extension].demuxers)]),
    )
    streams = [pictures["v:0"]]
    options = {"c:v": "copy", **pipelines.container_options(replace(plan, extension=extension))}
    if plan.audio_encoder:
        rate = plan.sample_rate or SILENCE_SAMPLE_RATE
        layout = {1: "mono", 2: "stereo"}.get(plan.channels or 2, f"{plan.channels}c")
        pieces = []
        for source, segment, length in sounds:
            if segment.video.audio_codec is None:
                piece = ffmpeg.input(
                    f"anullsrc=r={rate}:cl={layout}", f="lavfi", t=f"{length:.6f}"
                )["a"]
            else:
                piece = ffmpeg.input(
                    file_url(source),
                    f=segment.video.demuxer,
                    protocol_whitelist="file",
                    ss=f"{segment.first_frame:.6f}",
                    t=f"{length:.6f}",
                )["a:0"]
            pieces.append(piece.filter("aresample", rate).filter("aformat", channel_layouts=layout))
        streams.append(ffmpeg.concat(*pieces, v=0, a=1) if len(pieces) > 1 else pieces[0])
        options.update(pipelines.audio_options(plan))
    return ffmpeg.output(*streams, str(output), **options).compile(
        cmd=tools.ffmpeg, overwrite_output=True
    )
