"""Smart cut: a frame-exact trim that re-encodes only the frames around its cut points.

The source's packets from the first keyframe a decoder can start at, at or after the
start, up to the last such keyframe before the end, are copied untouched (the body). The
frames before that first keyframe (the head) and from the end of the copy to the end of
the trim (the tail) are re-encoded with the source's codec and parameters. The parts
travel as MPEG-TS (Annex B: parameter sets before every keyframe, so each part decodes
with its own) or Matroska and are joined without re-encoding, in-process (`partjoin`);
the sound, exact at both ends, is copied where an edit list can cut it and otherwise
re-encoded once over the whole range, free of seams. The head, the tail and the poster
frame come from one FFmpeg run (one per pass of a two-pass encoder); the sound is made
beside it, on a thread (copied) or in an FFmpeg of its own (re-encoded). Whatever the
smart path cannot prove safe falls back to the full accurate re-encode, and says why.

This module builds and runs the cut; `cutscan` reads the source and `cutplan` decides
what is copied. Times are seconds from the file's start, as `-copyts -start_at_zero`
sees them.
"""

import itertools
import math
import subprocess
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Protocol

import av
import ffmpeg

from . import partjoin, pipelines, splice, thumbnails
from .cutplan import (
    MPEG2_PROFILES,
    SMART_CODECS,
    UNMATCHED_SETTINGS,
    X264_PROFILES,
    Body,
    CutPlan,
    Part,
    plan_cut,
    refusal,
    x265_profile,
)
from .cutscan import NotSmart, Scan, SourceStream, scan
from .media import FORMATS, FFmpegCancelled, FFmpegError, file_url, run_ffmpeg
from .tools import tools

TIME_TOLERANCE = 0.0015  # seconds: a result's frame may sit this far from where planned
# Seconds by which decode times at a seam are kept apart, at least: more than a tick of
# any time base a result is written in (FLV counts milliseconds).
SEAM_MARGIN = 0.0015
CANCEL_POLL = 0.2  # seconds between two looks at a cancel while the sound is encoded
# Sound codecs FFmpeg writes to MP4 but not to MOV (the sound part's container).
MP4_ONLY_SOUND = {"opus", "flac"}
# Sound codecs MOV loses the block alignment of (their decoder then refuses them).
MATROSKA_SOUND = {"wmav1", "wmav2"}
# Codecs whose stream header (extradata) the decoder reads every picture with, and which
# a part must write as the source's (its encoder's run given the source's parameters),
# or the cut falls back saying this. WMV2: 4 bytes of settings. AV1: the av1C and its
# sequence header, which libaom writes alike at any speed but which another encoder
# (SVT-AV1, rav1e, hardware) writes otherwise.
SHARED_HEADERS = {
    "wmv2": UNMATCHED_SETTINGS,
    "av1": "the video's AV1 stream settings are not those this server's AV1 encoder writes",
}
# Encoders whose parts are encoded in two passes (see part_outputs).
TWO_PASS_ENCODERS = {"wmv2", "msmpeg4"}
# Sound whose packets a MOV/MP4 edit list cuts to the sample, so a cut copies them: the
# encoder a trim would use -> the decoders PyAV names for it, the profile, and how many
# packets before the first kept one the decoder needs (MP3's bit reservoir reaches back
# up to 511 bytes: two frames at 128 kbit/s).
COPIED_SOUND = {"aac": ({"aac"}, "LC", 1), "libmp3lame": ({"mp3float", "mp3"}, None, 2)}


class Runner(Protocol):
    """What runs FFmpeg for a cut (the job's monitor: progress, cancel)."""

    def run(self, args: list[str], duration: float, span: tuple[float, float] = (0, 1)) -> None:
        """Run one FFmpeg step whose progress fills `span` of the cut's."""

    def should_cancel(self) -> bool: ...


@dataclass(frozen=True)
class CutResult:
    method: str  # "smart", "reencode" or "keyframe"
    reason: str | None = None  # why a smart cut fell back to a re-encode
    real_start: float | None = None  # for "keyframe": where the copy really starts
    copied: tuple[float, float] | None = None  # for "smart": the copied span


# --- builders -----------------------------------------------------------------------


