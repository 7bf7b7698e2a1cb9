"""Smart cut, the cases a peer tool tests (issue 20): other profiles, all-intra codecs,
transport streams, Windows Media, AV1, copied MP3 sound, the end of a file, rotation and
interlacing. Each is cut smartly, its copied packets the source's byte for byte, or falls
back to the full re-encode saying why; either way exact, and joinable with its source."""

import hashlib
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import av
import pytest

from conftest import ffprobe, upload
from jobs.models import Job
from videos.engine import cutscan, smartcut
from videos.engine.cutscan import NotSmart

from .test_execute import execute, frame_count, output_path, queue, rotate_mp4
from .test_smartcut import (
    GOP,
    MPEG2,
    X264,
    assert_exact,
    longest_common_run,
    make_source,
    packet_hashes,
    sound_offset_ms,
    source_frame_times,
    stream_end,
    trim,
    video_times,
)
from .test_smartcut_bytes import video_bytes

TRANSPORT_STREAMS = {".ts", ".m2ts", ".mts"}
M2TS = ["-f", "mpegts", "-mpegts_m2ts_mode", "1"]
SECONDS = 4  # each source's length
# 60 fps from the 30 fps test pattern, every frame still its own: twice as fast, 2 s.
SIXTY_FPS = ["-vf", "setpts=PTS/2", "-r", "60", "-shortest"]
AV1 = ["-c:v", "libaom-av1", "-usage", "realtime", "-cpu-used", "8", "-g", str(GOP)]
SVT_AV1 = ["-c:v", "libsvtav1", "-preset", "12", "-g", str(GOP)]
OTHER_AV1_SETTINGS = (
    "The video's AV1 stream settings are not those this server's AV1 encoder writes, so "
    "the whole range was re-encoded."
)


@dataclass(frozen=True)
class Case:
    name: str
    extension: str
    video: list[str]
    audio: str
    cut: tuple[int, int] = (550, 3300)  # ms: both inside a GOP (a keyframe every 0.4 s)
    reason: str | None = None  # a fallback's, or None: cut smartly
    # What ffprobe must say of the source's picture, where the case is about it.
    source_is: dict = field(default_factory=dict)


CASES = [
    Case(
        "h264-high10-mp4",
        "mp4",
        [*X264, "-pix_fmt", "yuv420p10le"],
        "aac",
        source_is={"profile": "High 10"},
    ),
    Case(
        "h264-high422-mkv",
        "mkv",
        [*X264, "-pix_fmt", "yuv422p10le"],
        "aac",
        source_is={"profile": "High 4:2:2"},
    ),
    Case(
        "hevc-422-10bit-60fps-mkv",
        "mkv",
        [*SIXTY_FPS, "-pix_fmt", "yuv422p10le", "-c:v", "libx265", "-x265-params"]
        + [f"keyint={2 * GOP}:min-keyint={2 * GOP}:scenecut=0:open-gop=0:log-level=error"],
        "aac",
        cut=(275, 1650),  # both inside a GOP, keyframes every 0.4 s still
        # FFmpeg 5.1's name for every range extension: 4:2:2 10-bit here
        source_is={"profile": "Rext", "pix_fmt": "yuv422p10le", "r_frame_rate": "60/1"},
    ),
    Case("prores-mov", "mov", ["-c:v", "prores_ks", "-profile:v", "0"], "aac"),
    # (interlaced, as broadcast ProRes often is: a copy of whole frames re-encodes no field)
    Case(
        "prores-interlaced-mov",
        "mov",
        ["-c:v", "prores_ks", "-flags", "+ildct", "-top", "1"],
        "pcm_s16le",
        source_is={"field_order": "tt"},
    ),
    Case("mjpeg-avi", "avi", ["-c:v", "mjpeg", "-pix_fmt", "yuvj420p", "-q:v", "4"], "libmp3lame"),
    Case("h264-ts", "ts", [*X264, "-f", "mpegts"], "aac"),
    Case("h264-m2ts", "m2ts", [*X264, *M2TS], "aac"),
    Case("mpeg2-ts", "ts", [*MPEG2, "-f", "mpegts"], "mp2"),
    Case("mpeg2-m2ts", "m2ts", [*MPEG2, *M2TS], "mp2"),
    Case("wmv2-wmv", "wmv", ["-c:v", "wmv2", "-g", str(GOP), "-b:v", "400k"], "wmav2"),
    Case("msmpeg4-wmv", "wmv", ["-c:v", "msmpeg4", "-g", str(GOP), "-b:v", "400k"], "wmav2"),
    Case("av1-mp4", "mp4", [*AV1, "-b:v", "400k"], "aac"),
    Case("av1-mkv", "mkv", [*AV1, "-b:v", "400k"], "libopus"),
    # (a short span: the fallback re-encodes it all, and AV1 encoders are slow)
    Case("av1-svt-mp4", "mp4", SVT_AV1, "aac", cut=(550, 1300), reason=OTHER_AV1_SETTINGS),
    Case("h264-mp3-mov", "mov", X264, "libmp3lame"),
    Case("h264-vorbis-mkv", "mkv", X264, "libvorbis"),
    Case("to-the-end-mp4", "mp4", X264, "aac", cut=(550, 1000 * SECONDS)),
    Case(
        "interlaced-h264-mp4",
        "mp4",
        [*X264, "-flags", "+ildct+ilme", "-x264-params", "tff=1"],
        "aac",
        reason="The video is interlaced, so the whole range was re-encoded.",
        source_is={"field_order": "tt"},
    ),
]
# Cases whose sound is copied (AAC or MP3 from a MOV/MP4): the source's packets.
SOUND_COPIED = {"h264-mp3-mov", "h264-high10-mp4", "to-the-end-mp4", "prores-mov"}


