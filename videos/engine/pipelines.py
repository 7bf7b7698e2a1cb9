"""The FFmpeg pipelines for trim, concat and encode, built with ffmpeg-python.

Builders are pure and return argument lists. What this FFmpeg can do (its encoders, and
which container holds which codecs) is jobs/capabilities.py.
"""

import math
import re
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

import ffmpeg

from . import capabilities
from .capabilities import encoder_for_codec, encoders, pick_pix_fmt, pick_sample_rate
from .media import FORMATS, FFmpegError, MediaFacts, file_url
from .tools import tools

MOV_FAMILY = {"mp4", "mov", "3gp"}
MPEG_FAMILY_ENCODERS = {
    "mpeg4",
    "msmpeg4",
    "msmpeg4v2",
    "wmv1",
    "wmv2",
    "flv",
    "h263",
    "h263p",
    "mpeg1video",
    "mpeg2video",
    "mjpeg",
}
LOSSY_AUDIO_ENCODERS = {
    "aac",
    "libmp3lame",
    "libopus",
    "libvorbis",
    "wmav1",
    "wmav2",
    "mp2",
    "ac3",
    "eac3",
}
# What a container's own kind of video uses when the source's codec cannot be written
# here (no encoder, e.g. wmv3 or vc1): keeps a trim frame-accurate, at a codec change.
DEFAULT_ENCODERS = {
    "mp4": ("libx264", "aac"),
    "mov": ("libx264", "aac"),
    "3gp": ("libx264", "aac"),
    "mkv": ("libx264", "aac"),
    "webm": ("libvpx-vp9", "libopus"),
    "avi": ("mpeg4", "libmp3lame"),
    "wmv": ("wmv2", "wmav2"),
    "flv": ("libx264", "aac"),
    "mpeg": ("mpeg2video", "mp2"),
    "ts": ("libx264", "aac"),
    "m2ts": ("libx264", "aac"),
    "mts": ("libx264", "aac"),
}
# x264 picks High (or a 10-bit / 4:2:2 / 4:4:4 High) by itself; a trim of Baseline or Main
# footage must say so, or it would not concatenate with its source.
X264_PROFILES = {"Constrained Baseline": "baseline", "Baseline": "baseline", "Main": "main"}
# FFmpeg's MPEG-4 encoder makes no B-frames unless asked, and then says Advanced Simple
# Profile: a trim of such footage (DivX, XviD) needs them, to say the same profile and to
# be decoded with the same delay, or its join with its source loses or repeats a frame.
MPEG4_B_FRAMES = {"Advanced Simple Profile": 2}
# Demuxers whose seek lands on a keyframe at or before the target (they keep an index).
# Others (MPEG-PS/TS, ASF, FLV) may land after it: seek this many seconds earlier.
EXACT_SEEK_DEMUXERS = {"mov", "matroska", "avi"}
SEEK_PRE_ROLL = 20.0
# Samples an audio encoder puts before the sound (FFmpeg's initial_padding), which an AVI
# has no way to tell a player to skip.
AVI_UNSIGNALLED_PRIMING = {"libmp3lame": 1105, "aac": 1024}


@dataclass(frozen=True)
class OutputPlan:
    """Everything about an output file that decides whether FFmpeg can write it."""

    extension: str
    video_encoder: str
    pix_fmt: str | None
    width: int
    height: int
    frame_rate: str
    audio_encoder: str | None
    sample_rate: int | None
    channels: int | None
    high_quality: bool  # trims keep quality close to the source; encodes aim at size
    profile: str | None = None  # the encoder's -profile:v, where it must match a source
    b_frames: int | None = None  # the encoder's -bf, where it must match a source

    @property
    def video_codec(self) -> str:
        return encoders()[self.video_encoder].codec

    @property
    def audio_codec(self) -> str | None:
        return encoders()[self.audio_encoder].codec if self.audio_encoder else None