def encoder_options(stream: SourceStream) -> dict:
    """The encoder and options that make a part the source's twin: codec, profile, level,
    pixel format, colour tags and reorder depth (size, aspect and rate come with the
    frames), at a quality close to the source's. x264 and x265 run their fastest preset
    at a high quality: the few frames around the cuts are what the cut waits for, and
    their size hardly counts."""
    encoder = SMART_CODECS[stream.codec][1]
    options: dict = {"c:v": encoder, "pix_fmt": stream.pix_fmt}
    for option, value in (
        ("color_range", stream.color_range),
        ("colorspace", stream.color_space),
        ("color_trc", stream.color_transfer),
        ("color_primaries", stream.color_primaries),
    ):
        if value and value != "unknown":
            options[option] = value
    depth = stream.has_b_frames
    if encoder == "libx264":
        profile = X264_PROFILES[stream.profile]
        options.update(crf=17, preset="ultrafast", profile=profile)
        if stream.level > 0:
            options["level"] = f"{stream.level / 10:g}"
        # x264 reorders 0 (no B-frames), 1 (B-frames) or 2 (B-pyramid) frames deep.
        reorder = {0: "bframes=0", 1: "bframes=2:b-pyramid=none", 2: "bframes=3:b-pyramid=normal"}
        # x264 writes the lowest profile the features it uses need, and ultrafast uses
        # few: turn on the cheapest that makes it write the source's (a concat compares
        # them): 8x8 transforms for High, B-frames or else CABAC for Main.
        main = "" if depth else ":cabac=1"
        features = {"baseline": "", "main": main}.get(profile, ":8x8dct=1")
        options["x264-params"] = reorder[depth] + features
    elif encoder == "libx265":
        bframes = {0: "bframes=0", 1: "bframes=2:b-pyramid=0", 2: "bframes=4:b-pyramid=1"}
        options.update(crf=19, preset="ultrafast", profile=x265_profile(stream))
        params = f"{bframes[depth]}:repeat-headers=1:log-level=error"
        if stream.level > 0:
            params += f":level-idc={stream.level / 30:g}"
        options["x265-params"] = params
    elif encoder == "libvpx-vp9":
        # libvpx's realtime mode at its fastest (rate_options aims it at a bitrate): at its
        # "good" deadline, a head cost more than re-encoding the whole span.
        options.update(crf=24, **{"b:v": 0}, deadline="realtime", **{"cpu-used": 8, "row-mt": 1})
        if stream.profile.startswith("Profile "):
            options["profile"] = stream.profile.removeprefix("Profile ")
    elif encoder == "libvpx":
        options.update(crf=6, **{"b:v": "4M"}, deadline="realtime", **{"cpu-used": 8})
    elif encoder == "libaom-av1":
        # Realtime at its fastest: a few times the "good" mode's speed, and the same
        # sequence header (libaom's tool choices do not follow its speed).
        options.update(crf=30, **{"b:v": 0}, usage="realtime", **{"cpu-used": 8, "row-mt": 1})
    elif encoder == "wmv2":
        # Its decoder takes its settings from the stream's 4-byte header, which the join
        # keeps from the first part, and which holds the encoder's bitrate (in 1024 bit/s,
        # after a 5-bit rate): aim at the source's, for the part to write the same header.
        nominal = int.from_bytes(stream.extradata[:2], "big") & 0x7FF
        options["b:v"] = nominal * 1024
    elif encoder == "msmpeg4":
        options["q:v"] = 2  # rate_options aims it at the source's bitrate where known
    else:  # the MPEG family: quantiser-driven
        options.update(**{"q:v": 2}, bf=2 if depth else 0)
        if encoder == "mpeg2video" and stream.profile in MPEG2_PROFILES:
            options["profile"] = MPEG2_PROFILES[stream.profile]
            if stream.level > 0:
                options["level"] = stream.level
    return options


# The most a level lets a decoder's buffer fill per second and hold (kbit/s, kbit): H.264
# Table A-1 (MaxBR, MaxCPB; times the profile's factor), HEVC Table A.8 (Main tier).
H264_LEVEL_VBV = {
    10: (64, 175),
    11: (192, 500),
    12: (384, 1000),
    13: (768, 2000),
    20: (2000, 2000),
    21: (4000, 4000),
    22: (4000, 4000),
    30: (10000, 10000),
    31: (14000, 14000),
    32: (20000, 20000),
    40: (20000, 25000),
    41: (50000, 62500),
    42: (50000, 62500),
    50: (135000, 135000),
    51: (240000, 240000),
    52: (240000, 240000),
}
HEVC_LEVEL_VBV = {
    30: (128, 350),
    60: (1500, 1500),
    63: (3000, 3000),
    90: (6000, 6000),
    93: (10000, 10000),
    120: (12000, 12000),
    123: (20000, 20000),
    150: (25000, 25000),
    153: (40000, 40000),
    156: (60000, 60000),
    180: (60000, 60000),
    183: (120000, 120000),
    186: (240000, 240000),
}
# The re-encoded parts aim at the source's bitrate over their frames; their buffer lets a
# keyframe take about what the source's took.
VBV_SECONDS = 1.0
# H.264 Table A-2: how much more than Table A-1's rates a profile allows (cpbBrVclFactor
# over 1000); Baseline and Main 1.
H264_PROFILE_FACTORS = {
    "High": 1.25,
    "High 10": 3.0,
    "High 4:2:2": 4.0,
    "High 4:4:4 Predictive": 4.0,
}


def level_vbv(stream: SourceStream) -> tuple[float, float] | None:
    """(max rate, buffer) in bit/s and bits the source's level allows; None: unknown."""
    if stream.codec == "h264" and stream.level in H264_LEVEL_VBV:
        rate, buffer = H264_LEVEL_VBV[stream.level]
        factor = H264_PROFILE_FACTORS.get(stream.profile, 1.0)
        return rate * 1000 * factor, buffer * 1000 * factor
    if stream.codec == "hevc" and stream.level in HEVC_LEVEL_VBV:
        rate, buffer = HEVC_LEVEL_VBV[stream.level]
        return rate * 1000.0, buffer * 1000.0
    return None


