"""Trim: one span of a video, frame-exact (smart by default: copied between the cut
points), in the source's codecs and container, so trims of one source concatenate."""

import logging
from dataclasses import dataclass
from pathlib import Path

from django.db import models
from drf_spectacular.utils import OpenApiExample, extend_schema_serializer
from rest_framework import serializers

from jobs.serializers import RequestCodeSerializer, TimeField, VideoRefField
from jobs.timecodes import clock, format_ms
from videoproc.errors import ServiceError
from videos import storage
from videos.engine import costs, pipelines, smartcut
from videos.models import Video

from .base import (
    Input,
    Kind,
    Monitor,
    PlannedVideo,
    Ref,
    Result,
    input_name,
    one_frame_check,
    output_stem,
    plan_or_refuse,
    planned_from,
)

logger = logging.getLogger(__name__)

# What a smart trim re-encodes at most, for its cost: the frames of the two groups of
# pictures its cut points fall in (it copies the rest).
SMART_REENCODED_SECONDS = 10.0


class Mode(models.TextChoices):
    SMART = "smart", "Smart (exact, copies between the cut points)"
    REENCODE = "reencode", "Re-encode (exact, re-encodes everything)"
    KEYFRAME = "keyframe", "Keyframe (instant copy from the keyframe before the start)"


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "A video",
            value={
                "request_code": "alice",
                "video_id": 13,
                "trim_start": "5s",
                "trim_end": "00:00:15",
            },
        ),
        OpenApiExample(
            "The output of a pending job (chained)",
            value={
                "request_code": "alice",
                "video_id": {"job_id": 12},
                "trim_start": "0",
                "trim_end": "2500",
            },
            description="Job 12, of the same request code, runs first in the execute.",
        ),
    ]
)
class TrimSerializer(RequestCodeSerializer):
    video_id = VideoRefField()
    trim_start = TimeField(
        source="trim_start_ms",
        help_text="ms ('5000'), '5s', '5000ms', '5000000us' or 'HH:MM:SS.fff'",
    )
    trim_end = TimeField(source="trim_end_ms", help_text="same forms as trim_start")
    mode = serializers.ChoiceField(
        choices=Mode.choices,
        default=Mode.SMART,
        help_text="smart: frame-exact, copies all but the frames around the cut points; "
        "reencode: frame-exact, re-encodes everything; keyframe: copies from the keyframe "
        "at or before trim_start (instant, not frame-exact)",
    )

    def validate(self, attrs: dict) -> dict:
        if attrs["trim_end_ms"] <= attrs["trim_start_ms"]:
            raise serializers.ValidationError(
                f"The end ({clock(attrs['trim_end_ms'])}) must come after the start "
                f"({clock(attrs['trim_start_ms'])})."
            )
        return attrs


@dataclass(frozen=True)
class TrimParams:
    video_id: Ref
    trim_start_ms: float
    trim_end_ms: float
    mode: str = Mode.SMART


@dataclass(frozen=True)
class TrimPlan:
    output: pipelines.OutputPlan
    start: float  # seconds
    end: float  # clamped to the source's end