def _video_quality(encoder: str, high: bool) -> dict:
    if encoder in ("libx264", "libx264rgb"):
        return {"crf": 18 if high else 23, "preset": "veryfast" if high else "fast"}
    if encoder == "libx265":
        return {"crf": 20 if high else 26, "preset": "fast"}
    if encoder == "libvpx-vp9":
        return {"crf": 24 if high else 32, "b:v": 0, "row-mt": 1, "deadline": "good", "cpu-used": 4}
    if encoder == "libvpx":
        return {"crf": 6 if high else 10, "b:v": "4M" if high else "2M", "cpu-used": 4}
    if encoder == "libaom-av1":
        return {"crf": 28 if high else 34, "b:v": 0, "cpu-used": 6, "row-mt": 1}
    if encoder == "libsvtav1":
        return {"crf": 28 if high else 34, "preset": 8}
    if encoder in MPEG_FAMILY_ENCODERS:
        return {"q:v": 2 if high else 3}
    return {}


def video_options(plan: OutputPlan) -> dict:
    """How the plan encodes the picture."""
    options = {"c:v": plan.video_encoder, **_video_quality(plan.video_encoder, plan.high_quality)}
    if plan.pix_fmt:
        options["pix_fmt"] = plan.pix_fmt
    if plan.profile:
        options["profile:v"] = plan.profile
    if plan.b_frames:
        options["bf"] = plan.b_frames
    if tools.threads:
        options["threads"] = tools.threads  # FFMPEG_THREADS
    return options


def audio_options(plan: OutputPlan) -> dict:
    """How the plan encodes the sound (nothing if it has none)."""
    if not plan.audio_encoder:
        return {}
    options = {"c:a": plan.audio_encoder}
    if plan.sample_rate:
        options["ar"] = plan.sample_rate
    if plan.channels:
        options["ac"] = plan.channels
    if plan.audio_encoder in LOSSY_AUDIO_ENCODERS:
        options["b:a"] = "192k" if plan.high_quality else "128k"
    return options


def container_options(plan: OutputPlan) -> dict:
    """How the plan writes its container, whether the streams are encoded or copied."""
    options = {}
    if plan.extension in MOV_FAMILY:
        options["movflags"] = "+faststart"
        if plan.video_codec == "hevc":
            options["tag:v"] = "hvc1"  # Apple's players refuse HEVC tagged hev1
    if plan.extension == "avi":
        # AVI stores no timestamps: a frame's time is its index. Moving every stream
        # later because the sound starts before 0 (an MP3 encoder's priming) moves the
        # picture by a whole frame, which the muxer writes as an empty frame after the
        # first one: the picture would run a frame long, late against the sound.
        options["avoid_negative_ts"] = "disabled"
    if plan.extension in ("m2ts", "mts"):
        options["mpegts_m2ts_mode"] = 1  # 192-byte packets, as AVCHD writes them
    options["f"] = FORMATS[plan.extension].muxer
    return options


def avi_sound_shift(plan: OutputPlan, *, reorder_frames: int) -> float:
    """How much later than its first frame's time an AVI's sound must be cut to start:
    later by the encoder's priming, which players play (an AVI keeps no timestamps to
    skip it by), earlier by the frames a decoder holds back for B-frames (players show
    the picture that much late). 0 for other containers."""
    if plan.extension != "avi" or not plan.audio_encoder:
        return 0.0
    priming = AVI_UNSIGNALLED_PRIMING.get(plan.audio_encoder, 0) / (plan.sample_rate or 48000)
    return priming - float(reorder_frames / Fraction(plan.frame_rate))


def output_options(plan: OutputPlan) -> dict:
    """The output options of a plan, shared by the real run and its trial mux."""
    return {**video_options(plan), **audio_options(plan), **container_options(plan)}


def write_refusal(plan: OutputPlan) -> str | None:
    """Why this FFmpeg cannot write the planned output, or None if it can."""
    return capabilities.mux_refusal(
        options=output_options(plan),
        video_encoder=plan.video_encoder,
        width=plan.width,
        height=plan.height,
        frame_rate=plan.frame_rate,
        audio=plan.audio_encoder is not None,
        sample_rate=plan.sample_rate,
        channels=plan.channels,
    )