def rate_options(stream: SourceStream, encoding: dict, bitrate: float) -> dict:
    """The part's encoder options aimed at `bitrate` (the source's over those frames,
    bit/s) in place of a constant quality, within the source's level's buffer: a part
    costs about what the source spent on the frames it replaces."""
    if bitrate <= 0:
        return encoding
    encoder = encoding["c:v"]
    maxrate, bufsize = 2 * bitrate, VBV_SECONDS * bitrate
    if limits := level_vbv(stream):
        maxrate, bufsize = min(maxrate, limits[0]), min(bufsize, limits[1])
    options = {key: value for key, value in encoding.items() if key != "crf"}
    options["b:v"] = f"{bitrate:.0f}"
    if encoder == "libx264":
        options.update(maxrate=f"{maxrate:.0f}", bufsize=f"{bufsize:.0f}")
        if X264_PROFILES[stream.profile] != "baseline":
            # CABAC, which ultrafast leaves off: a tenth fewer bits for the same picture.
            options["x264-params"] += ":cabac=1"
    elif encoder == "libx265":
        vbv = f"bitrate={bitrate / 1000:.0f}:vbv-maxrate={maxrate / 1000:.0f}"
        options["x265-params"] += f":{vbv}:vbv-bufsize={bufsize / 1000:.0f}"
    elif encoder == "msmpeg4":
        options.pop("q:v")  # two passes at the bitrate (see part_outputs)
    elif encoder == "libaom-av1":
        options.update(maxrate=f"{maxrate:.0f}", bufsize=f"{bufsize:.0f}")
    elif encoder in ("libvpx-vp9", "libvpx"):
        options.update(maxrate=f"{maxrate:.0f}", bufsize=f"{bufsize:.0f}")
    else:
        return encoding
    return options


def part_input(*, source: Path, demuxer: str, seek: float) -> ffmpeg.nodes.FilterableStream:
    """The source decoded from `seek` for re-encoding (its frames as coded, unturned; trim
    filters keep what is wanted): for one seek, the same arguments, which ffmpeg-python
    makes one input, decoded once for all that use it."""
    seek_option = {"ss": f"{seek:.6f}"} if seek > 0 else {}
    return ffmpeg.input(
        file_url(source),
        f=demuxer,
        protocol_whitelist="file",
        noautorotate=None,
        noaccurate_seek=None,
        **seek_option,
    )


def part_outputs(
    *,
    source: Path,
    demuxer: str,
    part: Part,
    stream: SourceStream,
    output: Path,
    sps_id: int | None = None,
) -> list[ffmpeg.nodes.OutputStream]:
    """Re-encode one part: decode from a keyframe before it, keep its frames with trim
    filters on the source's own timeline (an `encode_runs` run: -copyts), show its first
    frame at 0. `sps_id`: the id x264 gives its SPS and PPS (one the source does not
    use). One output, or one per pass where only a first pass's statistics let the
    encoder's rate control hit a bitrate over a few frames (FFmpeg's WMV2 and MS-MPEG-4
    encoders: in one pass their first frames cost twice the source's)."""
    source_input = part_input(source=source, demuxer=demuxer, seek=part.seek)
    # The file's own timestamps, less the start the scan took away: -start_at_zero would
    # take away the start of the streams read, which in a transport stream whose sound
    # starts first is the picture's, not the file's.
    start, end, origin = (time + stream.start_time for time in (part.start, part.end, part.origin))
    filters = f"settb=AVTB,trim=start={start:.6f}:end={end:.6f},setpts=PTS-{origin:.6f}/TB"
    options = {"vf": filters, "fps_mode": "passthrough", "f": SMART_CODECS[stream.codec][2]}
    encoding = rate_options(stream, encoder_options(stream), part.bitrate)
    if sps_id is not None and encoding["c:v"] == "libx264":
        encoding["x264-params"] = f"{encoding.get('x264-params', '')}:sps-id={sps_id}".lstrip(":")
    passes: list[dict] = [{}]
    if encoding["c:v"] in TWO_PASS_ENCODERS and "b:v" in encoding:
        statistics = str(output.with_name(f"{output.stem}-pass"))
        passes = [{"pass": number, "passlogfile": statistics} for number in (1, 2)]
    return [
        ffmpeg.output(source_input["v:0"], str(output), **options, **encoding, **run)
        for run in passes
    ]


def encode_runs(
    parts: list[list[ffmpeg.nodes.OutputStream]], others: list[ffmpeg.nodes.OutputStream]
) -> list[list[str]]:
    """The FFmpeg runs that encode the picture's `parts` (each one output per pass) and
    the `others` (the poster): one run per pass, each part's next pass in the next run,
    the others in the last. Each input has its own seek (ffmpeg-python makes equal ones
    one: parts that seek alike share a decoder); all cut on the file's own timestamps
    (-copyts: one run's inputs cannot each start at zero their own way)."""
    runs = [[output for output in outputs if output] for outputs in itertools.zip_longest(*parts)]
    runs = runs or [[]]
    runs[-1] += others
    return [
        ffmpeg.merge_outputs(*run)
        .global_args("-copyts")
        .compile(cmd=tools.ffmpeg, overwrite_output=True)
        for run in runs
    ]


