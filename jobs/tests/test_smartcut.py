"""Smart cut: the plan on made-up packets, and real cuts of generated media in every
codec and container it handles, checked by content, packet hashes and a strict decode."""

import array
import difflib
import hashlib
import logging
import re
import subprocess
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import pytest

from conftest import ffprobe, make_media, upload
from jobs.models import Job
from videos.engine import cutplan, cutscan, pipelines, smartcut, thumbnails
from videos.engine.cutscan import NotSmart, Packet, Scan, SourceStream
from videos.engine.smartcut import encoder_options
from videos.models import Video

from .test_execute import (
    difference,
    execute,
    frame_count,
    frame_times,
    gray_frame,
    output_path,
    queue,
    rotate_mp4,
)

# --- the plan, on made-up packets ---------------------------------------------------

STREAM = SourceStream(
    codec="h264",
    profile="High",
    level=30,
    pix_fmt="yuv420p",
    field_order="progressive",
    has_b_frames=2,
    time_base=Fraction(1, 30),
    frame_rate="30/1",
    color_range="tv",
    color_space="unknown",
    color_transfer="unknown",
    color_primaries="unknown",
    start_time=0.0,
)


def gops(*patterns: str) -> Scan:
    """Packets in decode order from GOP patterns in display order ('I' safe keyframe,
    'i' a keyframe decoding cannot start at, 'P', 'B', 'L' a leading picture shown
    before its GOP's keyframe), 1/30 s apart, with one frame of reordering."""
    packets, shown = [], 0
    for pattern in patterns:
        leading = pattern.count("L")
        frames = [(shown + index, kind) for index, kind in enumerate(pattern)]
        shown += len(pattern)
        key = frames[leading]
        decode = [key] + frames[:leading] + frames[leading + 1 :]
        for pts, kind in decode:
            packets.append(
                Packet(
                    pts=pts,
                    dts=len(packets) - 1,
                    time=pts / 30,
                    end=(pts + 1) / 30,
                    safe_start=kind == "I",
                    parameter_sets=b"sps" if kind == "I" else b"",
                )
            )
    return Scan(STREAM, packets)


def test_plan_copies_whole_gops_and_reencodes_head_and_tail():
    # given three 6-frame GOPs, cut from frame 2 to frame 14 (exclusive)
    scan = gops("IPPPPP", "IPPPPP", "IPPPPP")

    # when
    plan = cutplan.plan_cut(scan, start=2 / 30, end=14 / 30, exact_seek=True)

    # then frames 2-5 are re-encoded, 6-11 copied, 12-13 re-encoded
    assert (plan.head.origin, plan.body_start, plan.tail.origin) == (2 / 30, 6 / 30, 12 / 30)
    assert (plan.body.first_pts, plan.body.stop_pts) == (6, 12)
    assert len(plan.frame_times) == 12
    assert plan.head.start < 2 / 30 < plan.head.end < 6 / 30
    assert plan.tail.start < 12 / 30 < 13 / 30 < plan.tail.end < 14 / 30


def test_plan_copies_vp9_up_to_the_last_frame_kept():
    # given VP9, whose frames are decoded in the order they are shown
    scan = gops("IPPPPP", "IPPPPP", "IPPPPP")
    scan = Scan(replace(STREAM, codec="vp9", has_b_frames=0), scan.packets)

    # when cut from frame 2 to frame 14 (exclusive)
    plan = cutplan.plan_cut(scan, start=2 / 30, end=14 / 30, exact_seek=True)

    # then frames 2-5 are re-encoded and 6-13 copied: no tail
    assert (plan.head.origin, plan.body.first_pts, plan.body.stop_pts) == (2 / 30, 6, 14)
    assert (plan.tail, plan.body_end) == (None, 14 / 30)


def test_plan_leaves_an_open_gops_leading_pictures_to_the_head():
    # given a second GOP whose two leading pictures are shown before its keyframe
    scan = gops("IPPPPP", "LLIPPP", "LLIPPP")

    # when the cut starts inside the first GOP
    plan = cutplan.plan_cut(scan, start=1 / 30, end=17 / 30, exact_seek=True)

    # then the copy starts at the keyframe shown at frame 8; frames 6 and 7 are the head's
    assert plan.body.first_pts == 8
    assert plan.head.end == pytest.approx(7.5 / 30)
    # and it ends before the third GOP's leading pictures, which the tail re-encodes
    assert plan.body.stop_pts == 14
    assert plan.tail.origin == pytest.approx(12 / 30)


def test_plan_starts_only_at_keyframes_decoding_can_start_at():
    scan = gops("IPPPPP", "iPPPPP", "IPPPPP", "IPPPPP")
    plan = cutplan.plan_cut(scan, start=1 / 30, end=20 / 30, exact_seek=True)
    assert plan.body.first_pts == 12