def fallback_extension(video_codec: str, audio_codec: str | None) -> str:
    """The contract's fallback when the source's container cannot hold the result."""
    if video_codec in {"h264", "hevc", "av1"} and audio_codec in {None, "aac", "mp3", "opus"}:
        return "mp4"
    if video_codec in {"vp8", "vp9"} and audio_codec in {None, "opus", "vorbis"}:
        return "webm"
    return "mkv"


def trim_plan(video: MediaFacts) -> OutputPlan:
    """Re-encode with the source's own codecs and parameters, in its own container, so
    trims of one source concatenate; if this FFmpeg cannot write those codecs there, use
    the container's usual codecs instead (see DEFAULT_ENCODERS)."""
    video_encoder = encoder_for_codec(video.video_codec)
    audio_encoder = encoder_for_codec(video.audio_codec) if video.audio_codec else None
    default_video, default_audio = DEFAULT_ENCODERS[video.extension]
    plan = OutputPlan(
        extension=video.extension,
        video_encoder=video_encoder or default_video,
        pix_fmt=pick_pix_fmt(video_encoder or default_video, video.pix_fmt),
        width=video.width,
        height=video.height,
        frame_rate=video.frame_rate,
        audio_encoder=(audio_encoder or default_audio) if video.audio_codec else None,
        sample_rate=video.audio_sample_rate,
        channels=video.audio_channels,
        high_quality=True,
        profile=X264_PROFILES.get(video.video_profile) if video_encoder == "libx264" else None,
        b_frames=MPEG4_B_FRAMES.get(video.video_profile) if video_encoder == "mpeg4" else None,
    )
    if write_refusal(plan) is None:
        return plan
    fallback = replace(
        plan,
        profile=None,
        b_frames=None,
        video_encoder=default_video,
        pix_fmt=pick_pix_fmt(default_video, video.pix_fmt),
        audio_encoder=default_audio if video.audio_codec else None,
        sample_rate=pick_sample_rate(default_audio, video.audio_sample_rate),
    )
    reason = write_refusal(fallback)
    if reason:
        raise FFmpegError(f"this server cannot write a {video.extension} trim: {reason}")
    return fallback


# What a stream-copy concat needs to be equal across its inputs, with a readable name.
CONCAT_PROPERTIES = [
    ("video_codec", "video codec"),
    ("video_profile", "video profile"),
    ("resolution", "resolution"),
    ("base_frame_rate", "frame rate"),  # trims of variable-rate footage differ on average
    ("pix_fmt", "pixel format"),
    ("sample_aspect_ratio", "sample aspect ratio"),
    ("rotation", "rotation"),
    ("audio_codec", "audio codec"),
    ("audio_sample_rate", "audio sample rate"),
    ("audio_channels", "audio channels"),
]


# A property a pending job's plan does not decide (jobs/dependencies.py): not compared
# at queue time; the run-time check sees the real value.
UNDECIDED = "unknown"


def compared(attribute: str, value):
    """A property as a concat compares it: a pixel shape a file does not say is square,
    as players show it (FFmpeg's Matroska muxer says none for square pixels)."""
    if attribute == "sample_aspect_ratio" and value in ("", "N/A", "0:1"):
        return "1:1"
    return value


def concat_incompatibility(videos: list) -> str | None:
    """Why these videos (stored, or pending jobs' planned outputs) cannot be joined by
    stream copy, or None if they can."""
    first = videos[0]
    for other in videos[1:]:
        for attribute, label in CONCAT_PROPERTIES:
            ours, theirs = (compared(attribute, getattr(one, attribute)) for one in (first, other))
            if ours != theirs and UNDECIDED not in (ours, theirs):
                return (
                    f"{other.label} differs from {first.label} in {label}: "
                    f"{theirs or 'none'} vs {ours or 'none'}"
                )
    return None


