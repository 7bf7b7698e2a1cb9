"""Concat: whole videos, in order, as one, joined by stream copy; unlike videos only with
`normalize`, which re-encodes the ones that differ from the target. The join itself (one
for concats and edits) is here."""

from contextlib import ExitStack
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from drf_spectacular.utils import OpenApiExample, extend_schema_serializer
from rest_framework import serializers

from jobs.serializers import NORMALIZE_HELP, NormalizeField, RequestCodeSerializer, VideoRefField
from videoproc.errors import ServiceError
from videos import storage
from videos.engine import chunks, costs, edits, normalize, pipelines
from videos.engine.media import FORMATS, probe_made, run_ffmpeg

from .base import (
    Input,
    Kind,
    PlannedVideo,
    Ref,
    Result,
    Share,
    input_name,
    output_rate_check,
    output_stem,
    plan_or_refuse,
    planned_encode,
    planned_from,
)


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "Alike videos, by copy", value={"request_code": "alice", "video_ids": [13, 14]}
        ),
        OpenApiExample(
            "Unlike videos, made to match the first",
            value={"request_code": "alice", "video_ids": [13, 14, 15], "normalize": True},
        ),
        OpenApiExample(
            "To a named target, with a pending job's output",
            value={
                "request_code": "alice",
                "video_ids": [13, {"job_id": 12}],
                "normalize": {
                    "resolution": "1280:720",
                    "frame_rate": 30,
                    "video_codec": "libx264",
                    "audio_codec": "aac",
                    "container": "mp4",
                },
            },
        ),
    ]
)
class ConcatSerializer(RequestCodeSerializer):
    video_ids = serializers.ListField(
        child=VideoRefField(),
        min_length=2,
        max_length=100,
        error_messages={"min_length": "Give at least two video ids to concatenate."},
    )
    normalize = NormalizeField(default=False, help_text=NORMALIZE_HELP)


@dataclass(frozen=True)
class ConcatParams:
    video_ids: list[Ref]
    normalize: bool | dict = False


def join_check(
    inputs: list[Input], normalizing: bool | dict, refusal: str
) -> pipelines.OutputPlan | None:
    """Alike inputs join as they are (None); unlike ones only when normalising, to a
    target this FFmpeg can write (its plan)."""
    if normalizing:
        target = plan_or_refuse(lambda: normalize.target_plan(inputs, normalizing))
        output_rate_check(target)
        return target
    if reason := pipelines.concat_incompatibility(inputs):
        raise ServiceError(
            f"These {refusal} as they are: {reason}. Ask for them to be normalised to join "
            'them anyway ("normalize": true re-encodes those that differ from the first).'
        )
    return None


def normalizing_cost(
    inputs: list[Input], target: pipelines.OutputPlan | None, durations: list[float]
) -> float:
    """What re-encoding the parts unlike the target costs (a join by copy costs ~0)."""
    if target is None:
        return 0.0
    return sum(
        costs.reencode_seconds(source, target, duration)
        for source, duration in zip(inputs, durations, strict=True)
        if normalize.video_differs(source, target)
    )


def predict_join(
    inputs: list[Input], target: pipelines.OutputPlan | None, *, job_id: int, duration: float
) -> PlannedVideo:
    """A join is like its first input, or like the target it was normalised to."""
    if target:
        return planned_encode(
            target, job_id=job_id, duration=duration, audio_channels=target.channels
        )
    return planned_from(inputs[0], job_id=job_id, duration=duration)


class Concat(Kind):
    name = "concat"
    label = "Concat"
    Params = ConcatParams
    serializer = ConcatSerializer

    def refs(self, params: ConcatParams) -> list[Ref]:
        return params.video_ids

    def check(self, params: ConcatParams, inputs: list[Input]) -> pipelines.OutputPlan | None:
        return join_check(inputs, params.normalize, "videos cannot be concatenated")

    def predict(self, params, inputs, plan, *, job_id: int) -> PlannedVideo:
        duration = sum(source.duration for source in inputs)
        return predict_join(inputs, plan, job_id=job_id, duration=duration)

    def run(self, params: ConcatParams, inputs, plan, workdir: Path, monitor) -> Result:
        info = {"video_ids": [video.id for video in inputs]}
        if plan:
            parts = [
                normalize.Part(video=video, name=f"part{index}.{plan.extension}")
                for index, video in enumerate(inputs)
            ]
            output = _normalized_join(parts, plan, workdir, monitor)
            info["normalized"] = {
                "target": normalize.target_info(plan),
                "reencoded": [part.video.id for part in parts if part.reencodes(plan)],
            }
        else:
            output = _join_as_they_are(inputs, workdir, monitor)
        return Result(output, output_stem(inputs[0], "concat"), {"concat_info": info})

    def cost(self, params, inputs, plan) -> float:
        return normalizing_cost(inputs, plan, [source.duration for source in inputs])

    def summary(self, params: ConcatParams) -> str:
        return " + ".join(map(input_name, params.video_ids)) + normalized_note(params.normalize)


def normalized_note(normalizing: bool | dict) -> str:
    return ", normalised" if normalizing else ""


