"""Joins of unlike videos, on request ("normalize").

The target is the first input (upright, square pixels) or what the request names. An
input that differs from it is re-encoded to it: scaled into its frame with letterbox or
pillarbox bars, turned upright, at its rate, pixel format and codecs, with silence where
it has no sound. An input that matches is copied. Every part then carries its own
H.264/HEVC parameter sets in-band, so the parts join by stream copy and a decoder meets
each part's own settings where it starts.
"""

from dataclasses import dataclass, replace
from fractions import Fraction

import ffmpeg

from . import capabilities, pipelines
from .media import FFmpegError, MediaFacts, file_url
from .pipelines import OutputPlan
from .tools import tools

# The profile x264 writes when it is given one (and the one it picks for 4:2:0 unasked).
X264_PROBED_PROFILES = {"baseline": "Constrained Baseline", "main": "Main", None: "High"}
# Bitstream filters that put the parameter sets in front of each keyframe.
IN_BAND_PARAMETER_SETS = {"h264": "h264_mp4toannexb", "hevc": "hevc_mp4toannexb"}
SILENCE_SAMPLE_RATE = 48000


def upright_size(video) -> tuple[int, int]:
    """The picture's size as players show it (phone footage is stored turned)."""
    if abs(video.rotation) % 180 == 90:
        return video.height, video.width
    return video.width, video.height


def target_plan(videos: list, normalize: bool | dict) -> OutputPlan:
    """What every part of the join must be. Unnamed fields are the first input's; the
    container keeps the first's when it can hold the codecs (as for an encode). Sound
    is kept if any input has some. Raises FFmpegError if this FFmpeg cannot write it."""
    first = videos[0]
    wanted = normalize if isinstance(normalize, dict) else {}
    width, height = upright_size(first)
    default_video, default_audio = pipelines.DEFAULT_ENCODERS[first.extension]
    video_encoder = (
        wanted.get("video_codec")
        or capabilities.encoder_for_codec(first.video_codec)
        or default_video
    )
    audio_encoder = (
        wanted.get("audio_codec")
        or (first.audio_codec and capabilities.encoder_for_codec(first.audio_codec))
        or default_audio
    )
    params = {
        "video_codec": video_encoder,
        "audio_codec": audio_encoder,
        "resolution": wanted.get("resolution") or f"{width}:{height}",
        "frame_rate": wanted.get("frame_rate") or Fraction(first.base_frame_rate),
        "container": wanted.get("container"),
    }
    plan = pipelines.encode_plan(video=first, params=params)
    has_audio = any(video.audio_codec for video in videos)
    sample_rate = first.audio_sample_rate if first.audio_codec else SILENCE_SAMPLE_RATE
    pinned = replace(
        plan,
        # the first's own pixel format and profile, so that it can be copied
        pix_fmt=capabilities.pick_pix_fmt(video_encoder, first.pix_fmt),
        profile=pipelines.X264_PROFILES.get(first.video_profile)
        if video_encoder == "libx264"
        else None,
        audio_encoder=audio_encoder if has_audio else None,
        sample_rate=capabilities.pick_sample_rate(audio_encoder, sample_rate)
        if has_audio
        else None,
        channels=(first.audio_channels or 2) if has_audio else None,
        high_quality=True,
    )
    if reason := pipelines.write_refusal(pinned):
        raise FFmpegError(f"this server cannot write the joined video: {reason}")
    return pinned


def video_differs(video, plan: OutputPlan) -> bool:
    """Whether the input's picture must be re-encoded to join as the plan says."""
    profile_wanted = (
        X264_PROBED_PROFILES.get(plan.profile)
        if plan.video_encoder == "libx264" and plan.pix_fmt == "yuv420p"
        else video.video_profile
    )
    return (
        video.video_codec != plan.video_codec
        or video.video_profile != profile_wanted
        or (video.width, video.height) != (plan.width, plan.height)
        or video.rotation != 0
        or video.sample_aspect_ratio not in ("1:1", "")
        or video.pix_fmt != plan.pix_fmt
        or Fraction(video.base_frame_rate) != Fraction(plan.frame_rate)
        or Fraction(video.frame_rate) != Fraction(plan.frame_rate)  # variable rate
    )


