"""What the chunked-encode tests make and measure: a long, small source whose every
frame differs and whose sound has a beep at a known time, the single encode to compare
with, and the checks on an output (frames by content, timestamps, strict decode, seam
quality, sound in sync)."""

import re
import subprocess
from fractions import Fraction
from pathlib import Path

from videos.engine import pipelines
from videos.engine.media import probe, run_ffmpeg

BEEP_AT = 100.0  # seconds: the source's sound is silent but for a beep here
GREY = (80, 60)  # the size frames are compared at


def make_source(
    path: Path,
    *,
    duration: float,
    beep_at: float = BEEP_AT,
    size: str = "320x240",
    rate: int = 25,
    keyframe_every: int = 50,
) -> Path:
    """`size` at `rate` fps, a keyframe every `keyframe_every` frames (x264 ultrafast:
    quick to make), and silence with a 0.2 s beep at `beep_at` (none past the end)."""
    beep = f"if(between(t,{beep_at},{beep_at + 0.2}),0.5*sin(2*PI*1000*t),0)"
    subprocess.run(
        [
            "ffmpeg",
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=s={size}:r={rate}:d={duration}",
            "-f",
            "lavfi",
            "-i",
            f"aevalsrc='{beep}':s=44100:d={duration}",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            str(keyframe_every),
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            str(path),
        ],
        check=True,
    )
    return path


def single_encode(
    source: Path,
    output: Path,
    *,
    resolution: str,
    frame_rate: float,
    video_codec: str = "libx264",
    audio_codec: str = "aac",
) -> Path:
    """The encode's output made whole, by the engine's own single-encode arguments, in
    the container `output` is named for."""
    width, height = map(int, resolution.split(":"))
    plan = pipelines.OutputPlan(
        extension=output.suffix.removeprefix("."),
        video_encoder=video_codec,
        pix_fmt="yuv420p",
        width=width,
        height=height,
        frame_rate=pipelines.frame_rate_fraction(frame_rate),
        audio_encoder=audio_codec,
        sample_rate=pipelines.pick_sample_rate(audio_codec, 44100),
        channels=None,
        high_quality=False,
    )
    run_ffmpeg(pipelines.encode_args(source=source, demuxer="mov", plan=plan, output=output))
    return output


def queue_encode(api, video_id: int, *, code: str = "chunks", **target) -> int:
    """An encode of the video to `target` (size, rate, codecs, container) queued under
    the request code: its job's id."""
    response = api.post(
        "/video/process/encoding",
        {"request_code": code, "video_id": video_id, **target},
        format="json",
    )
    assert response.status_code == 200, response.content
    return response.json()["job_id"]


def grey_frames(path: Path) -> list[bytes]:
    """Every frame, small and grey, in order."""
    width, height = GREY
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path)]
        + ["-vf", f"scale={width}:{height},format=gray", "-f", "rawvideo", "-"],
        capture_output=True,
        check=True,
    ).stdout
    size = width * height
    return [raw[start : start + size] for start in range(0, len(raw), size)]


def difference(one: bytes, other: bytes) -> float:
    return sum(abs(a - b) for a, b in zip(one, other, strict=True)) / len(one)


def same_frame(frames: list[bytes], reference: list[bytes], index: int) -> bool:
    """Whether frame `index` shows the reference's frame `index`: close to it, and nearer
    to it than to its neighbours that show another source frame (a rate change repeats
    some)."""
    here = difference(frames[index], reference[index])
    neighbours = [
        difference(frames[index], reference[other])
        for other in (index - 1, index + 1)
        if 0 <= other < len(reference) and difference(reference[index], reference[other]) > 1
    ]
    return here < 1.5 and all(here < near for near in neighbours)


def video_packet_times(path: Path) -> list[int]:
    """The picture's presentation timestamps, in its time base, in order."""
    lines = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0"]
        + ["-show_entries", "packet=pts", "-of", "csv=p=0", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return sorted(int(line) for line in lines if line.strip().lstrip("-").isdigit())


def strict_decode_errors(path: Path) -> str:
    completed = subprocess.run(
        ["ffmpeg", "-v", "error", "-xerror", "-i", str(path), "-f", "null", "-"],
        capture_output=True,
        text=True,
    )
    return completed.stderr + ("" if completed.returncode == 0 else f"exit {completed.returncode}")


def psnr_per_frame(path: Path, source: Path, *, resolution: str, frame_rate: float) -> list[float]:
    """Each output frame's PSNR (Y) against the source taken through the same size and
    rate (FFmpeg's psnr filter, its stats file)."""
    width, height = resolution.split(":")
    stats = path.with_suffix(".psnr.log")
    reference = f"[1:v]scale={width}:{height},setsar=1,fps={frame_rate}[ref]"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-i", str(source), "-lavfi"]
        + [f"{reference};[0:v][ref]psnr=stats_file={stats}", "-f", "null", "-"],
        check=True,
    )
    values = re.findall(r"psnr_y:(\S+)", stats.read_text())
    return [float(value) if value != "inf" else 100.0 for value in values]


def beep_time(path: Path) -> float:
    """When the beep starts in a file's sound: the end of the first silence."""
    stderr = subprocess.run(
        ["ffmpeg", "-hide_banner", "-i", str(path), "-map", "0:a"]
        + ["-af", "silencedetect=n=-30dB:d=0.05", "-f", "null", "-"],
        capture_output=True,
        text=True,
    ).stderr
    return float(re.search(r"silence_end: (\S+)", stderr).group(1))