class Trim(Kind):
    name = "trim"
    label = "Trim"
    Params = TrimParams
    serializer = TrimSerializer

    def refs(self, params: TrimParams) -> list[Ref]:
        return [params.video_id]

    def check(self, params: TrimParams, inputs: list[Input]) -> TrimPlan:
        (video,) = inputs
        duration_ms = video.duration * 1000
        if params.trim_start_ms >= duration_ms:
            raise ServiceError(
                f"The start ({clock(params.trim_start_ms)}) is at or past the end of "
                f"{video.label}, which lasts {clock(duration_ms)}."
            )
        one_frame_check(
            start_ms=params.trim_start_ms, end_ms=params.trim_end_ms, source=video, what="A trim"
        )
        return TrimPlan(
            output=plan_or_refuse(lambda: pipelines.trim_plan(video)),
            start=params.trim_start_ms / 1000,
            end=min(params.trim_end_ms / 1000, video.duration),
        )

    def predict(self, params, inputs, plan: TrimPlan, *, job_id: int) -> PlannedVideo:
        # A trim keeps its source's codecs, size, rate and container (the contract's rule).
        return planned_from(inputs[0], job_id=job_id, duration=plan.end - plan.start)

    def run(self, params: TrimParams, inputs, plan: TrimPlan, workdir: Path, monitor) -> Result:
        """Cut with the requested method; a smart cut the source does not allow falls back
        to the full re-encode. The outcome and the result's trim_info say what ran, why."""
        (video,) = inputs
        output, poster = workdir / f"output.{plan.output.extension}", workdir / "poster.jpg"
        with storage.local_path(video.file.name) as source:
            cut = _cut(params.mode, video, source, plan, workdir, output, monitor, poster)
        outcome = {"trim_method": cut.method}
        if cut.reason:
            outcome["fallback_reason"] = cut.reason
        if cut.real_start is not None:
            outcome["real_start"] = format_ms(round(cut.real_start * 1000, 3))
        if cut.copied:
            outcome["copied_ms"] = [format_ms(round(time * 1000, 3)) for time in cut.copied]
        info = {
            "trim_start": round(params.trim_start_ms),
            "trim_end": round(params.trim_end_ms),
            "video_id": video.id,
            **outcome,
        }
        made_poster = poster if cut.method == "smart" else None
        return Result(
            output, output_stem(video, "trim"), {"trim_info": info}, outcome, poster=made_poster
        )

    def cost(self, params: TrimParams, inputs, plan: TrimPlan) -> float:
        span = plan.end - plan.start
        reencoded = {Mode.KEYFRAME: 0, Mode.REENCODE: span}.get(
            params.mode, min(span, SMART_REENCODED_SECONDS)
        )
        return costs.reencode_seconds(inputs[0], plan.output, reencoded)

    def summary(self, params: TrimParams) -> str:
        return (
            f"{input_name(params.video_id)}, {format_ms(params.trim_start_ms)}–"
            f"{format_ms(params.trim_end_ms)} ms"
        )


def _cut(
    mode: str,
    video: Video,
    source: Path,
    plan: TrimPlan,
    workdir: Path,
    output: Path,
    monitor: Monitor,
    poster: Path,
) -> smartcut.CutResult:
    if mode == Mode.KEYFRAME:
        real_start = smartcut.keyframe_before(source, video.demuxer, plan.start, video.stream_facts)
        args = smartcut.keyframe_args(
            source=source,
            demuxer=video.demuxer,
            start=real_start,
            end=plan.end,
            has_audio=video.audio_codec is not None,
            extension=video.extension,
            output=output,
        )
        monitor.run(args, plan.end - real_start)
        return smartcut.CutResult(method="keyframe", real_start=real_start)
    cut = smartcut.CutResult(method="reencode")
    if mode == Mode.SMART:
        try:
            cut = smartcut.smart_cut(
                source=source,
                demuxer=video.demuxer,
                start=plan.start,
                end=plan.end,
                output_plan=plan.output,
                rotation=video.rotation,
                workdir=workdir,
                output=output,
                runner=monitor,
                poster=poster,
                facts=video.stream_facts,
            )
        except smartcut.NotSmart as refusal:
            logger.info("not cut smartly, re-encoding the range: %s", refusal.detail)
            cut = smartcut.CutResult(method="reencode", reason=refusal.fallback("range"))
        if cut.method != "reencode":
            return cut
    # A smart trim that falls back weighs what its span did; one asked to re-encode is
    # made at the usual high quality.
    fell_back = mode == Mode.SMART and video.video_codec in ("h264", "hevc")
    args = pipelines.trim_args(
        source=source,
        demuxer=video.demuxer,
        start=plan.start,
        end=plan.end,
        plan=plan.output,
        output=output,
        video_bitrate=smartcut.span_bitrate(source, video.demuxer, plan.start, plan.end)
        if fell_back
        else 0.0,
    )
    monitor.run(args, plan.end - plan.start)
    return cut