def test_plan_without_a_tail_at_the_end_of_the_video_or_on_a_keyframe():
    scan = gops("IPPPPP", "IPPPPP", "IPPPPP")
    to_the_end = cutplan.plan_cut(scan, start=3 / 30, end=10, exact_seek=True)
    assert (to_the_end.body.stop_pts, to_the_end.tail) == (None, None)
    on_keyframes = cutplan.plan_cut(scan, start=6 / 30, end=12 / 30, exact_seek=True)
    assert (on_keyframes.head, on_keyframes.tail, on_keyframes.body.stop_pts) == (None, None, 12)


def test_plan_refuses_a_range_without_a_whole_gop():
    scan = gops("IPPPPP", "IPPPPP", "IPPPPP")
    with pytest.raises(NotSmart, match="too few keyframes") as no_whole_gop:
        cutplan.plan_cut(scan, start=4 / 30, end=10 / 30, exact_seek=True)
    assert "no whole group of pictures" in no_whole_gop.value.detail
    with pytest.raises(NotSmart, match="too few keyframes") as no_keyframe:
        cutplan.plan_cut(scan, start=1 / 30, end=5 / 30, exact_seek=True)
    assert "no keyframe" in no_keyframe.value.detail


def test_plan_refuses_parameter_sets_that_change_inside_the_copy():
    scan = gops("IPPPPP", "IPPPPP", "IPPPPP", "IPPPPP")
    packets = list(scan.packets)
    packets[12] = replace(packets[12], parameter_sets=b"other sps")
    with pytest.raises(NotSmart, match="encoding settings change"):
        cutplan.plan_cut(Scan(STREAM, packets), start=1 / 30, end=23 / 30, exact_seek=True)


def test_keyframes_are_told_apart_by_their_nal_units():
    idr = b"\x00\x00\x00\x02\x67\x64" + b"\x00\x00\x00\x02\x68\xee" + b"\x00\x00\x00\x02\x65\x88"
    recovery_point = b"\x00\x00\x00\x02\x06\x05" + b"\x00\x00\x00\x02\x41\x9a"
    assert cutscan.classify_keyframe("h264", idr, 4) == (True, b"\x67\x64")
    assert cutscan.classify_keyframe("h264", recovery_point, 4) == (False, b"")
    cra = b"\x00\x00\x01\x2a\x01\xaf"  # HEVC NAL type 21 in Annex B
    trail = b"\x00\x00\x01\x02\x01\xd0"  # type 1
    assert cutscan.classify_keyframe("hevc", cra, None)[0] is True
    assert cutscan.classify_keyframe("hevc", trail, None)[0] is False


# --- real cuts ----------------------------------------------------------------------

RATE, GOP = 30, 12  # a keyframe every 0.4 s
CUT = (550, 3300)  # ms: inside the GOPs at 0.4-0.8 s and 3.2-3.6 s
COPIED = (0.8, 3.2)  # seconds: the whole GOPs in between
# (name, extension, video options, audio encoder, bitstream normaliser for packet hashes)
X264 = ["-c:v", "libx264", "-g", str(GOP), "-keyint_min", str(GOP), "-sc_threshold", "0"]
X265 = [
    "-c:v",
    "libx265",
    "-x265-params",
    f"keyint={GOP}:min-keyint={GOP}:scenecut=0:open-gop=0:log-level=error",
]
# Only the coded pictures: parameter sets and AUDs travel differently in a result.
MPEG2 = ["-c:v", "mpeg2video", "-g", str(GOP), "-bf", "2", "-q:v", "3"]  # open GOPs
H264_NORMAL = "h264_mp4toannexb,filter_units=pass_types=1-5"
HEVC_NORMAL = "hevc_mp4toannexb,filter_units=pass_types=0-31"
# Elementary stream muxer: (picture start code, start codes of the headers before one).
ELEMENTARY = {
    "mpeg2video": (b"\x00\x00\x01\x00", re.compile(rb"\x00\x00\x01[\xb3\xb7\xb8]")),
    "m4v": (b"\x00\x00\x01\xb6", re.compile(rb"\x00\x00\x01[\x00-\x2f\xb0-\xb5]")),
}
PAIRS = [
    ("h264-mp4", "mp4", X264, "aac", H264_NORMAL),
    ("h264-mov", "mov", X264, "aac", H264_NORMAL),
    ("h264-mkv", "mkv", X264, "aac", H264_NORMAL),
    ("h264-flv", "flv", X264, "aac", H264_NORMAL),
    ("h264-3gp", "3gp", X264, "aac", H264_NORMAL),
    ("hevc-mp4", "mp4", [*X265, "-tag:v", "hvc1"], "aac", HEVC_NORMAL),
    ("hevc-mov", "mov", [*X265, "-tag:v", "hvc1"], "aac", HEVC_NORMAL),
    ("hevc-mkv", "mkv", X265, "aac", HEVC_NORMAL),
    ("vp9-webm", "webm", ["-c:v", "libvpx-vp9", "-g", str(GOP), "-b:v", "400k"], "libopus", None),
    ("vp9-mkv", "mkv", ["-c:v", "libvpx-vp9", "-g", str(GOP), "-b:v", "400k"], "libopus", None),
    ("vp8-webm", "webm", ["-c:v", "libvpx", "-g", str(GOP), "-b:v", "400k"], "libvorbis", None),
    ("vp8-mkv", "mkv", ["-c:v", "libvpx", "-g", str(GOP), "-b:v", "400k"], "libvorbis", None),
    ("mpeg2-ps", "mpeg", [*MPEG2, "-f", "mpeg"], "mp2", "mpeg2video"),
    ("mpeg2-ts", "mpeg", [*MPEG2, "-f", "mpegts"], "mp2", "mpeg2video"),
    ("mpeg4-avi", "avi", ["-c:v", "mpeg4", "-g", str(GOP), "-q:v", "3"], "libmp3lame", "m4v"),
]


