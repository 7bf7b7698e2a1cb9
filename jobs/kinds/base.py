"""The one interface every kind of job has, and what kinds share.

A kind is one module (trim.py, concat.py, ...) with its typed parameters, its serializer
and one class: `check` refuses what cannot work and returns the plan, at queue time and
again, by the same function, when the job runs on the inputs as they are then; `predict`
says what a pending job will produce (for jobs that take its output); `run` makes it;
`summary` says it in a line. The registry (kinds/__init__.py) is the only list of kinds.
"""

import dataclasses
import re
import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar, Protocol

from django.conf import settings
from rest_framework import serializers, status

from videoproc.errors import ServiceError
from videos.engine import costs, pipelines
from videos.engine.media import FORMATS, FFmpegError, FFmpegInterrupted, MediaFacts
from videos.models import Video

Ref = int | dict  # a video's id, or {"job_id": N}: the output of a pending job
UNKNOWN = pipelines.UNDECIDED  # e.g. the profile an encoder picks by itself
# The profile x264 picks by itself for each pixel format an encode may ask for.
X264_DEFAULT_PROFILES = {"yuv420p": "High", "yuvj420p": "High"}


@dataclass(frozen=True)
class PlannedVideo:
    """What a pending job's output will be, as far as its plan tells: the Video fields
    that queue-time checks and plans read."""

    job_id: int
    extension: str
    duration: float
    video_codec: str
    video_profile: str
    width: int
    height: int
    pix_fmt: str
    sample_aspect_ratio: str
    frame_rate: str
    base_frame_rate: str
    rotation: int
    audio_codec: str | None
    audio_sample_rate: int | None
    audio_channels: int | None
    audio_channel_layout: str = UNKNOWN

    @property
    def label(self) -> str:
        return f"the output of job {self.job_id}"

    @property
    def resolution(self) -> str:
        return f"{self.width}:{self.height}"

    @property
    def fps(self) -> float:
        return float(Fraction(self.frame_rate))


Input = Video | PlannedVideo


def planned_from(video: MediaFacts, *, job_id: int, **changes) -> PlannedVideo:
    """A job's output that keeps what `video` is, but for `changes`."""
    fields = {
        name: getattr(video, name) for name in PlannedVideo.__dataclass_fields__ if name != "job_id"
    }
    return PlannedVideo(**{**fields, "job_id": job_id, **changes})


def planned_encode(
    plan: pipelines.OutputPlan, *, job_id: int, duration: float, audio_channels: int | None
) -> PlannedVideo:
    """What a re-encode to `plan` produces: square pixels, upright, constant rate."""
    profile = UNKNOWN
    if plan.profile is None and plan.video_encoder == "libx264":
        profile = X264_DEFAULT_PROFILES.get(plan.pix_fmt, UNKNOWN)
    return PlannedVideo(
        job_id=job_id,
        extension=plan.extension,
        duration=duration,
        video_codec=plan.video_codec,
        video_profile=profile,
        width=plan.width,
        height=plan.height,
        pix_fmt=plan.pix_fmt or "",
        sample_aspect_ratio="1:1",
        frame_rate=plan.frame_rate,
        base_frame_rate=plan.frame_rate,
        rotation=0,
        audio_codec=plan.audio_codec,
        audio_sample_rate=(plan.sample_rate or UNKNOWN) if plan.audio_encoder else None,
        audio_channels=(plan.channels or audio_channels) if plan.audio_encoder else None,
    )


class Monitor(Protocol):
    """How a run reports: runs each FFmpeg step, its progress filling `span` of the job's,
    and says whether the job should stop."""

    @abstractmethod
    def run(self, args: list[str], duration: float, span: tuple[float, float] = (0, 1)) -> None: ...

    def should_cancel(self) -> bool: ...

    def report(self, fraction: float) -> None:
        """The job's progress, outside any FFmpeg step's."""
        ...

    def encode_in_chunks(
        self,
        *,
        video,
        source: Path,
        plan,
        output: Path,
        workdir: Path,
        options: dict,
        sound=None,
        start: float = 0.0,
        end: float | None = None,
        monitor=None,
    ) -> bool:
        """Encode the picture of `source`'s span [start, end) (the whole without them) to
        `plan` in chunks any worker may take, joined by copy into `output` (written with
        `options`, `sound` muxed in: chunks.Sound); False, having done nothing, when it
        is too short or cannot be split. Progress goes to `monitor` (a Share) if given."""
        ...


class Share:
    """A monitor whose steps fill only a share of another's progress."""

    def __init__(self, monitor: Monitor, span: tuple[float, float]):
        self.monitor, self.span = monitor, span

    def run(self, args: list[str], duration: float, span: tuple[float, float] = (0, 1)) -> None:
        low, high = self.span
        self.monitor.run(
            args, duration, span=(low + span[0] * (high - low), low + span[1] * (high - low))
        )

    def should_cancel(self) -> bool:
        return self.monitor.should_cancel()

    def report(self, fraction: float) -> None:
        low, high = self.span
        self.monitor.report(low + fraction * (high - low))

    def encode_in_chunks(self, *, monitor=None, **work) -> bool:
        return self.monitor.encode_in_chunks(monitor=monitor or self, **work)


@dataclass(frozen=True)
class Result:
    """What a run made: the file, the stem of its stored name, the info its Video row
    keeps (trim_info, concat_info or encode_info), and what the run learned (the job's
    `outcome`: which method a trim ran, say). A sound-only result has no picture."""

    output: Path
    stem: str
    info: dict
    outcome: dict = field(default_factory=dict)
    sound_only: bool = False
    poster: Path | None = None  # its poster frame, where the run made one on the way


