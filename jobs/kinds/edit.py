"""Edit: segments of one or more videos, in order, as one video. Each segment's picture
is cut frame-exact (smart where the source allows), the parts join by copy, and the sound
is cut over the same spans and encoded once (videos/engine/edits.py)."""

import logging
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path

from drf_spectacular.utils import OpenApiExample, extend_schema_serializer
from rest_framework import serializers

from jobs.serializers import (
    NORMALIZE_HELP,
    NormalizeField,
    RequestCodeSerializer,
    TimeField,
    VideoRefField,
)
from jobs.timecodes import clock, format_ms
from videoproc.errors import ServiceError
from videos import storage
from videos.engine import costs, edits, normalize, pipelines, smartcut
from videos.engine.media import probe_made

from .base import (
    Input,
    Kind,
    Monitor,
    PlannedVideo,
    Ref,
    Result,
    Share,
    input_name,
    one_frame_check,
    output_stem,
    plan_or_refuse,
)
from .concat import (
    join,
    join_check,
    normalized_in_chunks,
    normalized_note,
    normalizing_cost,
    predict_join,
)
from .trim import SMART_REENCODED_SECONDS

logger = logging.getLogger(__name__)


class SegmentSerializer(serializers.Serializer):
    video_id = VideoRefField()
    start = TimeField(source="start_ms", help_text="same forms as trim_start")
    end = TimeField(source="end_ms", help_text="same forms as trim_end")


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "Three moments from two recordings",
            value={
                "request_code": "alice",
                "segments": [
                    {"video_id": 13, "start": "00:00:05.200", "end": "00:00:09"},
                    {"video_id": 14, "start": "1500", "end": "4s"},
                    {"video_id": 13, "start": "20s", "end": "22.5s"},
                ],
            },
        ),
        OpenApiExample(
            "A phone clip and a camera clip, normalised",
            value={
                "request_code": "alice",
                "normalize": True,
                "segments": [
                    {"video_id": 13, "start": "0", "end": "4s"},
                    {"video_id": {"job_id": 12}, "start": "1s", "end": "3s"},
                ],
            },
        ),
    ]
)
class EditSerializer(RequestCodeSerializer):
    segments = serializers.ListField(
        child=SegmentSerializer(),
        min_length=1,
        max_length=100,
        help_text="played in this order; the same video may appear several times",
    )
    normalize = NormalizeField(default=False, help_text=NORMALIZE_HELP)

    def validate(self, attrs: dict) -> dict:
        for number, segment in enumerate(attrs["segments"], 1):
            if segment["end_ms"] <= segment["start_ms"]:
                raise serializers.ValidationError(
                    f"Segment {number}'s end ({clock(segment['end_ms'])}) must come after its "
                    f"start ({clock(segment['start_ms'])})."
                )
        return attrs


@dataclass(frozen=True)
class SegmentParams:
    video_id: Ref
    start_ms: float
    end_ms: float


@dataclass(frozen=True)
class EditParams:
    segments: list[SegmentParams]
    normalize: bool | dict = False