def stream_ends(path: Path) -> tuple[float, float]:
    """When the picture and the sound end, in seconds: their last packets' ends (what a
    Matroska file says of its streams' durations, ffprobe does not read)."""
    ends = []
    for stream in ("v:0", "a:0"):
        lines = subprocess.run(
            ["ffprobe", "-v", "error", "-select_streams", stream]
            + ["-show_entries", "packet=pts_time,duration_time", "-of", "csv=p=0", str(path)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        pairs = [line.split(",")[:2] for line in lines]
        ends.append(
            max(float(pts) + float(length) for pts, length in pairs if "N/A" not in (pts, length))
        )
    return ends[0], ends[1]


def assert_frames_like(
    output: Path, reference: Path, chunks: list[dict], *, first: int = 0
) -> list[bytes]:
    """`output`, made with `chunks` (frames counted from its frame `first`), has the
    frames of `reference`, made whole: the count, each chunk's first and last frame by
    content; its timestamps are the reference's (one frame apart all through, as the
    container's ticks round them) and it decodes strictly without a word. Its frames,
    grey."""
    frames, expected = grey_frames(output), grey_frames(reference)
    assert len(frames) == len(expected)
    assert chunks[0]["first_frame"] == 0
    for chunk, following in zip(chunks, chunks[1:], strict=False):
        assert chunk["end_frame"] == following["first_frame"]
    for chunk in chunks:
        for index in (first + chunk["first_frame"], first + chunk["end_frame"] - 1):
            assert same_frame(frames, expected, index), (chunk, index)
    # as the reference's from its first (which a sound encoder's priming may move)
    times, single_times = video_packet_times(output), video_packet_times(reference)
    assert [t - times[0] for t in times] == [t - single_times[0] for t in single_times]
    steps = {later - earlier for earlier, later in zip(times, times[1:], strict=False)}
    assert max(steps) - min(steps) <= 1, steps  # Matroska's milliseconds: 33 or 34 at 30 fps
    assert strict_decode_errors(output) == ""
    return frames


def assert_like_single_encode(
    output: Path, single: Path, chunks: list[dict], *, source: Path, resolution: str, rate: float
) -> None:
    """The chunked output is the single encode's video: frames, timestamps, decode,
    seams and sound (the issue's list)."""
    frames = assert_frames_like(output, single, chunks)
    assert chunks[-1]["end_frame"] == len(frames)
    # no seam: the frames either side of each join as good as the frames around them
    quality = psnr_per_frame(output, source, resolution=resolution, frame_rate=rate)
    assert len(quality) == len(frames)
    for chunk in chunks[1:]:
        seam = chunk["first_frame"]
        around = quality[seam - 25 : seam - 2] + quality[seam + 2 : seam + 25]
        for index in (seam - 1, seam):
            assert quality[index] >= min(around) - 0.5, (seam, quality[index], min(around))
    # sound in sync: as long as the picture, the beep where it was
    video_seconds, audio_seconds = stream_ends(output)
    assert abs(video_seconds - audio_seconds) < 0.1
    assert abs(video_seconds - float(len(frames) / Fraction(rate))) < 0.05
    assert abs(beep_time(output) - beep_time(source)) < 0.01
    assert probe(output).duration > 0


# A normalised join's or edit's long re-encoded part (test_chunks_joins.py and one case
# on Celery workers): a short silent 320x180@25 clip the parts are made like, and a 10 s
# one unlike it (256x144@30, a keyframe every second) with a beep at 5 s.
FIRST_FRAMES = 50  # the short clip's: 2 s at 25 fps


def make_unlike_sources(folder: Path) -> tuple[Path, Path]:
    first = make_source(folder / "first.mp4", duration=2, beep_at=99, size="320x180")
    long = make_source(
        folder / "long.mp4", duration=10, beep_at=5, size="256x144", rate=30, keyframe_every=30
    )
    return first, long


def edit_segments(ids: list[int]) -> list[dict]:
    """A second of the short clip, then 1.3 s to 9.7 s of the long one: a span starting
    between two of its frames, long enough for chunks of 2 s."""
    return [
        {"video_id": ids[0], "start": "0", "end": "1s"},
        {"video_id": ids[1], "start": "1300", "end": "9700"},
    ]


def assert_chunked_like_whole(
    state: dict, chunked: Path, whole: Path, *, first: int, media_root: Path
) -> None:
    """A job whose long part was made in chunks (its record `state`) made the video the
    job made whole does, and left no stored chunk."""
    assert state["status"] == "succeeded" and state["progress"] == 100
    listed = state["chunks"]
    assert len(listed) >= 4
    assert all(c["status"] == "succeeded" and c["attempts"] == 1 for c in listed)
    assert_frames_like(chunked, whole, listed, first=first)
    # the sound as long as the picture, the beep where the part made whole has it
    video_seconds, audio_seconds = stream_ends(chunked)
    assert abs(video_seconds - audio_seconds) < 0.1
    assert abs(video_seconds - stream_ends(whole)[0]) < 0.01
    assert abs(beep_time(chunked) - beep_time(whole)) < 0.01
    assert list((media_root / "chunks").rglob("*.*")) == []
