"""Benchmark: what a smart trim costs and weighs, through the service, against FFmpeg's
accurate re-encode of the same span: seconds (median of three, ours and FFmpeg's taken
in turn), the first trim of a kind after a process start (the capabilities' answers
forgotten in memory, kept on disk) and the very first (nothing known), the result's bytes
against the source's bytes for the same span (picture and sound packets), and how many
of the copied packets are the source's byte for byte.

    .venv/bin/python bench/smartcut_sizes.py

Uses the minute of 1080p30 H.264 + AAC that bench/run.py makes (a keyframe every 2 s),
20 s of 720p VP9 and a 3 s 720p MPEG-2 clip, in bench/work/; prints a Markdown table to
paste into bench/RESULTS.md.
"""

import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # noqa: E402  (bench/run.py: its work folder, sources and Django set-up)

# (name, source, start s, end s)
TRIMS = [
    ("trim 10 s of 60 s", "minute.mp4", 25.1, 35.1),
    ("trim 50 s of 60 s", "minute.mp4", 5.1, 55.1),
    ("VP9: trim 10 s of 20 s 720p", "vp9.webm", 5.1, 15.1),
    ("3 s clip: trim 2 s of 3 s 720p MPEG-2", "clip3.mpeg", 0.5, 2.5),
]
# FFmpeg's accurate re-encode of the span, per source: H.264 as bench/run.py does it;
# VP9 at the settings of our heads and tails (libvpx realtime, cpu-used 8, at the
# source's 2 Mb/s), the quick full re-encode they must beat.
PLAIN = {
    "minute.mp4": ["-c:v", "libx264", "-crf", "18", "-preset", "veryfast", "-c:a", "aac"],
    "vp9.webm": ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8"]
    + ["-row-mt", "1", "-b:v", "2M", "-c:a", "libopus"],
    "clip3.mpeg": ["-c:v", "mpeg2video", "-q:v", "2", "-bf", "2", "-c:a", "mp2"],
}
MPEG2 = ["-c:v", "mpeg2video", "-q:v", "3", "-g", "15", "-bf", "2"]


def make_sources() -> None:
    """The minute of 1080p H.264 bench/run.py makes, 20 s of 720p VP9 + Opus (2 Mb/s, a
    keyframe every 2 s) and 3 s of 720p25 MPEG-2 + MP2 (a GOP of 15, B-frames)."""
    minute, vp9, clip = run.WORK / "minute.mp4", run.WORK / "vp9.webm", run.WORK / "clip3.mpeg"
    if not minute.exists():
        run.sh(
            *("ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=1920x1080:r=30:d=60"),
            *("-f", "lavfi", "-i", "sine=f=440:r=48000:d=60", "-c:v", "libx264"),
            *("-preset", "veryfast", "-pix_fmt", "yuv420p", "-g", "60"),
            *("-c:a", "aac", "-b:a", "128k", str(minute)),
        )
    if not vp9.exists():
        run.sh(
            *("ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=1280x720:r=30:d=20"),
            *("-f", "lavfi", "-i", "sine=f=440:r=48000:d=20", "-c:v", "libvpx-vp9"),
            *("-deadline", "realtime", "-cpu-used", "8", "-row-mt", "1", "-b:v", "2M"),
            *("-g", "60", "-pix_fmt", "yuv420p", "-c:a", "libopus", str(vp9)),
        )
    if not clip.exists():
        run.sh(
            *("ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=1280x720:r=25:d=3"),
            *("-f", "lavfi", "-i", "sine=f=440:r=48000:d=3", *MPEG2, "-pix_fmt", "yuv420p"),
            *("-c:a", "mp2", "-b:a", "192k", str(clip)),
        )