def run_beside(
    runner: Runner,
    runs: list[list[str]],
    duration: float,
    beside: Callable[[Callable[[], bool]], None] | None,
) -> None:
    """Run the parts' `runs` through the runner (their progress is the cut's: what
    follows is demuxing and muxing in-process) while `beside` (the sound, given what
    says it should stop) is made on a thread of its own: FFmpeg 5.1 would encode the
    sound on the thread that feeds the picture's encoders, not beside them. A cancel or
    a failure stops both."""
    stop = threading.Event()
    with ThreadPoolExecutor(max_workers=1) as pool:
        other = pool.submit(beside, stop.is_set) if beside else None
        try:
            for index, args in enumerate(runs):
                runner.run(args, duration, span=(index / len(runs), (index + 1) / len(runs)))
            while other is not None and not other.done():
                if runner.should_cancel():
                    stop.set()
                wait([other], timeout=CANCEL_POLL)
        except BaseException:
            stop.set()
            raise
        if other is not None:
            other.result()


def sound_output(
    *,
    source: Path,
    demuxer: str,
    plan: CutPlan,
    stream: SourceStream,
    output_plan: pipelines.OutputPlan,
    output: Path,
) -> ffmpeg.nodes.OutputStream:
    """Cut the sound from the source to the kept frames, re-encoded once (exact at both
    ends, no seams), on the file's own timestamps, like the picture's parts. It waits in
    a MOV/MP4 file, whose edit list keeps the encoder's priming where the encoder put
    it, for the join to copy it in as if it had encoded it there."""
    pre_roll = 1 if demuxer in pipelines.EXACT_SEEK_DEMUXERS else pipelines.SEEK_PRE_ROLL
    audio_seek = max(plan.first - pre_roll, 0)
    seek = {"ss": f"{audio_seek:.6f}"} if audio_seek > 0 else {}
    source_input = ffmpeg.input(
        file_url(source), f=demuxer, protocol_whitelist="file", noaccurate_seek=None, **seek
    )
    # AVI keeps no timestamps: the sound starts where players will play it along with
    # the first frame, and ends with the picture.
    delay = pipelines.avi_sound_shift(output_plan, reorder_frames=stream.has_b_frames)
    # Sound that starts after the first frame is padded with silence to start with it:
    # the join shifts the file to start at 0. The file's own timestamps, as the parts':
    # -start_at_zero would take away the start of the sound, where a transport stream's
    # starts after the picture.
    start, end = plan.first + delay + stream.start_time, plan.end + stream.start_time
    cut = (
        f"asettb=AVTB,atrim=start={start:.6f}:end={end:.6f},"
        f"asetpts=PTS-{start:.6f}/TB,aresample=first_pts=0"
    )
    muxer = "mp4" if output_plan.audio_codec in MP4_ONLY_SOUND else "mov"
    if output_plan.audio_codec in MATROSKA_SOUND:
        muxer = "matroska"
    options = {"af": cut, "f": muxer, "strict": "experimental"}
    options.update(pipelines.audio_options(output_plan))
    return ffmpeg.output(source_input["a:0"], str(output), **options)


def copy_sound(
    *,
    source: Path,
    demuxer: str,
    plan: CutPlan,
    start_time: float,
    output_plan: pipelines.OutputPlan,
    output: Path,
) -> bool:
    """Copy the sound's packets over the kept frames where an edit list cuts them to the
    sample: AAC-LC or MP3 from a MOV/MP4 into one. The packets before the first that the
    decoder needs are kept for it to start with (their output, and the first packet's
    before the first frame, are skipped by the edit list the negative start makes); the
    last packet is cut short to end with the last frame. False, and nothing written,
    where the sound must be re-encoded (also where the sound starts after the first
    frame)."""
    if not (
        output_plan.extension in pipelines.MOV_FAMILY
        and demuxer == "mov"
        and output_plan.audio_encoder in COPIED_SOUND
    ):
        return False
    decoders, profile, lead = COPIED_SOUND[output_plan.audio_encoder]
    with av.open(str(source), format=demuxer, options={"protocol_whitelist": "file"}) as src:
        if not src.streams.audio:
            return False
        audio = src.streams.audio[0]
        context, time_base = audio.codec_context, audio.time_base
        if (
            context.name not in decoders
            or context.profile != profile
            or (context.sample_rate, context.channels)
            != (output_plan.sample_rate, output_plan.channels)
        ):
            return False
        first = round((plan.first + start_time) / time_base)
        end = round((plan.end + start_time) / time_base)
        second = round(1 / time_base)
        if first > second:  # else from the start: its priming is the pre-roll
            src.seek(first - second, stream=audio)
        packets = [packet for packet in src.demux(audio) if packet.size and packet.pts is not None]
        kept = [
            index
            for index, packet in enumerate(packets)
            if packet.pts + packet.duration > first and packet.pts < end
        ]
        if not kept or packets[kept[0]].pts > first:  # no sound at the first frame
            return False
        with av.open(str(output), "w", format="mp4") as out:
            target = out.add_stream_from_template(audio)
            for packet in packets[max(kept[0] - lead, 0) : kept[-1] + 1]:
                if packet.pts + packet.duration > end:
                    packet.duration = end - packet.pts
                packet.pts -= first
                packet.dts = packet.pts
                packet.stream = target
                out.mux(packet)
    return True


