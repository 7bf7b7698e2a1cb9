"""Encode: a video re-encoded to the requested codecs, size and rate, in the requested
container, else the source's when it can hold them, else the documented fallback."""

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from rest_framework import serializers

from jobs.serializers import (
    MAX_NAME_LENGTH,
    OutputTargetSerializer,
    RequestCodeSerializer,
    VideoRefField,
)
from videoproc.errors import ServiceError
from videos import storage
from videos.engine import capabilities, chunks, costs, pipelines
from videos.engine.media import NO_PICTURE
from videos.services import budget_refusal

from .base import (
    Input,
    Kind,
    PlannedVideo,
    Ref,
    Result,
    input_name,
    output_rate_check,
    output_stem,
    plan_or_refuse,
    planned_encode,
    planned_from,
)


class EncodeSerializer(RequestCodeSerializer, OutputTargetSerializer):
    video_id = VideoRefField()
    video_codec = serializers.CharField(
        default="libx264",
        max_length=MAX_NAME_LENGTH,
        help_text='a video encoder of this FFmpeg, or "none": the sound alone, encoded with '
        "audio_codec (resolution and frame_rate then do not apply)",
    )
    audio_codec = serializers.CharField(default="aac", max_length=MAX_NAME_LENGTH)
    resolution = serializers.CharField(default="1920:1080", max_length=20)
    frame_rate = serializers.FloatField(default=30)

    def validate_video_codec(self, value: str) -> str:
        return value if value == pipelines.SOUND_ONLY else super().validate_video_codec(value)


@dataclass(frozen=True)
class EncodeParams:
    video_id: Ref
    video_codec: str
    audio_codec: str
    resolution: str
    frame_rate: float
    container: str | None = None  # settled at queue time: the container the plan chose


class Encode(Kind):
    name = "encode"
    label = "Encode"
    Params = EncodeParams
    serializer = EncodeSerializer

    def refs(self, params: EncodeParams) -> list[Ref]:
        return [params.video_id]

    def check(
        self, params: EncodeParams, inputs: list[Input]
    ) -> pipelines.OutputPlan | pipelines.SoundPlan:
        (video,) = inputs
        if params.video_codec == pipelines.SOUND_ONLY:
            if video.audio_codec is None:
                raise ServiceError(
                    f"{video.label.capitalize()} has no sound: an audio-only encode of it "
                    "would be empty."
                )
            return plan_or_refuse(
                lambda: pipelines.sound_plan(
                    video=video, audio_encoder=params.audio_codec, container=params.container
                )
            )
        width, height = map(int, params.resolution.split(":"))
        if reason := budget_refusal(
            width=width, height=height, frame_rate=params.frame_rate, duration=video.duration
        ):
            raise ServiceError(f"The encode is too costly: {reason}")
        encoders = capabilities.encoders()
        same_audio = (
            video.audio_codec is None or encoders[params.audio_codec].codec == video.audio_codec
        )
        if (
            encoders[params.video_codec].codec == video.video_codec
            and same_audio
            and params.resolution == video.resolution
            and round(params.frame_rate) == round(video.fps)
        ):
            raise ServiceError(
                f"{video.label.capitalize()} is already {video.video_codec}"
                f"{'/' + video.audio_codec if video.audio_codec else ''} at "
                f"{params.resolution}, {round(params.frame_rate)} fps: the encode would not "
                "change it"
            )
        plan = plan_or_refuse(
            lambda: pipelines.encode_plan(video=video, params=dataclasses.asdict(params))
        )
        output_rate_check(plan)
        return plan

    def settle(self, params: EncodeParams, plan: pipelines.OutputPlan) -> EncodeParams:
        return dataclasses.replace(params, container=plan.extension)

    def predict(self, params, inputs, plan, *, job_id: int) -> PlannedVideo:
        (source,) = inputs
        if isinstance(plan, pipelines.SoundPlan):
            # Nothing takes a sound-only video as input: naming it is refused.
            return planned_from(
                source,
                job_id=job_id,
                **NO_PICTURE,
                extension=plan.extension,
                audio_codec=plan.audio_codec,
                audio_sample_rate=plan.sample_rate,
            )
        return planned_encode(
            plan, job_id=job_id, duration=source.duration, audio_channels=source.audio_channels
        )

    def run(self, params: EncodeParams, inputs, plan, workdir: Path, monitor) -> Result:
        (video,) = inputs
        output = workdir / f"output.{plan.extension}"
        sound_only = isinstance(plan, pipelines.SoundPlan)
        make_args = pipelines.sound_args if sound_only else pipelines.encode_args
        with storage.local_path(video.file.name) as source:
            chunked = not sound_only and monitor.encode_in_chunks(
                video=video,
                source=source,
                plan=plan,
                output=output,
                workdir=workdir,
                options=pipelines.container_options(plan),
                sound=_whole_sound(source, video.demuxer, plan, workdir),
            )
            if not chunked:
                monitor.run(
                    make_args(source=source, demuxer=video.demuxer, plan=plan, output=output),
                    video.duration,
                )
        info = {
            "video_codec": params.video_codec,
            "audio_codec": params.audio_codec,
            "resolution": params.resolution,
            "frame_rate": params.frame_rate,
            "video_id": video.id,
        }
        return Result(
            output, output_stem(video, "encode"), {"encode_info": info}, sound_only=sound_only
        )

    def cost(self, params, inputs, plan) -> float:
        if isinstance(plan, pipelines.SoundPlan):
            return costs.sound_seconds(inputs[0].duration)
        return costs.reencode_seconds(inputs[0], plan, inputs[0].duration)

    def summary(self, params: EncodeParams) -> str:
        if params.video_codec == pipelines.SOUND_ONLY:
            return f"{input_name(params.video_id)} to its sound alone, {params.audio_codec}"
        return (
            f"{input_name(params.video_id)} to {params.video_codec}/{params.audio_codec}, "
            f"{params.resolution}, {params.frame_rate} fps"
        )


def _whole_sound(source: Path, demuxer: str, plan, workdir: Path) -> chunks.Sound | None:
    """An encode in chunks has the source's sound encoded once, over the whole."""
    if not plan.audio_encoder:
        return None
    path = workdir / f"sound.{plan.extension}"
    return chunks.Sound(
        path, chunks.sound_args(source=source, demuxer=demuxer, plan=plan, output=path)
    )