def run_trim_and_join(api, source: Path, start_ms: int, end_ms: int) -> tuple[Job, Job]:
    """Upload `source`, trim it smartly and join the trim with it: both jobs, run."""
    video = upload(api, source).json()[0]
    trimmed = trim(api, video["id"], start_ms, end_ms)
    joined = queue(api, "concat", video_ids=[{"job_id": trimmed}, video["id"]])
    execute(api)  # each job's status says how it went
    return Job.objects.get(pk=trimmed), Job.objects.get(pk=joined)


def raw_stream(path: Path) -> tuple[list[tuple[float, bool, str]], bytes]:
    """(show time from the file's start, keyframe, md5 of the packet's bytes as stored)
    of each video packet in decode order, and the stream's extradata (avcC, hvcC, av1C,
    WMV2's header). The start is ffprobe's, as a trim's (PyAV's FFmpeg leaves out an
    Opus track's pre-skip)."""
    start = float(ffprobe(path)["format"].get("start_time", 0))
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        found = [
            (
                float((packet.pts if packet.pts is not None else packet.dts) * video.time_base)
                - start,
                packet.is_keyframe,
                hashlib.md5(bytes(packet)).hexdigest(),
            )
            for packet in container.demux(video)
            if packet.size
        ]
        return found, bytes(video.codec_context.extradata or b"")


def assert_copied_byte_for_byte(source: Path, result: Path, copied: tuple[float, float]):
    """The source's packets from the keyframe shown at `copied[0]` up to the first one
    shown at `copied[1]` (a keyframe, or any frame where the codec decodes in order),
    less an open GOP's leading pictures, are in the result, one after another and
    unchanged, and so is the source's extradata."""
    theirs, their_record = raw_stream(source)
    ours, our_record = raw_stream(result)
    first = next(i for i, (time, key, _) in enumerate(theirs) if key and time >= copied[0] - 1e-3)
    stop = next(
        (i for i, (time, _, _) in enumerate(theirs) if i > first and time >= copied[1] - 1e-3),
        len(theirs),
    )
    span = [digest for time, _, digest in theirs[first:stop] if time >= copied[0] - 1e-3]
    assert len(span) >= round((copied[1] - copied[0]) * frame_rate(source)) - 2
    digests = [digest for _, _, digest in ours]
    assert span[0] in digests
    start = digests.index(span[0])
    assert digests[start : start + len(span)] == span
    if result.suffix not in TRANSPORT_STREAMS:  # which have no record: the parser's guess
        assert our_record == their_record


def frame_rate(path: Path) -> float:
    numerator, denominator = ffprobe(path)["streams"][0]["r_frame_rate"].split("/")
    return int(numerator) / int(denominator)