def encode_plan(*, video: MediaFacts, params: dict) -> OutputPlan:
    """The output of an encode: the requested codecs, size and rate, in the requested
    container, else the source's when it can hold them, else the documented fallback."""
    width, height = map(int, params["resolution"].split(":"))
    audio_encoder = params["audio_codec"] if video.audio_codec else None
    plan = OutputPlan(
        extension=params.get("container") or video.extension,
        video_encoder=params["video_codec"],
        pix_fmt=pick_pix_fmt(params["video_codec"], "yuv420p"),
        width=width,
        height=height,
        frame_rate=frame_rate_fraction(params["frame_rate"]),
        audio_encoder=audio_encoder,
        sample_rate=pick_sample_rate(audio_encoder, video.audio_sample_rate)
        if audio_encoder
        else None,
        channels=None,
        high_quality=False,
    )
    reason = write_refusal(plan)
    if reason is None:
        return plan
    if params.get("container"):
        raise FFmpegError(
            f"a {plan.extension} file cannot hold {params['video_codec']}"
            f"{' + ' + audio_encoder if audio_encoder else ''} at {params['resolution']}, "
            f"{params['frame_rate']} fps: {reason}"
        )
    fallback = replace(plan, extension=fallback_extension(plan.video_codec, plan.audio_codec))
    if reason := write_refusal(fallback):
        raise FFmpegError(
            f"this server cannot encode {params['video_codec']}"
            f"{' + ' + audio_encoder if audio_encoder else ''} at {params['resolution']}, "
            f"{params['frame_rate']} fps: {reason}"
        )
    return fallback


def trim_args(
    *,
    source: Path,
    demuxer: str,
    start: float,
    end: float,
    plan: OutputPlan,
    output: Path,
    video_bitrate: float = 0.0,
) -> list[str]:
    """Seek in the input (fast) to a keyframe before `start`, decode from there, and cut
    with trim filters in microseconds, so the first frame is exactly the first one at or
    after `start` and the last the one before `end`, whatever the container's time base.
    Timestamps are the source's (each frame keeps its own: variable-rate footage stays
    so), shifted by `start` alike for picture and sound. Rotation is kept as metadata.

    The encoder counts whole frames (its time base is 1/frame rate), so the first frame
    is put on the nearest count and the others kept at their distances from it: a start
    halfway between two frames would otherwise leave every frame on a half count, which
    microsecond rounding sends either way, stamping two frames alike ("Invalid pts").
    An AVI cannot show its picture late (a frame's time is its index): its first frame
    is at 0, and the sound is cut to start and end with the frames kept.

    `video_bitrate` (bit/s; H.264 and HEVC): aim at it, the source's over the span, in
    place of a constant quality, so a smart trim that falls back weighs what its span
    did (a constant quality above the source's made a one-keyframe source's trim 2.4x)."""
    seek_to = start if demuxer in EXACT_SEEK_DEMUXERS else start - SEEK_PRE_ROLL
    seek = {"ss": f"{seek_to:.6f}"} if seek_to > 0 else {}
    source_input = ffmpeg.input(
        file_url(source),
        f=demuxer,
        protocol_whitelist="file",
        noautorotate=None,
        noaccurate_seek=None,
        **seek,
    )
    cut = f"trim=start={start:.6f}:end={end:.6f}"
    first_at = "0" if plan.extension == "avi" else f"round((STARTPTS*TB-{start:.6f})*FR)/(FR*TB)"
    streams = [source_input["v:0"]] + ([source_input["a:0"]] if plan.audio_encoder else [])
    filters = {"vf": f"settb=AVTB,{cut},setpts=PTS-STARTPTS+{first_at}"}
    if plan.audio_encoder:
        sound = (start, end)
        if plan.extension == "avi":
            # Its frames are on the source's ticks (of 1/frame rate).
            tick = 1 / Fraction(plan.frame_rate)
            first, stop = (math.ceil(Fraction(time) / tick - 1e-6) * tick for time in (start, end))
            shift = avi_sound_shift(plan, reorder_frames=1 if plan.b_frames else 0)
            sound = (float(first) + shift, float(stop))
        filters["af"] = (
            f"asettb=AVTB,atrim=start={sound[0]:.6f}:end={sound[1]:.6f},"
            f"asetpts=PTS-{sound[0]:.6f}/TB"
        )
    # Simple (-vf/-af) filters, not a filter_complex: only these keep the source stream's
    # side data, such as the rotation of phone footage.
    options = output_options(plan)
    if video_bitrate > 0 and plan.video_encoder in ("libx264", "libx265"):
        options = {key: value for key, value in options.items() if key != "crf"}
        rate = f"{video_bitrate:.0f}"
        options.update({"b:v": rate, "maxrate": f"{2 * video_bitrate:.0f}", "bufsize": rate})
    return (
        ffmpeg.output(*streams, str(output), fps_mode="passthrough", **filters, **options)
        # Timestamps as in the source (from 0 at its start), for the trim filters to read.
        .global_args("-copyts", "-start_at_zero")
        .compile(cmd=tools.ffmpeg, overwrite_output=True)
    )