def commit() -> str:
    """The checkout's commit, and whether files differ from it."""
    head = subprocess.run(
        ["git", "-C", str(run.ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    changed = subprocess.run(
        ["git", "-C", str(run.ROOT), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    return f"{head} (with uncommitted changes)" if changed else head


def span_bytes(path: Path, start: float | None = None, end: float | None = None) -> int:
    """The bytes of every packet shown from `start` to before `end` (all of them: None)."""
    total = 0
    with av.open(str(path)) as container:
        for packet in container.demux():
            if not packet.size or packet.pts is None:
                continue
            time_ = float(packet.pts * packet.time_base)
            if start is None or start - 1e-6 <= time_ < end - 1e-6:
                total += packet.size
    return total


def video_digests(path: Path) -> list[str]:
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        return [hashlib.md5(bytes(p)).hexdigest() for p in container.demux(video) if p.size]


def main() -> None:
    run.WORK.mkdir(parents=True, exist_ok=True)
    make_sources()
    (run.WORK / "bench.sqlite3").unlink(missing_ok=True)
    media_root = Path(tempfile.mkdtemp(prefix="media-", dir=run.WORK))
    rows, load_before = [], os.getloadavg()[0]
    try:
        run.setup_django(media_root)
        from videos.engine import capabilities
        from videos.services import video_import

        videos = {name: video_import(path=run.WORK / name) for name in PLAIN}

        def trim(source: str, start: float, end: float):
            return run.trim_through_service(videos[source], start, end)

        def timed_trim(source: str, start: float, end: float):
            started = time.perf_counter()
            job = trim(source, start, end)
            return time.perf_counter() - started, job

        def forget_in_memory():
            """What a new process knows of FFmpeg: only what is kept on disk."""
            for remembered in (capabilities.encoders, capabilities.encoder_caps):
                remembered.cache_clear()
            capabilities.trial_mux.cache_clear()

        trimmed = set()
        for name, source_name, start, end in TRIMS:
            source = run.WORK / source_name
            first = None
            if source_name not in trimmed:  # nothing known of FFmpeg yet for its kind
                trimmed.add(source_name)
                first = timed_trim(source_name, start, end)[0]
            forget_in_memory()
            after_restart = timed_trim(source_name, start, end)[0]
            plain = run.WORK / f"plain-accurate{source.suffix}"
            seconds, accurate = [], []
            for _ in range(3):  # in turn, so that both see the machine alike
                took, job = timed_trim(source_name, start, end)
                seconds.append(took)
                accurate.append(
                    run.timed(
                        lambda start=start, end=end, plain=plain, source=source: run.sh(
                            *("ffmpeg", "-v", "error", "-y", "-ss", str(start), "-i", str(source)),
                            *("-t", str(end - start), *PLAIN[source.name], str(plain)),
                        )
                    )
                )
            result = Path(job.output_video.file.path)
            ours = video_digests(result)
            source_digests = set(video_digests(source))
            rows.append(
                (
                    name,
                    statistics.median(seconds),
                    after_restart,
                    first,
                    job.outcome.get("trim_method"),
                    statistics.median(accurate),
                    span_bytes(result) / span_bytes(source, start, end),
                    sum(digest in source_digests for digest in ours),
                    len(ours),
                )
            )
    finally:
        shutil.rmtree(media_root, ignore_errors=True)
    print(f"Date: {time.strftime('%Y-%m-%d %H:%M')}, commit {commit()}  ")
    print(f"Machine: {run.machine()}  ")
    print(f"Load average (1 min): {load_before:.1f} before, {os.getloadavg()[0]:.1f} at the end\n")
    print(
        "| trim | videoproc (s) | first after a start (s) | very first (s) | method | "
        "FFmpeg accurate re-encode (s) | ratio | ratio, first after a start | "
        "bytes / source's span | copied packets byte-identical |"
    )
    print("| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |")
    for name, seconds, restart, first, method, accurate, size, identical, packets in rows:
        very_first = f"{first:.2f}" if first is not None else ""
        print(
            f"| {name} | {seconds:.2f} | {restart:.2f} | {very_first} | {method} | "
            f"{accurate:.2f} | {seconds / accurate:.2f} | {restart / accurate:.2f} | "
            f"{size:.3f} | {identical} of {packets} |"
        )


if __name__ == "__main__":
    main()
