"""Benchmark: our smart trim side by side with the peer tool `smartcut` (PyPI, in its own
environment) on the same files and spans: the bench trims and the codec cases of issue
20. For each: seconds, frames against the frames the source shows in the span, the first
and last frame by content, how many of the result's picture packets are the source's
byte for byte, and its bytes against the source's for the span. Ours says what it did
(smart, or the full re-encode and why).

    .venv/bin/python bench/smartcut_peer.py   (or: bench/run.py --only peer)

Makes its sources in bench/work/peer/ and `smartcut` in bench/work/peer-venv/ (pip, the
version PEER_VERSION); prints a Markdown table to paste into bench/RESULTS.md.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import av

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # noqa: E402  (bench/run.py: its work folder, sources and Django set-up)
import smartcut_sizes  # noqa: E402  (the bench trims' sources, sizes and packet digests)

PEER_VERSION = "1.7"
# Seconds the peer may take on one case: it re-encodes AV1 with a slow encoder (642 s
# for 4.3 s of 720p here), which would hold up the whole run.
PEER_TIMEOUT = 180
PEER_VENV = run.WORK / "peer-venv"
SOURCES = run.WORK / "peer"
GRAY = (64, 36)  # the size frames are compared at
SAME_FRAME = 3.0  # mean absolute difference (of 255) below which two frames are the same
X264 = ["-c:v", "libx264", "-preset", "veryfast", "-g", "30"]
MPEG2 = smartcut_sizes.MPEG2


@dataclass(frozen=True)
class Case:
    name: str
    file: str  # in SOURCES (made by `encode`), or run.WORK for the bench trims'
    start: float
    end: float | None  # None: to the end of the file
    encode: list[str] | None = None  # FFmpeg's output options that make the source
    seconds: float = 8
    size: str = "1280x720"
    rate: int = 30


CASES = [
    Case("bench: 10 s of a minute of 1080p H.264", "minute.mp4", 25.1, 35.1),
    Case("bench: 10 s of 20 s 720p VP9", "vp9.webm", 5.1, 15.1),
    Case("bench: 2 s of a 3 s MPEG-2 clip", "clip3.mpeg", 0.5, 2.5),
    Case("H.264 High 10, MP4", "high10.mp4", 2.3, 6.6, [*X264, "-pix_fmt", "yuv420p10le"]),
    Case("H.264 High 4:2:2, MKV", "high422.mkv", 2.3, 6.6, [*X264, "-pix_fmt", "yuv422p10le"]),
    Case(
        "HEVC 4:2:2 10-bit 60 fps, MKV",
        "hevc422.mkv",
        2.3,
        6.6,
        ["-pix_fmt", "yuv422p10le", "-c:v", "libx265", "-preset", "ultrafast", "-x265-params"]
        + ["keyint=60:min-keyint=60:scenecut=0:open-gop=0:log-level=error"],
        rate=60,
    ),
    Case("ProRes, MOV", "prores.mov", 2.3, 6.6, ["-c:v", "prores_ks", "-profile:v", "0"]),
    Case(
        "MJPEG, AVI",
        "mjpeg.avi",
        2.3,
        6.6,
        ["-c:v", "mjpeg", "-pix_fmt", "yuvj420p", "-q:v", "4", "-c:a", "libmp3lame"],
    ),
    Case("H.264, TS", "h264.ts", 2.3, 6.6, X264),
    Case("H.264, M2TS", "h264.m2ts", 2.3, 6.6, [*X264, "-f", "mpegts", "-mpegts_m2ts_mode", "1"]),
    Case("MPEG-2, TS", "mpeg2.ts", 2.3, 6.6, [*MPEG2, "-c:a", "mp2"]),
    Case(
        "MPEG-2, M2TS",
        "mpeg2.m2ts",
        2.3,
        6.6,
        [*MPEG2, "-c:a", "mp2", "-f", "mpegts", "-mpegts_m2ts_mode", "1"],
    ),
    Case("WMV2, ASF", "wmv2.wmv", 2.3, 6.6, ["-c:v", "wmv2", "-g", "30", "-b:v", "2M"]),
    Case("MS-MPEG-4, ASF", "msmpeg4.wmv", 2.3, 6.6, ["-c:v", "msmpeg4", "-g", "30", "-b:v", "2M"]),
    Case("AV1, MP4", "av1.mp4", 2.3, 6.6, ["-c:v", "libsvtav1", "-preset", "12", "-g", "30"]),
    Case(
        "AV1, MKV",
        "av1.mkv",
        2.3,
        6.6,
        ["-c:v", "libsvtav1", "-preset", "12", "-g", "30", "-c:a", "libopus"],
    ),
    Case("MP3 sound, MOV", "mp3.mov", 2.3, 6.6, [*X264, "-c:a", "libmp3lame"]),
    Case("Vorbis sound, MKV", "vorbis.mkv", 2.3, 6.6, [*X264, "-c:a", "libvorbis"]),
    Case("cut to the end of the file, MP4", "end.mp4", 2.3, None, X264),
    Case(
        "the last 10 s of 10 minutes, MP4",
        "ten.mp4",
        590.1,
        600.0,
        X264,
        seconds=600,
        size="640x360",
    ),
    Case(
        "vertical, rotated, MP4",
        "rotated.mp4",
        2.3,
        6.6,
        [*X264, "-metadata:s:v:0", "rotate=90"],
    ),
    Case(
        "interlaced H.264, MP4",
        "interlaced.mp4",
        2.3,
        6.6,
        [*X264, "-flags", "+ildct+ilme", "-x264-params", "tff=1"],
    ),
]


def peer() -> Path:
    """`smartcut` in its own environment (not the project's requirements)."""
    command = PEER_VENV / "bin" / "smartcut"
    if not command.exists():
        run.sh(sys.executable, "-m", "venv", str(PEER_VENV))
        run.sh(str(PEER_VENV / "bin" / "pip"), "install", "--quiet", f"smartcut=={PEER_VERSION}")
    return command


def make_sources() -> None:
    smartcut_sizes.make_sources()
    SOURCES.mkdir(parents=True, exist_ok=True)
    for case in CASES:
        path = SOURCES / case.file
        if case.encode is None or path.exists():
            continue
        seconds = min(case.seconds, 10)  # a long source is a short one looped, by copy
        made = path if seconds == case.seconds else path.with_name(f"loop-{path.name}")
        run.sh(
            *("ffmpeg", "-v", "error", "-y", "-f", "lavfi"),
            *("-i", f"testsrc2=s={case.size}:r={case.rate}:d={seconds}", "-f", "lavfi"),
            *("-i", f"sine=f=440:r=48000:d={seconds}", "-c:a", default_sound(path)),
            *case.encode,
            str(made),
        )
        if made != path:
            loops = round(case.seconds / seconds) - 1
            run.sh(
                *("ffmpeg", "-v", "error", "-y", "-stream_loop", str(loops), "-i", str(made)),
                *("-c", "copy", str(path)),
            )
            made.unlink()


def default_sound(path: Path) -> str:
    return {".wmv": "wmav2", ".ts": "aac", ".m2ts": "aac"}.get(path.suffix, "aac")


def source_of(case: Case) -> Path:
    return SOURCES / case.file if case.encode is not None else run.WORK / case.file


def video_times(path: Path) -> list[float]:
    """When each picture is shown, from the file's start (demuxing only)."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        start = (container.start_time or 0) / av.time_base
        time_base = video.time_base
        stamps = [
            packet.pts if packet.pts is not None else packet.dts
            for packet in container.demux(video)
            if packet.size
        ]
    return sorted(float(stamp * time_base) - start for stamp in stamps if stamp is not None)


def gray(frame: av.VideoFrame) -> bytes:
    small = frame.reformat(width=GRAY[0], height=GRAY[1], format="gray")
    plane = small.planes[0]
    data = bytes(plane)
    return b"".join(
        data[row * plane.line_size : row * plane.line_size + GRAY[0]] for row in range(GRAY[1])
    )


def difference(a: bytes, b: bytes) -> float:
    return sum(abs(x - y) for x, y in zip(a, b, strict=True)) / len(a)


def decoded_ends(path: Path) -> tuple[int, bytes | None, bytes | None]:
    """How many pictures a file decodes to, its first and its last (small, gray)."""
    count, first, last = 0, None, None
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            count += 1
            last = frame
            if first is None:
                first = gray(frame)
    return count, first, gray(last) if last is not None else None


def source_frames_near(path: Path, time_: float) -> dict[float, bytes]:
    """The source's pictures shown within a few frames of `time_` (file start 0), gray."""
    found = {}
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        start = (container.start_time or 0) / av.time_base
        container.seek(int(max(time_ - 3, 0) * av.time_base))
        for frame in container.decode(stream):
            if frame.pts is None:
                continue
            shown = float(frame.pts * stream.time_base) - start
            if shown > time_ + 0.2:
                break
            if shown >= time_ - 0.2:
                found[round(shown, 4)] = gray(frame)
    return found


def frame_check(source: Path, expected: list[float], result: Path) -> tuple[str, str]:
    """(frames got / expected, first and last frame): '=' the expected picture, '+n'/'-n'
    the source's picture n frames later/earlier, '?' none near it."""
    count, first, last = decoded_ends(result)
    marks = []
    for picture, wanted in ((first, expected[0]), (last, expected[-1])):
        near = source_frames_near(source, wanted)
        if picture is None or not near:
            marks.append("?")
            continue
        times = sorted(near)
        best = min(times, key=lambda shown: difference(picture, near[shown]))
        if difference(picture, near[best]) > SAME_FRAME:
            marks.append("?")
            continue
        wanted_index = min(range(len(times)), key=lambda i: abs(times[i] - wanted))
        offset = times.index(best) - wanted_index
        marks.append("=" if offset == 0 else f"{offset:+d}")
    return f"{count} / {len(expected)}", "/".join(marks)


@dataclass
class Row:
    case: str
    tool: str
    seconds: float
    method: str
    frames: str = ""
    ends: str = ""
    identical: str = ""
    size: str = ""


def measure(case: Case, tool: str, seconds: float, method: str, result: Path | None) -> Row:
    source = source_of(case)
    if result is None or not result.exists():
        return Row(case.name, tool, seconds, method)
    end = case.end if case.end is not None else float("inf")
    expected = [shown for shown in video_times(source) if case.start <= shown < end]
    frames, ends = frame_check(source, expected, result)
    source_digests = set(smartcut_sizes.video_digests(source))
    ours = smartcut_sizes.video_digests(result)
    identical = sum(digest in source_digests for digest in ours)
    span = smartcut_sizes.span_bytes(source, case.start, min(end, 10**9))
    return Row(
        case.name,
        tool,
        seconds,
        method,
        frames,
        ends,
        f"{identical} of {len(ours)}",
        f"{smartcut_sizes.span_bytes(result) / span:.2f}",
    )


def run_peer(command: Path, case: Case, output: Path) -> tuple[float, str, Path | None]:
    end = f"{case.end:g}" if case.end is not None else "end"
    started = time.perf_counter()
    try:
        done = subprocess.run(
            [str(command), str(source_of(case)), str(output), "--keep", f"{case.start:g},{end}"],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=PEER_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        return PEER_TIMEOUT, f"stopped after {PEER_TIMEOUT} s", None
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        why = (done.stderr.strip().splitlines() or ["no message"])[-1][:80]
        return seconds, f"failed: {why}", None
    return seconds, "smart cut", output


def main() -> None:
    run.WORK.mkdir(parents=True, exist_ok=True)
    make_sources()
    command = peer()
    (run.WORK / "bench.sqlite3").unlink(missing_ok=True)
    media_root = Path(tempfile.mkdtemp(prefix="media-", dir=run.WORK))
    outputs = Path(tempfile.mkdtemp(prefix="peer-out-", dir=run.WORK))
    rows, load_before = [], os.getloadavg()[0]
    started = time.strftime("%Y-%m-%d %H:%M")
    try:
        run.setup_django(media_root)
        from videos.services import video_import

        def ours(case: Case) -> tuple[float, str, Path | None]:
            video = video_import(path=source_of(case))
            end = case.end if case.end is not None else video.duration
            began = time.perf_counter()
            job = run.trim_through_service(video, case.start, end)
            seconds = time.perf_counter() - began
            if job.status != "succeeded":
                return seconds, f"failed: {job.error}", None
            method = job.outcome.get("trim_method", "")
            if reason := job.outcome.get("fallback_reason"):
                method += f" ({reason.split(',')[0].split(' so ')[0].rstrip('.')})"
            return seconds, method, Path(job.output_video.file.path)

        for case in CASES:  # ours first, then the peer's, on a machine in the same state
            rows.append(measure(case, "videoproc", *ours(case)))
            output = outputs / f"{case.file}"
            rows.append(measure(case, f"smartcut {PEER_VERSION}", *run_peer(command, case, output)))
    finally:
        shutil.rmtree(media_root, ignore_errors=True)
        shutil.rmtree(outputs, ignore_errors=True)
    print(f"Date: {started}–{time.strftime('%H:%M')}, commit {smartcut_sizes.commit()}  ")
    print(f"Machine: {run.machine()}  ")
    print(f"Load average (1 min): {load_before:.1f} before, {os.getloadavg()[0]:.1f} at the end\n")
    print(
        "| case | tool | seconds | what ran | frames / expected | first/last frame | "
        "picture packets byte-identical | bytes / source's span |"
    )
    print("| --- | --- | ---: | --- | ---: | :---: | ---: | ---: |")
    for row in rows:
        print(
            f"| {row.case} | {row.tool} | {row.seconds:.2f} | {row.method} | {row.frames} | "
            f"{row.ends} | {row.identical} | {row.size} |"
        )


if __name__ == "__main__":
    main()