def poster_output(
    *,
    source: Path,
    demuxer: str,
    at: float,
    frame: float,
    output: Path,
    decoded: Part | None = None,
    start_time: float = 0.0,
) -> ffmpeg.nodes.OutputStream:
    """The result's poster frame from the source, where the result shows it (the copy is
    the source's pictures, the re-encoded ends their twins), for the run that encodes
    the head and tail to write (alone where nothing is re-encoded). Taken from the
    frames decoded for the part `decoded` (at the file's own times, less `start_time`,
    as part_outputs cuts them), or else read from a seek of its own: two frames' length
    (`frame`: one's), or FFmpeg decodes on to the end of the run."""
    if decoded:
        start = at + start_time
        frames = (
            part_input(source=source, demuxer=demuxer, seek=decoded.seek)["v:0"]
            .filter("settb", "AVTB")
            .filter("trim", start=f"{start:.6f}", end=f"{start + 2 * frame:.6f}")
        )
        return thumbnails.poster_output(frames, output)
    seek = {"ss": f"{at:.6f}", "t": f"{2 * frame:.6f}"}
    source_input = ffmpeg.input(file_url(source), f=demuxer, protocol_whitelist="file", **seek)
    return thumbnails.poster_output(source_input["v:0"], output)


def keyframe_args(
    *,
    source: Path,
    demuxer: str,
    start: float,
    end: float,
    has_audio: bool,
    extension: str,
    output: Path,
) -> list[str]:
    """Copy every stream from a keyframe: instant, not frame-exact."""
    seek = {"ss": f"{start:.6f}"} if start > 0 else {}
    source_input = ffmpeg.input(file_url(source), f=demuxer, protocol_whitelist="file", **seek)
    streams = [source_input["v:0"]] + ([source_input["a:0"]] if has_audio else [])
    options = {
        "c": "copy",
        "t": f"{end - start:.6f}",
        "avoid_negative_ts": "make_zero",
        "f": FORMATS[extension].muxer,
    }
    if extension in pipelines.MOV_FAMILY:
        options["movflags"] = "+faststart"
    return ffmpeg.output(*streams, str(output), **options).compile(
        cmd=tools.ffmpeg, overwrite_output=True
    )


# --- running ------------------------------------------------------------------------


def copy_body(
    *,
    source: Path,
    demuxer: str,
    body: Body,
    start_time: float,
    dts_shift: int,
    part_format: str,
    output: Path,
    should_cancel: Callable[[], bool],
) -> None:
    """Copy the body's packets untouched, shown from 0 and decoded `dts_shift` ticks
    earlier. Packets shown before its keyframe (an open GOP's leading pictures) are left
    out: the head has them."""
    copying = False
    with (
        av.open(str(source), format=demuxer, options={"protocol_whitelist": "file"}) as src,
        av.open(str(output), "w", format=part_format) as out,
    ):
        video = src.streams.video[0]
        # The source's decoder as the stream's codec (opaque): by default PyAV looks up
        # an encoder of the decoder's name, and its FFmpeg decodes AV1 with libdav1d,
        # which encodes nothing. A copy needs no encoder.
        target = out.add_stream_from_template(video, opaque=True)
        if body.seek > 0:
            src.seek(int((body.seek + start_time) / video.time_base), stream=video)
        for count, packet in enumerate(src.demux(video)):
            if count % 100 == 0 and should_cancel():
                raise FFmpegCancelled("cancelled while copying")
            copying = copying or packet.pts == body.first_pts
            if not copying or packet.size == 0 or packet.pts < body.first_pts:
                continue
            if packet.pts == body.stop_pts:
                break
            packet.pts -= body.first_pts
            if packet.dts is not None:
                packet.dts -= body.first_pts + dts_shift
            packet.stream = target
            out.mux(packet)
    if not copying:
        raise NotSmart(
            "the video could not be copied from its keyframe",
            "the keyframe to copy from was not found again",
        )


def check_stream_header(part: Path, stream: SourceStream) -> None:
    """A part must have written the source's stream header where the codec has one per
    track that the copy decodes with (SHARED_HEADERS): the join keeps the first part's."""
    with av.open(str(part), options={"protocol_whitelist": "file"}) as container:
        header = bytes(container.streams.video[0].codec_context.extradata or b"")
    if header != stream.extradata:
        raise NotSmart(
            SHARED_HEADERS[stream.codec],
            f"a re-encoded part's {stream.codec} header is {header.hex()}, the source's "
            f"{stream.extradata.hex()}",
        )