def concat_list(part_names: list[str]) -> str:
    """The concat demuxer's list: plain relative names, so its safe mode can stay on."""
    for name in part_names:
        if not re.fullmatch(r"[\w.-]+", name) or name.startswith("."):
            raise ValueError(f"unsafe concat part name {name!r}")
    return "ffconcat version 1.0\n" + "".join(f"file '{name}'\n" for name in part_names)


# Sound that cannot be joined by copy across encoder runs: Vorbis keeps its codebooks in
# each stream's header, and a trim's (its sound re-encoded) differ from its source's.
HEADER_BOUND_AUDIO = {"vorbis"}


@dataclass(frozen=True)
class PartSound:
    """A concat part as a sound input: its file, how to open it, and how long the concat
    demuxer lays it out (its container's duration)."""

    path: Path
    demuxer: str
    duration: float


def concat_args(
    *,
    list_file: Path,
    demuxers: set[str],
    extension: str,
    has_audio: bool,
    output: Path,
    sounds: list[PartSound] | None = None,
    sound_plan: OutputPlan | None = None,
) -> list[str]:
    """Stream copy through the concat demuxer: no re-encode, I/O bound. The parts may only
    be opened as the containers their probes found. With `sounds` (HEADER_BOUND_AUDIO),
    only the picture is copied: each part's sound, padded or cut to the part's span,
    is joined with the concat filter and encoded once as `sound_plan` says, so it stays
    in sync at every seam."""
    parts = ffmpeg.input(
        str(list_file),
        f="concat",
        safe=1,
        protocol_whitelist="file",
        format_whitelist=",".join(["concat", *sorted(demuxers)]),
    )
    streams = [parts["v:0"]]
    options = {"f": FORMATS[extension].muxer}
    if sounds:
        pieces = [
            ffmpeg.input(file_url(sound.path), f=sound.demuxer, protocol_whitelist="file")["a:0"]
            .filter("apad")
            .filter("atrim", end=f"{sound.duration:.6f}")
            for sound in sounds
        ]
        streams.append(ffmpeg.concat(*pieces, v=0, a=1))
        options.update({"c:v": "copy", **audio_options(sound_plan)})
    else:
        options["c"] = "copy"
        streams += [parts["a:0"]] if has_audio else []
    if extension in MOV_FAMILY:
        options["movflags"] = "+faststart"
    return ffmpeg.output(*streams, str(output), **options).compile(
        cmd=tools.ffmpeg, overwrite_output=True
    )


def retime_args(
    *, source: Path, demuxer: str, timescale: int, has_audio: bool, extension: str, output: Path
) -> list[str]:
    """A stream copy of an MP4/MOV whose picture counts `timescale` ticks a second. The
    concat demuxer reads every part's ticks in the first part's time base, so a part
    counted in another (a phone's 600, FFmpeg's 15360) would play at the wrong speed."""
    source_input = ffmpeg.input(file_url(source), f=demuxer, protocol_whitelist="file")
    streams = [source_input["v:0"]] + ([source_input["a:0"]] if has_audio else [])
    options = {"c": "copy", "video_track_timescale": timescale, "f": FORMATS[extension].muxer}
    return ffmpeg.output(*streams, str(output), **options).compile(
        cmd=tools.ffmpeg, overwrite_output=True
    )


def mov_timescale(frame_rate: str) -> int:
    """The ticks a second FFmpeg's MOV muxer counts a picture encoded at this constant rate
    in (the rate's numerator, doubled up to 10000 or more)."""
    ticks = Fraction(frame_rate).numerator
    while ticks < 10000:
        ticks *= 2
    return ticks