class Edit(Kind):
    name = "edit"
    label = "Edit"
    Params = EditParams
    serializer = EditSerializer

    def load(self, stored: dict) -> EditParams:
        segments = [SegmentParams(**segment) for segment in stored["segments"]]
        return EditParams(**{**stored, "segments": segments})

    def refs(self, params: EditParams) -> list[Ref]:
        return [segment.video_id for segment in params.segments]

    def check(self, params: EditParams, inputs: list[Input]) -> pipelines.OutputPlan:
        """The plan of the whole: the normalising target, else the first source's own."""
        own_plans = []
        for number, (segment, source) in enumerate(zip(params.segments, inputs, strict=True), 1):
            if segment.start_ms >= source.duration * 1000:
                raise ServiceError(
                    f"Segment {number} starts ({clock(segment.start_ms)}) at or past the end "
                    f"of {source.label}, which lasts {clock(source.duration * 1000)}."
                )
            one_frame_check(
                start_ms=segment.start_ms,
                end_ms=segment.end_ms,
                source=source,
                what=f"Segment {number}",
            )
            own_plans.append(plan_or_refuse(lambda source=source: pipelines.trim_plan(source)))
        target = join_check(inputs, params.normalize, "segments cannot be joined")
        return target or own_plans[0]

    def predict(self, params: EditParams, inputs, plan, *, job_id: int) -> PlannedVideo:
        duration_ms = sum(
            min(segment.end_ms, source.duration * 1000) - segment.start_ms
            for segment, source in zip(params.segments, inputs, strict=True)
        )
        target = plan if params.normalize else None
        return predict_join(inputs, target, job_id=job_id, duration=duration_ms / 1000)

    def run(self, params: EditParams, inputs, plan, workdir: Path, monitor) -> Result:
        segments = [
            edits.Segment(
                video=video,
                start=spec.start_ms / 1000,
                end=min(spec.end_ms / 1000, video.duration),
            )
            for spec, video in zip(params.segments, inputs, strict=True)
        ]
        total = sum(segment.end - segment.start for segment in segments)
        with ExitStack() as stack:
            sources = {
                video.id: stack.enter_context(storage.local_path(video.file.name))
                for video in inputs
            }
            names, methods, sounds, done = [], [], [], 0.0
            for index, segment in enumerate(segments):
                names.append(f"segment{index}.{plan.extension}")
                length = segment.end - segment.start
                share = (0.9 * done / total, 0.9 * (done + length) / total)
                methods.append(
                    _cut_picture(
                        segment,
                        sources[segment.video.id],
                        plan,
                        bool(params.normalize),
                        workdir / names[-1],
                        Share(monitor, share),
                    )
                )
                length_made = probe_made(workdir / names[-1]).duration
                sounds.append((sources[segment.video.id], segment, length_made))
                done += length
            output = join(
                names,
                workdir=workdir,
                extension=plan.extension,
                demuxers=set(),
                sound_codec=plan.audio_codec,
                sound_plan=lambda: plan,
                duration=total,
                monitor=monitor,
                span=(0.9, 1),
                edit_sounds=sounds,
            )
        info = {
            "video_ids": [video.id for video in inputs],
            "segments": [
                {
                    "video_id": segment.video.id,
                    "start": round(spec.start_ms),
                    "end": round(spec.end_ms),
                    **method,
                }
                for segment, spec, method in zip(segments, params.segments, methods, strict=True)
            ],
        }
        if params.normalize:
            info["normalized"] = {"target": normalize.target_info(plan)}
        return Result(output, output_stem(inputs[0], "edit"), {"concat_info": info})

    def cost(self, params: EditParams, inputs, plan) -> float:
        """Segments of a source unlike the target are re-encoded whole; the others are
        cut smart, re-encoding at most the groups of pictures at their cut points."""
        spans = [
            min(segment.end_ms / 1000, source.duration) - segment.start_ms / 1000
            for segment, source in zip(params.segments, inputs, strict=True)
        ]
        target = plan if params.normalize else None
        unlike = normalizing_cost(inputs, target, spans)
        smart = sum(
            costs.reencode_seconds(source, plan, min(span, SMART_REENCODED_SECONDS))
            for source, span in zip(inputs, spans, strict=True)
            if target is None or not normalize.video_differs(source, target)
        )
        return unlike + smart

    def summary(self, params: EditParams) -> str:
        return " + ".join(
            f"{input_name(segment.video_id)} {format_ms(segment.start_ms)}–"
            f"{format_ms(segment.end_ms)} ms"
            for segment in params.segments
        ) + normalized_note(params.normalize)


def _cut_picture(
    segment: edits.Segment,
    source: Path,
    plan: pipelines.OutputPlan,
    normalizing: bool,
    output: Path,
    monitor: Monitor,
) -> dict:
    """Cut one segment's picture into a part of the join: smart where the source allows
    it, else re-encoded; which method ran (and why not smart, then)."""
    picture = edits.picture_plan(plan)
    video = segment.video
    if normalizing and normalize.video_differs(video, picture):
        span = {"start": segment.start, "end": segment.end}
        if not normalized_in_chunks(
            video=video, source=source, plan=picture, output=output, monitor=monitor, **span
        ):
            monitor.run(
                normalize.part_args(
                    source=source, video=video, plan=picture, output=output, **span
                ),
                segment.end - segment.start,
            )
        return {"method": "normalized"}
    own = replace(edits.picture_plan(pipelines.trim_plan(video)), extension=plan.extension)
    scratch = output.with_name(f"smart-{output.stem}")
    scratch.mkdir()
    try:
        smartcut.smart_cut(
            source=source,
            demuxer=video.demuxer,
            start=segment.start,
            end=segment.end,
            output_plan=own,
            rotation=video.rotation,
            workdir=scratch,
            output=output,
            runner=monitor,
            facts=video.stream_facts,
        )
        return {"method": "smart"}
    except smartcut.NotSmart as refusal:
        logger.info("segment not cut smartly, re-encoding it: %s", refusal.detail)
        fallback = {"method": "reencode", "fallback_reason": refusal.fallback("segment")}
    cut = output.with_name(f"cut-{output.name}")
    monitor.run(
        pipelines.trim_args(
            source=source,
            demuxer=video.demuxer,
            start=segment.start,
            end=segment.end,
            plan=own,
            output=cut,
        ),
        segment.end - segment.start,
    )
    monitor.run(
        edits.in_band_args(
            source=cut, output=output, video_codec=own.video_codec, extension=plan.extension
        ),
        segment.end - segment.start,
    )
    return fallback