def decode_earlier(*, part: Path, seconds: float, part_format: str, output: Path) -> None:
    """Rewrite a part decoded `seconds` earlier: always valid (never after it is shown)."""
    with (
        av.open(str(part), options={"protocol_whitelist": "file"}) as src,
        av.open(str(output), "w", format=part_format) as out,
    ):
        video = src.streams.video[0]
        target = out.add_stream_from_template(video)
        shift = math.ceil(seconds / video.time_base)
        for packet in src.demux(video):
            if packet.size == 0:
                continue
            if packet.dts is not None:
                packet.dts -= shift
            packet.stream = target
            out.mux(packet)


def packet_times(path: Path) -> list[tuple[float | None, float | None]]:
    """(shown, decoded) of each video packet of a file, in decode order; None where the
    container does not say (MPEG-PS stamps only some packets)."""
    with av.open(str(path), options={"protocol_whitelist": "file"}) as container:
        video = container.streams.video[0]
        return [
            tuple(
                None if stamp is None else float(stamp * video.time_base)
                for stamp in (packet.pts, packet.dts)
            )
            for packet in container.demux(video)
            if packet.size
        ]


def _stamped(times: list[tuple[float | None, float | None]]) -> tuple[list[float], list[float]]:
    """The show times and the decode times that packet_times found, each in decode order."""
    shown = [pts for pts, _ in times if pts is not None]
    return shown, [dts for _, dts in times if dts is not None]


def decode_lead(path: Path) -> float:
    """How long before its first picture is shown a file's first packet is decoded."""
    shown, decoded = _stamped(packet_times(path))
    return max(min(shown) - min(decoded), 0.0) if shown and decoded else 0.0


def last_decode(path: Path) -> float:
    """When a file's last packet is decoded, from when its first picture is shown."""
    shown, decoded = _stamped(packet_times(path))
    return max(decoded) - min(shown) if shown and decoded else 0.0


def result_fault(path: Path, planned: list[float], *, stamped: bool) -> str | None:
    """What is wrong with a joined result's timing, or None: every planned frame, shown
    when planned (no gap, no duplicate) where the container stamps each, decoded in order.
    An AVI has no stamps (a frame's time is its index): only its count tells."""
    times = packet_times(path)
    if len(times) != len(planned):
        return f"the joined parts hold {len(times)} frames, not the {len(planned)} planned"
    shown, decoded = _stamped(times)
    shown.sort()
    if stamped and len(shown) == len(planned):
        offsets = [pts - shown[0] - want for pts, want in zip(shown, planned, strict=True)]
        if any(abs(offset) > TIME_TOLERANCE for offset in offsets):
            return "the joined parts do not show the frames when planned"
    if any(b <= a for a, b in itertools.pairwise(decoded)):
        return "the joined parts are not decoded in order"
    return None


def smart_cut(
    *,
    source: Path,
    demuxer: str,
    start: float,
    end: float,
    output_plan: pipelines.OutputPlan,
    rotation: int,
    workdir: Path,
    output: Path,
    runner: Runner,
    poster: Path | None = None,
    facts: dict | None = None,
) -> CutResult:
    """Cut `start` <= time < `end` of `source` into `output` with the smart method;
    NotSmart (and no output) where it cannot be proven safe, or where a step of it
    fails (the full re-encode may still succeed).

    Seams: each part shows its frames from where the previous one ends (its length in
    the result, as the join is told). Decode order must rise across them too; re-encoded parts may
    reorder less or more than the source, so the parts before the tail are decoded
    earlier by just enough (their decode times move, never past their show times).

    `poster`: where to write the result's poster frame, by the parts' FFmpeg run (a run
    of its own where nothing is re-encoded).
    `facts`: the source's video stream as its probe found it (cutscan.scan)."""
    try:
        return _smart_cut(
            source=source,
            demuxer=demuxer,
            start=start,
            end=end,
            output_plan=output_plan,
            rotation=rotation,
            workdir=workdir,
            output=output,
            runner=runner,
            poster=poster,
            facts=facts,
        )
    except FFmpegCancelled:
        raise
    except (FFmpegError, av.FFmpegError, subprocess.SubprocessError) as error:
        output.unlink(missing_ok=True)
        # Most often an encoder refusing the source's parameters for the re-encoded ends
        # ("[libvpx-vp9] Error setting option colorspace ..."): FFmpeg's words are logged.
        raise NotSmart(
            UNMATCHED_SETTINGS, f"a step of the smart cut failed: {str(error).strip()}"
        ) from error