def _join_as_they_are(videos, workdir: Path, monitor) -> Path:
    """Alike videos joined by copy. Generated names linked into the job's own directory
    keep the list file free of user text and let the concat demuxer's safe mode stay on;
    MP4/MOV parts counting other ticks a second than the first's are remuxed to its."""
    first = videos[0]
    names = []
    with ExitStack() as stack:
        for index, video in enumerate(videos):
            source = stack.enter_context(storage.local_path(video.file.name))
            names.append(f"part{index}.{video.extension}")
            if first.extension in pipelines.MOV_FAMILY and video.time_base != first.time_base:
                run_ffmpeg(
                    pipelines.retime_args(
                        source=source,
                        demuxer=video.demuxer,
                        timescale=Fraction(first.time_base).denominator,
                        has_audio=video.audio_codec is not None,
                        extension=video.extension,
                        output=workdir / names[-1],
                    ),
                    should_cancel=monitor.should_cancel,
                )
            else:
                (workdir / names[-1]).symlink_to(source)
        return join(
            names,
            workdir=workdir,
            extension=first.extension,
            demuxers={video.demuxer for video in videos},
            sound_codec=first.audio_codec,
            sound_plan=lambda: pipelines.trim_plan(first),  # as its trims encode it
            duration=sum(video.duration for video in videos),
            monitor=monitor,
        )


def _normalized_join(parts: list[normalize.Part], plan, workdir: Path, monitor) -> Path:
    """Make each part as the plan says (90% of the progress), then join them."""
    total = sum(part.duration for part in parts)
    done = 0.0
    for part in parts:
        with storage.local_path(part.video.file.name) as source:
            share = (done / total * 0.9, (done + part.duration) / total * 0.9)
            output = workdir / part.name
            if not normalized_in_chunks(
                video=part.video,
                source=source,
                plan=plan,
                output=output,
                monitor=Share(monitor, share),
            ):
                monitor.run(
                    part.args(source=source, plan=plan, output=output), part.duration, span=share
                )
        done += part.duration
    return join(
        [part.name for part in parts],
        workdir=workdir,
        extension=plan.extension,
        demuxers=set(FORMATS[plan.extension].demuxers),
        sound_codec=plan.audio_codec,
        sound_plan=lambda: plan,
        duration=total,
        monitor=monitor,
        span=(0.9, 1),
    )


def normalized_in_chunks(
    *,
    video,
    source: Path,
    plan: pipelines.OutputPlan,
    output: Path,
    monitor,
    start: float | None = None,
    end: float | None = None,
) -> bool:
    """A part of a normalised join whose picture is re-encoded, made in chunks as a long
    encode is (jobs/chunks.py) when it is long: the same part, its sound (if the plan
    has any) made once as the part's own run would make it and muxed in at the join.
    False, having done nothing, when it is made whole."""
    if not normalize.video_differs(video, plan):
        return False
    sound = None
    if plan.audio_encoder:
        path = output.with_name(f"sound-{output.name}")
        args = normalize.part_args(
            source=source, video=video, plan=plan, output=path, start=start, end=end, picture=False
        )
        sound = chunks.Sound(path, args)
    return monitor.encode_in_chunks(
        video=video,
        source=source,
        plan=plan,
        output=output,
        workdir=output.parent,
        options=normalize.part_options(plan),
        sound=sound,
        start=start or 0.0,
        end=end,
    )


def join(
    names: list[str],
    *,
    workdir: Path,
    extension: str,
    demuxers: set[str],
    sound_codec: str | None,
    sound_plan,
    duration: float,
    monitor,
    span: tuple[float, float] = (0, 1),
    edit_sounds: list | None = None,
) -> Path:
    """The one join of concats and edits: the parts (files in workdir, in order) by stream
    copy through the concat demuxer. Their sound (of `sound_codec`) is copied along, except
    where it cannot be: Vorbis (pipelines.HEADER_BOUND_AUDIO) is re-encoded once as
    `sound_plan()` says,
    and an edit's is cut from its sources over the segments' spans (`edit_sounds`) and
    encoded once, so it has no seams."""
    list_file = workdir / "parts.ffconcat"
    list_file.write_text(pipelines.concat_list(names))
    output = workdir / f"output.{extension}"
    if edit_sounds is not None:
        args = edits.join_args(
            list_file=list_file,
            extension=extension,
            sounds=edit_sounds,
            plan=sound_plan(),
            output=output,
        )
    else:
        header_bound = sound_codec in pipelines.HEADER_BOUND_AUDIO
        args = pipelines.concat_args(
            list_file=list_file,
            demuxers=demuxers,
            extension=extension,
            has_audio=sound_codec is not None,
            output=output,
            sounds=[_part_sound(workdir / name) for name in names] if header_bound else None,
            sound_plan=sound_plan() if header_bound else None,
        )
    monitor.run(args, duration, span=span)
    return output


def _part_sound(path: Path) -> pipelines.PartSound:
    """A concat part as the input of its own sound (pipelines.HEADER_BOUND_AUDIO)."""
    found = probe_made(path)
    return pipelines.PartSound(path=path, demuxer=found.demuxer, duration=found.duration)