# A result's name, as it is shown: its source's, without the extension, then what made
# it in brackets: "a (trim)"; a trim of that, "a (trim 2)"; an encode of that,
# "a (trim 2, encode)"; at most the last OPERATIONS_SHOWN steps. Stored as new_name
# makes it safe ("a_trim_2_encode_<time>.mp4").
_STEPS = re.compile(r"^(?P<base>.*\S) \((?P<steps>[a-z]+(?: \d+)?(?:, [a-z]+(?: \d+)?)*)\)$")
OPERATIONS_SHOWN = 3
NAME_BASE_MAX = 200  # the name's base; its steps fit within Video.original_name's 255


def output_stem(video: Video, operation: str) -> str:
    name = video.original_name or PurePosixPath(video.file.name).name
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = name.replace("/", "_").replace("\\", "_").strip()
    base, dot, extension = name.rpartition(".")
    if dot and base and extension.lower() in FORMATS:
        name = base.rstrip()
    steps: list[list] = []
    if found := _STEPS.match(name):
        name = found["base"]
        for step in found["steps"].split(", "):
            kind, _, count = step.partition(" ")
            steps.append([kind, int(count or 1)])
    if steps and steps[-1][0] == operation:
        steps[-1][1] += 1
    else:
        steps.append([operation, 1])
    steps = steps[-OPERATIONS_SHOWN:]
    shown = ", ".join(kind if count == 1 else f"{kind} {count}" for kind, count in steps)
    return f"{name[:NAME_BASE_MAX].rstrip() or 'video'} ({shown})"


def plan_or_refuse(make_plan):
    """A plan from the engine, its refusal a 400 (or a 503 when FFmpeg could not answer)."""
    try:
        return make_plan()
    except FFmpegInterrupted as error:  # a busy machine, not an answer: ask again later
        raise ServiceError(
            f"The output format could not be checked just now ({error}): try again shortly.",
            status.HTTP_503_SERVICE_UNAVAILABLE,
        ) from None
    except FFmpegError as error:
        raise ServiceError(sentence(str(error))) from None


def sentence(text: str) -> str:
    """The engine's words ("this server cannot write ...") as a message: a sentence."""
    text = text.strip()
    return f"{text[:1].upper()}{text[1:]}{'' if text.endswith(('.', ')')) else '.'}"


def one_frame_check(*, start_ms: float, end_ms: float, source: Input, what: str) -> None:
    """A span shorter than one frame may fall between two frames: no picture, and a job
    that would fail. The end is clamped to the source's, as the run will."""
    frame_ms = 1000 / source.fps
    if min(end_ms, source.duration * 1000) - start_ms < frame_ms:
        raise ServiceError(
            f"{what} must last at least one frame ({frame_ms:.1f} ms in {source.label})."
        )


def output_rate_check(plan: pipelines.OutputPlan) -> None:
    """Refuse an output more pixels a second than this server encodes (MAX_PIXEL_RATE)."""
    rate = costs.pixel_rate(plan)
    if rate > settings.MAX_PIXEL_RATE:
        raise ServiceError(
            f"The output would be {plan.width}x{plan.height} at "
            f"{float(Fraction(plan.frame_rate)):g} fps: {rate / 1e6:,.0f} million pixels a "
            "second to encode, more than this server encodes "
            f"({settings.MAX_PIXEL_RATE / 1e6:,.0f} million, MAX_PIXEL_RATE)."
        )


class Kind(ABC):
    """One kind of job. Subclasses name themselves, their parameters and serializer, and
    implement the methods below; `params` are what was asked, as stored in Job.params."""

    name: ClassVar[str]  # Job.kind, e.g. "trim"
    label: ClassVar[str]  # "Trim job added to queue"
    Params: ClassVar[type]  # a dataclass, stored as JSON
    serializer: ClassVar[type[serializers.Serializer]]  # the queue request's shape

    def load(self, stored: dict) -> Any:
        """The parameters from Job.params."""
        return self.Params(**stored)

    def dump(self, params) -> dict:
        return dataclasses.asdict(params)

    @abstractmethod
    def refs(self, params) -> Sequence[Ref]:
        """The inputs it names, in order."""

    @abstractmethod
    def check(self, params, inputs: list[Input]) -> Any:
        """The plan, or a ServiceError saying why it cannot be done."""

    def settle(self, params, plan) -> Any:
        """The parameters to store: what was asked, with what the plan chose for what was
        left open (an encode's container)."""
        return params

    @abstractmethod
    def predict(self, params, inputs: list[Input], plan, *, job_id: int) -> PlannedVideo:
        """What the job will produce, for the checks of jobs that take it as input."""

    @abstractmethod
    def run(self, params, inputs: list[Video], plan, workdir: Path, monitor: Monitor) -> Result:
        """Make the output in workdir, on the inputs as stored videos now."""

    @abstractmethod
    def cost(self, params, inputs: list[Input], plan) -> float:
        """The CPU-seconds it will take, predicted from what it will decode and encode
        (videos/engine/costs.py): what its requester's budgets are charged."""

    @abstractmethod
    def summary(self, params) -> str:
        """What it does, in a line (the admin, the commands)."""


def input_name(ref: Ref) -> str:
    """How summaries name an input."""
    return f"output of job {ref['job_id']}" if isinstance(ref, dict) else f"video {ref}"