def smart_plan(
    found: Scan, *, demuxer: str, start: float, end: float, output_plan: pipelines.OutputPlan
) -> CutPlan:
    """What a smart cut of a scanned source would copy and re-encode (NotSmart: why it
    cannot be smart); the page's trim preview asks it too."""
    if refused := refusal(found.stream, demuxer):
        raise refused
    if output_plan.video_codec != found.stream.codec:
        raise NotSmart(
            "the result is written in another format than this video's",
            f"a {output_plan.extension} result cannot hold {found.stream.codec}",
        )
    return plan_cut(
        found, start=start, end=end, exact_seek=demuxer in pipelines.EXACT_SEEK_DEMUXERS
    )


def _smart_cut(
    *,
    source: Path,
    demuxer: str,
    start: float,
    end: float,
    output_plan: pipelines.OutputPlan,
    rotation: int,
    workdir: Path,
    output: Path,
    runner: Runner,
    poster: Path | None,
    facts: dict | None,
) -> CutResult:
    found = scan(source, demuxer, facts, span=(start, end))
    plan = smart_plan(found, demuxer=demuxer, start=start, end=end, output_plan=output_plan)
    spliced = splice.spliced(found.stream.codec, demuxer)
    sps_id = splice.x264_sps_id(found) if spliced else None
    part_format = SMART_CODECS[found.stream.codec][2]
    extension = {"mpegts": "ts", "matroska": "mkv"}.get(part_format, part_format)
    body_length = plan.body_end - plan.body_start
    # Decode times move by whole frames, so they stay evenly spaced (players and probes
    # guess the frame rate from them); Matroska stores none.
    stamps_decode = part_format == "mpegts"
    frame = 1 / Fraction(found.stream.frame_rate)

    def frames_for(seconds: float) -> float:
        return float(math.ceil(Fraction(seconds + SEAM_MARGIN) / frame) * frame)

    head, tail = workdir / f"head.{extension}", workdir / f"tail.{extension}"
    sound = workdir / "sound.mp4" if output_plan.audio_encoder else None
    # The head, the tail and the poster are made by one FFmpeg run (one per pass): each
    # run costs a twentieth of a second just to start.
    parts = [
        part_outputs(
            source=source,
            demuxer=demuxer,
            part=part,
            stream=found.stream,
            output=path,
            sps_id=sps_id,
        )
        for part, path in ((plan.head, head), (plan.tail, tail))
        if part
    ]

    def make_sound(should_stop: Callable[[], bool]) -> None:
        """The sound, copied where it can be, else re-encoded by an FFmpeg of its own."""
        copied = copy_sound(
            source=source,
            demuxer=demuxer,
            plan=plan,
            start_time=found.stream.start_time,
            output_plan=output_plan,
            output=sound,
        )
        if not copied:
            cut = sound_output(
                source=source,
                demuxer=demuxer,
                plan=plan,
                stream=found.stream,
                output_plan=output_plan,
                output=sound,
            )
            run_ffmpeg(encode_runs([], [cut])[0], should_cancel=should_stop)

    at = plan.first + thumbnails.POSITION * (plan.end - plan.first)
    # A part's decoder gives the poster (an input opened and decoding set up once) where
    # it decodes its frame anyway, or where it reaches it within the copy's first group
    # of pictures, decoding no more than a seek of the poster's own would; not a turned
    # video's, whose poster is shown upright.
    decoding = [
        part
        for part, until in ((plan.head, plan.body.second_start), (plan.tail, plan.end))
        if part and part.seek <= at < until
    ]
    posters = (
        [
            poster_output(
                source=source,
                demuxer=demuxer,
                at=at,
                frame=float(frame),
                output=poster,
                decoded=decoding[0] if decoding and not rotation else None,
                start_time=found.stream.start_time,
            )
        ]
        if poster
        else []
    )
    runs = encode_runs(parts, posters) if parts or posters else []
    # FFmpeg's progress is its furthest output's time, and the longest part ends the run.
    lengths = [part.end - part.origin for part in (plan.head, plan.tail) if part]
    run_beside(runner, runs, max(lengths, default=0.0), make_sound if sound else None)
    if found.stream.codec in SHARED_HEADERS:
        for part in (head if plan.head else None, tail if plan.tail else None):
            if part:
                check_stream_header(part, found.stream)
    if spliced:
        # Matroska keeps no decode times, and a reader guesses its rate from the input's
        # (an MP4 would say a lower one: the seams' decode times stretch its span).
        matroska = output_plan.extension in {"mkv", "webm"}
        picture = workdir / ("picture.mkv" if matroska else "picture.mp4")
        splice.splice(
            source=source,
            demuxer=demuxer,
            found=found,
            plan=plan,
            head=head if plan.head else None,
            tail=tail if plan.tail else None,
            margin=SEAM_MARGIN,
            container="matroska" if matroska else "mp4",
            output=picture,
            should_cancel=runner.should_cancel,
        )
        # 3GP knows no sample entry for in-band parameter sets: it keeps avc1.
        in_band = (plan.head or plan.tail) and output_plan.extension in {"mp4", "mov"}
        return _join(
            found=found,
            plan=plan,
            parts=[(picture, None)],
            sound=sound,
            output_plan=output_plan,
            rotation=rotation,
            output=output,
            runner=runner,
            sample_entry=splice.IN_BAND_TAGS[found.stream.codec] if in_band else None,
        )
    body_shift = 0.0
    if plan.tail:
        # The tail's first packet must be decoded after the body's last.
        overlap = plan.body.last_decode + decode_lead(tail) - body_length
        if stamps_decode and overlap > -SEAM_MARGIN:
            body_shift = frames_for(overlap)
    pieces: list[tuple[Path, float | None]] = []
    if plan.head:
        # The head's last packet must be decoded before the body's first.
        body_first = plan.body_start - plan.first - plan.body.first_lead - body_shift
        overlap = last_decode(head) - body_first
        if stamps_decode and overlap > -SEAM_MARGIN:
            earlier = workdir / f"earlier-head.{extension}"
            decode_earlier(
                part=head, seconds=frames_for(overlap), part_format=part_format, output=earlier
            )
            head = earlier
        pieces.append((head, plan.body_start - plan.first))
    body = workdir / f"body.{extension}"
    copy_body(
        source=source,
        demuxer=demuxer,
        body=plan.body,
        start_time=found.stream.start_time,
        dts_shift=math.ceil(body_shift / found.stream.time_base),
        part_format=part_format,
        output=body,
        should_cancel=runner.should_cancel,
    )
    pieces.append((body, body_length if plan.tail else None))
    if plan.tail:
        pieces.append((tail, None))
    return _join(
        found=found,
        plan=plan,
        parts=pieces,
        sound=sound,
        output_plan=output_plan,
        rotation=rotation,
        output=output,
        runner=runner,
    )