def make_source(
    path: Path, video: list[str], audio: str, *, duration: float = 4, sound_from: float = 0
) -> Path:
    """A clip whose picture changes every frame and whose sound is a tone switched on
    and off every 100 ms (from `sound_from` s), so both can be lined up with the source
    by content."""
    args = [
        "ffmpeg",
        "-hide_banner",
        "-loglevel",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        f"testsrc2=s=320x240:r={RATE}:d={duration}",
        "-itsoffset",
        str(sound_from),
        "-f",
        "lavfi",
        "-i",
        f"aevalsrc=0.5*sin(2*PI*440*t)*lt(mod(t\\,0.2)\\,0.1):s=48000:d={duration}",
        "-pix_fmt",
        "yuv420p",
        *video,
        "-c:a",
        audio,
        str(path),
    ]
    subprocess.run(args, check=True)
    return path


@pytest.fixture(scope="session")
def sources(tmp_path_factory):
    """Each pair's source, made once."""
    made = {}

    def get(name: str) -> Path:
        if name not in made:
            _, extension, video, audio, _ = next(pair for pair in PAIRS if pair[0] == name)
            folder = tmp_path_factory.mktemp("smartcut")
            made[name] = make_source(folder / f"{name}.{extension}", video, audio)
        return made[name]

    return get


def packet_hashes(path: Path, normaliser: str | None, stream: str = "v:0") -> list[str]:
    """The md5 of each packet of a stream, in decode order; for the picture, of each coded
    picture. H.264/HEVC: each packet through a
    bitstream filter that keeps only its pictures' NAL units (parameter sets and AUDs
    travel differently in a result). MPEG-2/MPEG-4 Part 2: the elementary stream split
    at picture start codes, each without the headers that precede the next (containers
    attach them to either side)."""
    args = ["ffmpeg", "-v", "error", "-i", str(path), "-map", f"0:{stream}", "-c", "copy"]
    if normaliser in ELEMENTARY:
        stream = subprocess.run(
            [*args, "-f", normaliser, "-"], capture_output=True, check=True
        ).stdout
        picture, headers = ELEMENTARY[normaliser]
        pictures = stream.split(picture)[1:]
        return [hashlib.md5(re.split(headers, p)[0]).hexdigest() for p in pictures]
    bsf = ["-bsf:v", normaliser] if normaliser else []
    listing = subprocess.run(
        [*args, *bsf, "-f", "framemd5", "-"], capture_output=True, text=True, check=True
    ).stdout
    # stream, dts, pts, duration, size, hash, then any side data's ("S=1, size, hash")
    return [line.split(",")[5].strip() for line in listing.splitlines() if line[:1] != "#"]


def longest_common_run(source: list[str], result: list[str]) -> int:
    """How many packets in a row the result has exactly as the source has them."""
    matcher = difflib.SequenceMatcher(None, source, result, autojunk=False)
    return matcher.find_longest_match(0, len(source), 0, len(result)).size


def strict_decode_errors(path: Path) -> str:
    return subprocess.run(
        ["ffmpeg", "-v", "error", "-xerror", "-i", str(path), "-f", "null", "-"],
        capture_output=True,
        text=True,
    ).stderr