def audio_frame(path: Path) -> float:
    """How long one packet of a file's sound lasts (its first whole one)."""
    listing = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "a:0", "-read_intervals", "%+#3"]
        + ["-show_entries", "packet=duration_time", "-of", "csv=p=0", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return max(float(line.strip(",")) for line in listing.split() if "N/A" not in line)


def check_trim(source: Path, trimmed: Job, joined: Job, case: Case, media_root: Path) -> None:
    """Everything issue 20 asks of a trim: smart with its packets copied byte for byte
    and its size the span's, or a fallback saying why; exact either way, its sound as
    long as its picture, and joinable with its source."""
    assert trimmed.status == "succeeded", trimmed.error
    result = output_path(trimmed.id, media_root)
    start, end = (ms / 1000 for ms in case.cut)
    if case.reason:
        assert (trimmed.outcome["trim_method"], trimmed.outcome["fallback_reason"]) == (
            "reencode",
            case.reason,
        )
    else:
        assert trimmed.outcome["trim_method"] == "smart", trimmed.outcome
        copied = tuple(ms / 1000 for ms in trimmed.outcome["copied_ms"])
        assert_copied_byte_for_byte(source, result, copied)
        offset = float(ffprobe(source)["format"].get("start_time", 0))
        assert video_bytes(result) <= 1.15 * video_bytes(source, offset + start, offset + end)
    assert_exact(source, result, start, end)
    assert abs(stream_end(result, "v:0") - stream_end(result, "a:0")) <= audio_frame(source)
    assert joined.status == "succeeded", joined.error
    together = output_path(joined.id, media_root)
    assert frame_count(together) == frame_count(result) + frame_count(source)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_peer_case_is_smart_or_falls_back_saying_why(api, tmp_path, media_root, case):
    # given a source with a keyframe every 0.4 s and sound
    name = f"{case.name}.{case.extension}"
    source = make_source(tmp_path / name, case.video, case.audio, duration=SECONDS)
    picture = ffprobe(source)["streams"][0]
    assert {key: picture[key] for key in case.source_is} == case.source_is

    # when it is trimmed smartly, both cut points inside a GOP (or to its end), and the
    # trim joined with its source
    trimmed, joined = run_trim_and_join(api, source, *case.cut)

    # then it is smart and byte for byte, or falls back saying why; exact either way
    check_trim(source, trimmed, joined, case, media_root)
    if case.name in SOUND_COPIED:  # and its sound is the source's packets, in step
        result = output_path(trimmed.id, media_root)
        ours = packet_hashes(result, None, stream="a:0")
        assert longest_common_run(packet_hashes(source, None, stream="a:0"), ours) == len(ours)
        start = float(ffprobe(source)["format"]["start_time"])
        first = next(t for t in source_frame_times(source) if t >= case.cut[0] / 1000)
        assert abs(sound_offset_ms(source, first + start, result, min(video_times(result)))) <= 2


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_cut_in_the_last_seconds_of_a_long_file(api, tmp_path, media_root):
    # given ten minutes of tiny video at 10 fps (a keyframe every 2 s)
    source = tmp_path / "long.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=160x90:r=10:d=600"]
        + ["-f", "lavfi", "-i", "sine=f=440:r=16000:d=600", "-c:v", "libx264", "-preset"]
        + ["ultrafast", "-crf", "30", "-g", "20", "-c:a", "aac", "-b:a", "32k", str(source)],
        check=True,
    )
    case = Case("long-mp4", "mp4", [], "aac", cut=(591_550, 598_300))

    # when a span of its last ten seconds is trimmed and joined with it
    trimmed, joined = run_trim_and_join(api, source, *case.cut)

    # then it is smart, byte for byte, exact and joinable like any short clip's
    check_trim(source, trimmed, joined, case, media_root)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_vertical_video_keeps_its_rotation(api, tmp_path, media_root):
    # given portrait footage (240x320) that its display matrix says to turn
    source = make_source(tmp_path / "vertical.mp4", [*X264, "-vf", "transpose=1"], "aac")
    rotate_mp4(source)
    case = Case("vertical-mp4", "mp4", [], "aac")

    # when it is trimmed smartly and joined with its source
    trimmed, joined = run_trim_and_join(api, source, *case.cut)

    # then the trim is smart and exact, and still turned
    check_trim(source, trimmed, joined, case, media_root)
    stream = ffprobe(output_path(trimmed.id, media_root))["streams"][0]
    assert (stream["width"], stream["height"]) == (240, 320)
    assert any(side.get("rotation") == -90 for side in stream.get("side_data_list", []))


def test_a_wmv2_part_must_write_the_sources_header(tmp_path):
    # given two WMV2 streams whose headers name other bitrates
    made = []
    for rate in ("300k", "400k"):
        path = tmp_path / f"{rate}.wmv"
        subprocess.run(
            ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=64x48:r=30:d=0.1"]
            + ["-c:v", "wmv2", "-b:v", rate, str(path)],
            check=True,
        )
        made.append(path)
    source = cutscan.scan(made[1], "asf").stream

    # then a part with the source's header passes, and one with another is refused
    smartcut.check_stream_header(made[1], source)
    with pytest.raises(NotSmart, match="encoder settings could not be matched") as refused:
        smartcut.check_stream_header(made[0], source)
    assert "wmv2 header" in refused.value.detail