def encode_args(*, source: Path, demuxer: str, plan: OutputPlan, output: Path) -> list[str]:
    """Scale into the requested frame keeping the picture's shape (padding the rest),
    then convert to a constant frame rate. Phone footage is turned upright first."""
    source_input = ffmpeg.input(file_url(source), f=demuxer, protocol_whitelist="file")
    streams = [fit_picture(source_input["v:0"], plan)]
    streams += [source_input["a:0"]] if plan.audio_encoder else []
    return ffmpeg.output(*streams, str(output), **output_options(plan)).compile(
        cmd=tools.ffmpeg, overwrite_output=True
    )


def fit_picture(video, plan: OutputPlan):
    """The (autorotated) picture scaled into the plan's frame keeping its shape, with
    bars on the sides it does not fill, square pixels, at the plan's constant rate."""
    return (
        video.filter(
            "scale",
            plan.width,
            plan.height,
            force_original_aspect_ratio="decrease",
            force_divisible_by=2,
        )
        .filter("pad", plan.width, plan.height, "(ow-iw)/2", "(oh-ih)/2")
        .filter("setsar", 1)
        .filter("fps", plan.frame_rate)
    )


def frame_rate_fraction(frame_rate: float) -> str:
    rate = Fraction(frame_rate).limit_denominator(1001)
    return f"{rate.numerator}/{rate.denominator}"


# An encode that keeps the sound alone (video_codec "none"): which containers hold which
# sound codec by itself, players' support in mind; mkv holds them all.
SOUND_ONLY = "none"
SOUND_CONTAINERS = {
    "mp4": {"aac", "mp3", "opus", "flac", "ac3"},
    "mov": {"aac", "mp3", "flac", "ac3", "pcm_s16le"},
    "3gp": {"aac"},
    "webm": {"opus", "vorbis"},
}
SOUND_FALLBACKS = {"aac": "mp4", "mp3": "mp4", "opus": "webm", "vorbis": "webm"}


@dataclass(frozen=True)
class SoundPlan:
    """The output of a sound-only encode."""

    extension: str
    audio_encoder: str
    sample_rate: int | None

    @property
    def audio_codec(self) -> str:
        return encoders()[self.audio_encoder].codec


def sound_plan(*, video: MediaFacts, audio_encoder: str, container: str | None) -> SoundPlan:
    """The sound of `video` encoded alone, in `container`, else the source's when it can
    hold it, else mp4 or webm (mkv for codecs neither holds)."""
    codec = encoders()[audio_encoder].codec

    def holds(extension: str) -> bool:
        return extension == "mkv" or codec in SOUND_CONTAINERS.get(extension, set())

    if container and not holds(container):
        raise FFmpegError(
            f"a {container} file cannot hold {audio_encoder} sound alone here: choose mkv, "
            f"or {SOUND_FALLBACKS.get(codec, 'mkv')}"
        )
    extension = container or (
        video.extension if holds(video.extension) else SOUND_FALLBACKS.get(codec, "mkv")
    )
    return SoundPlan(
        extension=extension,
        audio_encoder=audio_encoder,
        sample_rate=pick_sample_rate(audio_encoder, video.audio_sample_rate),
    )


def sound_args(*, source: Path, demuxer: str, plan: SoundPlan, output: Path) -> list[str]:
    """The first sound stream of `source`, encoded as `plan` says, with no picture."""
    options = {"c:a": plan.audio_encoder, "f": FORMATS[plan.extension].muxer}
    if plan.sample_rate:
        options["ar"] = plan.sample_rate
    if plan.audio_encoder in LOSSY_AUDIO_ENCODERS:
        options["b:a"] = "128k"
    if plan.extension in MOV_FAMILY:
        options["movflags"] = "+faststart"
    source_input = ffmpeg.input(file_url(source), f=demuxer, protocol_whitelist="file")
    return ffmpeg.output(source_input["a:0"], str(output), vn=None, **options).compile(
        cmd=tools.ffmpeg, overwrite_output=True
    )