def audio_differs(video, plan: OutputPlan) -> bool:
    """Whether the input's sound must be re-encoded (or made) to join as planned."""
    if plan.audio_encoder is None:
        return False
    return (video.audio_codec, video.audio_sample_rate, video.audio_channels) != (
        plan.audio_codec,
        plan.sample_rate,
        plan.channels,
    )


@dataclass(frozen=True)
class Part:
    """One input of a normalised join (with start/end: a span of it, re-encoded)."""

    video: MediaFacts
    name: str  # its file in the job's directory
    start: float | None = None  # seconds
    end: float | None = None

    @property
    def duration(self) -> float:
        return self.video.duration if self.start is None else self.end - self.start

    def reencodes(self, plan: OutputPlan) -> bool:
        return video_differs(self.video, plan) or audio_differs(self.video, plan)

    def args(self, *, source, plan: OutputPlan, output) -> list[str]:
        return part_args(
            source=source,
            video=self.video,
            plan=plan,
            output=output,
            start=self.start,
            end=self.end,
        )


def span_picture(video, plan: OutputPlan, *, length: float | None):
    """The picture of a span `length` seconds long whose timestamps start at 0 (the input
    seek moved them), cut to [0, length) by timestamp and fit to the plan; the whole
    picture without `length`. One cut for a part encoded whole and for its chunks."""
    if length is not None:
        video = video.filter("trim", start=0, end=f"{length:.6f}")
    return pipelines.fit_picture(video, plan)


def part_options(plan: OutputPlan) -> dict:
    """How a part of a normalised join is written, its picture encoded or copied: every
    part in the same ticks, its parameter sets in-band."""
    options = pipelines.container_options(plan)
    if plan.extension in pipelines.MOV_FAMILY:
        # Every part counted in the same ticks (the concat demuxer reads them all in the
        # first's): a copied picture keeps its source's otherwise.
        options["video_track_timescale"] = pipelines.mov_timescale(plan.frame_rate)
    if bsf := IN_BAND_PARAMETER_SETS.get(plan.video_codec):
        options["bsf:v"] = bsf
    return options


def part_args(
    *,
    source,
    video,
    plan: OutputPlan,
    output,
    start: float | None = None,
    end: float | None = None,
    picture: bool = True,
) -> list[str]:
    """One part of a normalised join, in the plan's container: what differs re-encoded,
    the rest copied, the parameter sets in-band. A span (start/end) is for an input
    whose picture is re-encoded: the input seek then decodes from the keyframe before
    and drops what precedes `start`, so the cut is frame-exact. Without `picture`: the
    part's sound alone (a part encoded in chunks has it muxed in at their join)."""
    span = {"ss": f"{start:.6f}", "t": f"{end - start:.6f}"} if start is not None else {}
    source_input = ffmpeg.input(
        file_url(source), f=video.demuxer, protocol_whitelist="file", **span
    )
    streams = []
    if not picture:
        options = pipelines.container_options(plan)
    elif video_differs(video, plan):
        length = None if start is None else end - start
        streams.append(span_picture(source_input["v:0"], plan, length=length))
        options = {**part_options(plan), **pipelines.video_options(plan)}
    else:
        streams.append(source_input["v:0"])
        options = {**part_options(plan), "c:v": "copy"}
    if plan.audio_encoder:
        if video.audio_codec is None:
            duration = (end - start) if start is not None else video.duration
            layout = "mono" if plan.channels == 1 else "stereo"
            silence = ffmpeg.input(
                f"anullsrc=r={plan.sample_rate or SILENCE_SAMPLE_RATE}:cl={layout}",
                f="lavfi",
                t=f"{duration:.6f}",
            )
            streams.append(silence)
            options.update(pipelines.audio_options(plan))
        elif audio_differs(video, plan) or start is not None:
            streams.append(source_input["a:0"])
            options.update(pipelines.audio_options(plan))
        else:
            streams.append(source_input["a:0"])
            options["c:a"] = "copy"
    return ffmpeg.output(*streams, str(output), **options).compile(
        cmd=tools.ffmpeg, overwrite_output=True
    )


def target_info(plan: OutputPlan) -> dict:
    """The target as the result's concat_info shows it, in the request's terms."""
    return {
        "resolution": f"{plan.width}:{plan.height}",
        "frame_rate": float(Fraction(plan.frame_rate)),
        "video_codec": plan.video_codec,
        "audio_codec": plan.audio_codec,
        "container": plan.extension,
    }