def _join(
    *,
    found: Scan,
    plan: CutPlan,
    parts: list[tuple[Path, float | None]],
    sound: Path | None,
    output_plan: pipelines.OutputPlan,
    rotation: int,
    output: Path,
    runner: Runner,
    sample_entry: str | None = None,
) -> CutResult:
    """Join the picture's parts (each with its length in the result; None: the last) and
    the sound into the result, all by stream copy, and check its frames. `sample_entry`:
    the MP4 sample entry of the picture (avc3: parameter sets in-band)."""
    stream = found.stream
    options = {key: str(value) for key, value in pipelines.container_options(output_plan).items()}
    muxer, tag = options.pop("f"), options.pop("tag:v", "")
    mov = output_plan.extension in pipelines.MOV_FAMILY
    if mov:
        # prores: its parts' Matroska forgets the profile's sample entry
        tag = sample_entry or (stream.codec_tag if stream.codec == "prores" else tag)
        options["video_track_timescale"] = str(stream.time_base.denominator)
    track = partjoin.Track(
        tag=tag,
        # The parts count in their own clock (90 kHz for MPEG-TS): an AVI, which counts
        # frames, must count its source's, or it would count half frames.
        time_base=stream.time_base if output_plan.extension == "avi" else None,
        shape=stream.sample_aspect_ratio,
        rotation=rotation if mov else 0,  # the parts have no display matrix: say it again
    )
    partjoin.join_parts(
        parts=parts,
        sound=sound,
        output=output,
        muxer=muxer,
        options=options,
        track=track,
        should_cancel=runner.should_cancel,
    )
    if fault := result_fault(output, plan.frame_times, stamped=output_plan.extension != "avi"):
        output.unlink()
        raise NotSmart("the smart cut did not give exactly the frames asked for", fault)
    return CutResult(method="smart", copied=(plan.body_start, plan.body_end))


def span_bitrate(source: Path, demuxer: str, start: float, end: float) -> float:
    """Bits a second the source's picture spends from `start` to `end` (demuxing only),
    for a full re-encode to aim at; 0 where it cannot tell."""
    try:
        return _span_bitrate(source, demuxer, start, end)
    except av.FFmpegError:
        return 0.0


def _span_bitrate(source: Path, demuxer: str, start: float, end: float) -> float:
    total, first, last = 0, None, None
    with av.open(str(source), format=demuxer, options={"protocol_whitelist": "file"}) as src:
        video = src.streams.video[0]
        offset = float(src.start_time or 0) / av.time_base
        if start > 1:
            src.seek(int((start - 1 + offset) / video.time_base), stream=video)
        for packet in src.demux(video):
            if not packet.size or packet.pts is None:
                continue
            time = float(packet.pts * video.time_base) - offset
            if time >= end + 1:  # past any reordering
                break
            if start <= time < end:
                total += packet.size
                first = time if first is None else min(first, time)
                last = time if last is None else max(last, time)
    if first is None or last is None or last <= first:
        return 0.0
    return total * 8 / (last - first)


def keyframe_before(source: Path, demuxer: str, time: float, facts: dict | None = None) -> float:
    """The last keyframe a copy may start at, at or before `time`."""
    found = scan(source, demuxer, facts)
    return keyframe_at_or_before(
        [packet.time for packet in found.packets if packet.safe_start], time
    )


def keyframe_at_or_before(keyframes: list[float], time: float) -> float:
    """Where a keyframe trim's copy starts: the last of `keyframes` at or before `time`."""
    return max((keyframe for keyframe in keyframes if keyframe <= time), default=0.0)