def stream_end(path: Path, selector: str) -> float:
    """When the last packet of one stream ends (a result's picture starts at 0; its
    sound may start earlier only by the encoder's priming, which players skip)."""
    listing = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-select_streams",
            selector,
            "-show_entries",
            "packet=pts_time,duration_time",
            "-of",
            "csv=p=0",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = [line.split(",") for line in listing.split() if "N/A" not in line]
    return max(float(start) + float(duration) for start, duration, *_ in rows)


def envelope(path: Path, start: float, seconds: float) -> list[float]:
    """The sound's loudness every millisecond from `start` by the file's own timestamps
    (-copyts: else FFmpeg counts from the file's start, 0.5 s or 1.4 s into an MPEG-PS
    or TS), decoded as 8 kHz mono."""
    raw = subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-copyts",
            "-i",
            str(path),
            "-map",
            "0:a:0",
            "-af",
            f"atrim=start={start},asetpts=PTS-STARTPTS",
            "-t",
            str(seconds),
            "-ac",
            "1",
            "-ar",
            "8000",
            "-f",
            "s16le",
            "-",
        ],
        capture_output=True,
        check=True,
    ).stdout
    samples = array.array("h", raw[: len(raw) // 2 * 2])
    return [sum(map(abs, samples[i : i + 8])) / 8 for i in range(0, len(samples) - 7, 8)]


def sound_offset_ms(source: Path, source_start: float, result: Path, result_start: float) -> int:
    """By how many ms the result's sound, from its first picture, lags the source's from
    the same picture (each file's own timestamps)."""
    expected = envelope(source, source_start, 2.5)
    got = envelope(result, result_start, 2.5)
    length = min(len(expected), len(got)) - 60

    def mismatch(lag: int) -> float:
        return sum(abs(got[i + lag] - expected[i]) for i in range(30, length))

    return min(range(-30, 31), key=mismatch)


def video_times(path: Path) -> list[float]:
    """When each picture is shown, by the file's own timestamps, in order."""
    listing = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts_time"]
        + ["-of", "csv=p=0", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return sorted(float(line.strip(",")) for line in listing.split() if "N/A" not in line)


def source_frame_times(path: Path) -> list[float]:
    """As a trim sees them, decoded (an AVI's B-frames leave its other packets without
    a time): from the file's start."""
    start = float(ffprobe(path)["format"]["start_time"])
    return [time - start for time in frame_times(path)]


def trim(api, video_id: int, start_ms: int, end_ms: int, mode: str = "smart") -> int:
    return queue(
        api, "trim", video_id=video_id, trim_start=str(start_ms), trim_end=str(end_ms), mode=mode
    )


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("name", [pair[0] for pair in PAIRS])
def test_smart_trim_is_exact_and_copies_the_middle(api, sources, media_root, name):
    # given a source with a keyframe every 0.4 s, and sound that changes every 100 ms
    source = sources(name)
    normaliser = next(pair[4] for pair in PAIRS if pair[0] == name)
    video = upload(api, source).json()[0]

    # when 0.55 s .. 3.3 s is trimmed, both cut points inside a GOP
    job_id = trim(api, video["id"], *CUT)
    r = execute(api)
    assert r.status_code == 200, r.content

    # then the smart method ran
    job = Job.objects.get(pk=job_id)
    assert job.status == "succeeded", job.error
    assert job.outcome["trim_method"] == "smart", job.outcome
    result = output_path(job_id, media_root)
    assert Video.objects.get(pk=job.output_video_id).trim_info["trim_method"] == "smart"
    # (1) exactly the frames shown from 0.55 s to before 3.3 s, the first and the last
    # equal to the source's frames there
    times = source_frame_times(source)
    kept = [index for index, time in enumerate(times) if 0.55 <= time < 3.3]
    assert frame_count(result) == len(kept)
    for ours, theirs in ((0, kept[0]), (len(kept) - 1, kept[-1])):
        here = gray_frame(result, ours)
        assert difference(here, gray_frame(source, theirs)) < 3
        assert difference(here, gray_frame(source, theirs)) < min(
            difference(here, gray_frame(source, theirs - 1)),
            difference(here, gray_frame(source, theirs + 1)),
        )
    # (2) the whole GOPs between the cuts are the source's packets, bit for bit
    # (an open GOP's two leading pictures are re-encoded, which may split its keyframe
    # off the run)
    copied = longest_common_run(
        packet_hashes(source, normaliser), packet_hashes(result, normaliser)
    )
    assert copied >= round((COPIED[1] - COPIED[0]) * RATE) - 3
    # (3) a strict decoder finds nothing wrong
    assert strict_decode_errors(result) == ""
    # (4) picture and sound last as long as each other, and the sound lines up with the
    # picture as in the source (where FFmpeg 5.1's own remux into Matroska would move
    # Opus sound against the picture by its pre-skip, 6.5 ms)
    assert abs(stream_end(result, "v:0") - stream_end(result, "a:0")) <= 1152 / 48000
    source_start = float(ffprobe(source)["format"]["start_time"])
    frame = times[kept[0]] + source_start  # the first frame kept, by the source's stamps
    assert abs(sound_offset_ms(source, frame, result, min(video_times(result)))) <= 2
    # and in an mp4, mov or 3gp the AAC sound is the source's packets, copied (the edit
    # list cuts them to the picture), where elsewhere it is re-encoded once
    if result.suffix[1:] in pipelines.MOV_FAMILY:
        ours = packet_hashes(result, None, stream="a:0")
        assert longest_common_run(packet_hashes(source, None, stream="a:0"), ours) == len(ours)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("name", [pair[0] for pair in PAIRS])
def test_smart_trims_concatenate_with_their_source_and_each_other(api, sources, media_root, name):
    # given a source and two smart trims of it
    source = sources(name)
    video = upload(api, source).json()[0]
    first, second = trim(api, video["id"], *CUT), trim(api, video["id"], 1250, 3900)
    assert execute(api).status_code == 200
    trims = [Job.objects.get(pk=job) for job in (first, second)]
    assert [job.outcome["trim_method"] for job in trims] == ["smart", "smart"]

    # when they are joined with the source
    joined = queue(api, "concat", video_ids=[video["id"], *(job.output_video_id for job in trims)])
    assert execute(api).status_code == 200

    # then every frame of each (the picture by stream copy; Vorbis sound re-encoded
    # once, its codebooks being the encoder run's), decoding cleanly, the sound as long
    # as the picture (within one audio frame)
    job = Job.objects.get(pk=joined)
    assert job.status == "succeeded", job.error
    result = output_path(joined, media_root)
    parts = [source, *(output_path(job.id, media_root) for job in trims)]
    assert frame_count(result) == sum(frame_count(part) for part in parts)
    assert strict_decode_errors(result) == ""
    assert abs(stream_end(result, "v:0") - stream_end(result, "a:0")) <= 1152 / 48000
    # and, where the concat made the sound (Vorbis), each part's where its picture starts
    # (the concat demuxer lays each part out for its container's duration). A copied
    # sound is not measured: this measure reads 6-19 ms at some seams of those, even at
    # the very start of mp4s (their encoder's priming), not looked into.
    if next(pair[3] for pair in PAIRS if pair[0] == name) == "libvorbis":
        seam = 0.0
        for part in parts:
            assert abs(sound_offset_ms(part, 0.0, result, seam)) <= 2, seam
            seam += float(ffprobe(part)["format"]["duration"])


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("b_frames", [[], ["-bf", "2", "-vtag", "DX50"]], ids=["plain", "b-frames"])
def test_avi_trims_of_both_methods_are_exact_and_join_their_source(
    api, tmp_path, media_root, b_frames
):
    # given MPEG-4 AVIs, cut halfway between two frames at both ends (at 30 fps, 0.55 s
    # and 3.3 s), where a full re-encode's frames used to fall on half ticks
    video_options = ["-c:v", "mpeg4", "-g", str(GOP), "-q:v", "3", *b_frames]
    source = make_source(tmp_path / "divx.avi", video_options, "libmp3lame")
    video = upload(api, source).json()[0]

    # when it is trimmed smartly and by a full re-encode, and both are joined after it
    jobs = [trim(api, video["id"], *CUT, mode=mode) for mode in ("smart", "reencode")]
    assert execute(api).status_code == 200
    trims = [Job.objects.get(pk=job) for job in jobs]
    assert [job.outcome.get("trim_method") for job in trims] == ["smart", "reencode"], [
        job.error for job in trims
    ]
    joined = queue(api, "concat", video_ids=[video["id"], *(job.output_video_id for job in trims)])
    assert execute(api).status_code == 200

    # then each is exact, its sound in line with its picture as the source's is (by the
    # times a decoder shows the pictures at: an AVI's B-frames are shown a frame late)
    # and ending with it, and the join holds every frame of each, decoding cleanly (a
    # trim decoded with another delay than its source lost or repeated one at the seam)
    results = [output_path(job.id, media_root) for job in trims]
    first = next(time for time in source_frame_times(source) if time >= 0.55)
    for result in results:
        assert_exact(source, result, 0.55, 3.3)
        shown = frame_times(result)
        assert abs(sound_offset_ms(source, first, result, shown[0])) <= 2
        picture_end = shown[0] + frame_count(result) / RATE
        assert abs(picture_end - stream_end(result, "a:0")) <= 1152 / 48000
    assert Job.objects.get(pk=joined).status == "succeeded"
    result = output_path(joined, media_root)
    assert frame_count(result) == sum(frame_count(part) for part in [source, *results])
    assert strict_decode_errors(result) == ""


# --- the harder sources, the other modes, and what falls back -------------------------


def run_trim(api, source: Path, start_ms: int, end_ms: int, mode: str = "smart"):
    """Upload, trim and run: the succeeded job and its result's path."""
    video = upload(api, source).json()[0]
    job_id = trim(api, video["id"], start_ms, end_ms, mode=mode)
    execute(api)
    job = Job.objects.get(pk=job_id)
    assert job.status == "succeeded", job.error
    return job, output_path(job_id, Path(job.output_video.file.storage.location))


def assert_exact(source: Path, result: Path, start: float, end: float) -> None:
    """Exactly the frames shown from start to before end, the first and last equal to the
    source's, and nothing a strict decoder objects to."""
    times = source_frame_times(source)
    kept = [index for index, time in enumerate(times) if start <= time < end]
    assert frame_count(result) == len(kept)
    for ours, theirs in ((0, kept[0]), (len(kept) - 1, kept[-1])):
        assert difference(gray_frame(result, ours), gray_frame(source, theirs)) < 3
    assert strict_decode_errors(result) == ""


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_open_gop_hevc_is_copied_only_from_where_decoding_can_start(api, tmp_path):
    # given HEVC whose keyframes are CRA pictures followed by RASL pictures, which need
    # the GOP before them
    source = make_source(
        tmp_path / "open.mkv",
        [
            "-c:v",
            "libx265",
            "-x265-params",
            f"keyint={GOP}:min-keyint={GOP}:scenecut=0:open-gop=1:bframes=3:log-level=error",
        ],
        "aac",
    )
    found = cutscan.scan(source, "matroska")
    assert found.stream.has_b_frames > 0

    # when it is trimmed with both cuts inside a GOP
    job, result = run_trim(api, source, *CUT)

    # then it is cut smartly and exactly: the leading pictures of the first copied CRA
    # and of the CRA after the copy are re-encoded, not copied
    assert job.outcome["trim_method"] == "smart"
    assert_exact(source, result, 0.55, 3.3)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_h264_with_b_frame_pyramid(api, tmp_path):
    source = make_source(
        tmp_path / "pyramid.mp4", [*X264, "-x264-params", "bframes=3:b-pyramid=normal"], "aac"
    )
    assert ffprobe(source)["streams"][0]["has_b_frames"] == 2
    job, result = run_trim(api, source, *CUT)
    assert job.outcome["trim_method"] == "smart"
    assert_exact(source, result, 0.55, 3.3)
    assert ffprobe(result)["streams"][0]["has_b_frames"] == 2


def first_sound(path: Path) -> float:
    """Seconds from a file's first picture to the first loud sample of its sound, both
    by the file's own timestamps (a sound that starts late is padded to its start)."""
    start = min(video_times(path))
    raw = subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-copyts",
            "-i",
            str(path),
            "-map",
            "0:a:0",
            "-af",
            f"aresample=first_pts=0,atrim=start={start}",
            "-ac",
            "1",
            "-f",
            "s16le",
            "-",
        ],
        capture_output=True,
        check=True,
    ).stdout
    samples = array.array("h", raw[: len(raw) // 2 * 2])
    return next(index for index, sample in enumerate(samples) if abs(sample) > 3000) / 48000


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("extension", ["mp4", "mkv"])
def test_sound_that_starts_after_the_picture_keeps_its_place(api, tmp_path, extension):
    # given a source whose sound (a tone on for 0.1 s of every 0.2 s) starts 0.3 s after
    # its picture
    source = make_source(tmp_path / f"late.{extension}", X264, "aac", sound_from=0.3)
    assert abs(first_sound(source) - 0.3) < 0.003
    # when it is cut smartly from 0.1 s (the sound cannot be copied from before it
    # begins: it is re-encoded, padded to start with the picture)
    job, result = run_trim(api, source, 100, 3300)
    assert job.outcome["trim_method"] == "smart"
    # then the first tone still comes 0.2 s after the first frame
    assert abs(first_sound(result) - 0.2) < 0.003


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_trim_from_the_start_keeps_the_first_sound(api, tmp_path):
    # given an mp4 whose sound is a tone from its very first sample
    source = make_source(tmp_path / "start.mp4", X264, "aac")
    assert first_sound(source) < 0.001
    # when it is cut from 0 (its AAC copied, with the encoder's priming before it)
    job, result = run_trim(api, source, 0, 3300)
    assert job.outcome["trim_method"] == "smart"
    # then the tone sounds from the first frame, as in the source
    assert first_sound(result) < 0.001


COLOURS = {
    "color_range": "pc",
    "color_space": "bt709",
    "color_transfer": "smpte170m",
    "color_primaries": "bt470bg",
}


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_sources_colour_description_is_kept(api, tmp_path):
    # given a source that says its colours (each property something else)
    tags = [
        "-color_range",
        "pc",
        "-colorspace",
        "bt709",
        "-color_trc",
        "smpte170m",
        "-color_primaries",
        "bt470bg",
    ]
    source = make_source(tmp_path / "colours.mp4", [*X264, *tags], "aac")
    assert {key: ffprobe(source)["streams"][0][key] for key in COLOURS} == COLOURS
    # when it is cut smartly, then the result (its re-encoded head first) says the same
    job, result = run_trim(api, source, *CUT)
    assert job.outcome["trim_method"] == "smart"
    assert {key: ffprobe(result)["streams"][0][key] for key in COLOURS} == COLOURS


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_h264_open_gop_is_copied_only_from_idr_pictures(api, tmp_path):
    # given x264's open GOPs: its keyframes after the first are recovery points, not IDR
    source = make_source(tmp_path / "open.mp4", [*X264, "-x264-params", "open-gop=1"], "aac")
    found = cutscan.scan(source, "mov")
    assert [p.time for p in found.packets if p.safe_start] == [0.0]

    # when it is trimmed, then no copy can start inside the range: it is re-encoded, exactly
    job, result = run_trim(api, source, *CUT)
    assert job.outcome["trim_method"] == "reencode"
    assert job.outcome["fallback_reason"] == (
        "The range holds too few keyframes to copy any of it unchanged, "
        "so the whole range was re-encoded."
    )
    assert_exact(source, result, 0.55, 3.3)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("variable_rate", [False, True], ids=["rotated", "rotated-vfr-phone"])
def test_phone_footage_keeps_rotation_and_timing(api, tmp_path, variable_rate):
    # given footage stored sideways, as phones do, at a variable rate or not
    extra = [*X264]
    if variable_rate:
        extra = ["-vf", "select='lt(mod(n\\,10)\\,6)'", "-fps_mode", "vfr", *extra]
    source = make_media(tmp_path / "phone.mp4", rate="30", duration=4, extra=extra)
    rotate_mp4(source)

    # when it is trimmed
    job, result = run_trim(api, source, 550, 3300)

    # then smartly, still turned, with each frame's own time
    assert job.outcome["trim_method"] == "smart"
    stream = ffprobe(result)["streams"][0]
    assert any(side.get("rotation") == -90 for side in stream.get("side_data_list", []))
    times = source_frame_times(source)
    expected = [time for time in times if 0.55 <= time < 3.3]
    got = video_times(result)
    assert [round(t - got[0], 3) for t in got] == [round(t - expected[0], 3) for t in expected]
    assert_exact(source, result, 0.55, 3.3)


@pytest.mark.django_db(transaction=True)
def test_a_smart_trims_poster_is_made_by_its_own_ffmpeg_run(api, tmp_path, monkeypatch):
    # given a clip, and no poster grab to be had once it is uploaded
    vp9 = ["-c:v", "libvpx-vp9", "-g", str(GOP), "-b:v", "400k"]
    source = make_source(tmp_path / "poster.webm", vp9, "libopus")
    video = upload(api, source).json()[0]
    monkeypatch.setattr(thumbnails, "poster_grab", lambda **_: pytest.fail("a poster grab"))

    # when it is trimmed smartly
    job_id = trim(api, video["id"], *CUT)
    execute(api)

    # then its result has a poster all the same, the size of the ones grabbed
    job = Job.objects.get(pk=job_id)
    assert job.outcome["trim_method"] == "smart", job.error
    poster = Path(job.output_video.thumbnail.path)
    assert ffprobe(poster)["streams"][0]["width"] == 320


@pytest.mark.django_db(transaction=True)
def test_a_smart_trim_reads_the_stream_facts_its_upload_kept(api, tmp_path, monkeypatch):
    # given an uploaded clip, whose probe kept what a cut's parts must share
    source = make_source(tmp_path / "facts.mp4", X264, "aac")
    video = upload(api, source).json()[0]
    kept = Video.objects.get(pk=video["id"]).stream_facts
    asked = cutscan.probe_stream(source, "mov")
    assert cutscan.source_stream(kept) == asked
    ffprobes = []
    popen = subprocess.Popen

    def recording(args, *rest, **options):
        if any(arg.endswith("ffprobe") for arg in args):  # (started through media.confined)
            ffprobes.append(args[-1])
        return popen(args, *rest, **options)

    monkeypatch.setattr(subprocess, "Popen", recording)

    # when it is trimmed smartly
    job_id = trim(api, video["id"], *CUT)
    execute(api)

    # then no ffprobe ran (the result is read in-process too), and the cut is exact
    job = Job.objects.get(pk=job_id)
    assert job.outcome["trim_method"] == "smart", job.error
    result = output_path(job_id, Path(job.output_video.file.storage.location))
    assert ffprobes == []
    assert_exact(source, result, CUT[0] / 1000, CUT[1] / 1000)


@pytest.mark.django_db(transaction=True)
def test_a_video_probed_before_facts_were_kept_is_still_cut_smartly(api, tmp_path):
    # given a clip stored before its probe kept its stream facts
    source = make_source(tmp_path / "older.mp4", X264, "aac")
    video = upload(api, source).json()[0]
    Video.objects.filter(pk=video["id"]).update(stream_facts={})

    # when it is trimmed smartly, then ffprobe is asked, and the cut is exact
    job_id = trim(api, video["id"], *CUT)
    execute(api)
    job = Job.objects.get(pk=job_id)
    assert job.outcome["trim_method"] == "smart", job.error
    result = output_path(job_id, Path(job.output_video.file.storage.location))
    assert_exact(source, result, CUT[0] / 1000, CUT[1] / 1000)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_keyframe_mode_copies_from_the_keyframe_before_the_start(api, tmp_path):
    source = make_source(tmp_path / "copy.mp4", X264, "aac")

    job, result = run_trim(api, source, *CUT, mode="keyframe")

    # the copy starts at the keyframe at 0.4 s, which the params and trim_info say, and
    # ends near 3.3 s (a copy cuts where packets allow, not exactly)
    assert (job.outcome["trim_method"], job.outcome["real_start"]) == ("keyframe", 400)
    assert job.output_video.trim_info["real_start"] == 400
    keyframe = round(0.4 * RATE)
    assert difference(gray_frame(result, 0), gray_frame(source, keyframe)) < 1
    assert abs(frame_count(result) - (round(3.3 * RATE) - keyframe)) <= 3
    assert strict_decode_errors(result) == ""


@pytest.mark.django_db(transaction=True)
def test_reencode_mode_and_interlaced_sources_reencode_everything(api, tmp_path):
    interlaced = [*X264, "-flags", "+ildct+ilme", "-x264-params", "tff=1"]
    source = make_media(tmp_path / "tv.mp4", duration=2, extra=interlaced)
    assert ffprobe(source)["streams"][0]["field_order"] == "tt"
    asked, _ = run_trim(api, source, 500, 1500, mode="reencode")
    assert (asked.outcome["trim_method"], "fallback_reason" in asked.outcome) == ("reencode", False)
    fallen, _ = run_trim(api, source, 500, 1500)
    assert fallen.outcome["trim_method"] == "reencode"
    assert fallen.output_video.trim_info["fallback_reason"] == (
        "The video is interlaced, so the whole range was re-encoded."
    )


@pytest.mark.django_db(transaction=True)
def test_a_failed_smart_step_falls_back_with_a_sentence_and_logs_ffmpeg(
    api, tmp_path, monkeypatch, caplog
):
    # given an encoder that refuses the options a smart cut gives its re-encoded ends
    def refused_options(stream):
        return {**encoder_options(stream), "colorspace": "no-such-colorspace"}

    monkeypatch.setattr(smartcut, "encoder_options", refused_options)
    source = make_source(tmp_path / "settings.mp4", X264, "aac")
    # when it is trimmed smartly
    with caplog.at_level(logging.INFO, logger="jobs.kinds.trim"):
        job, result = run_trim(api, source, *CUT)
    # then the whole range is re-encoded, and the outcome says why in a sentence
    assert job.outcome["trim_method"] == "reencode"
    assert job.outcome["fallback_reason"] == (
        "This video's encoder settings could not be matched, so the whole range was re-encoded."
    )
    assert job.output_video.trim_info["fallback_reason"] == job.outcome["fallback_reason"]
    # while FFmpeg's own words are in the log only
    assert "no-such-colorspace" in caplog.text
    assert_exact(source, result, 0.55, 3.3)


@pytest.mark.django_db
def test_an_unknown_mode_is_refused_before_any_work(api, uploaded):
    response = api.post(
        "/video/process/trim",
        {
            "request_code": "m",
            "video_id": uploaded["id"],
            "trim_start": "0",
            "trim_end": "500",
            "mode": "fast",
        },
        format="json",
    )
    assert response.status_code == 400
    assert "mode" in response.json()["detail"]
    assert not Job.objects.exists()
