"""Benchmark: our trim / concat / encode against plain FFmpeg on the same files, the
server's peak memory while it receives a 1 GB upload, and the page's first paint with
500 videos (bench/first_paint.py).

    make bench   (or: .venv/bin/python bench/run.py [--only trim|timeline|page|tus|chunks|peer])

The trims (10 s and 50 s of a minute, 4 minutes of five; 1080p30, a keyframe every 2 s)
run smart, as the service does by default, against FFmpeg's accurate re-encode, the
issue's target (two GOPs re-encoded plus the keyframe copy of the span) and the keyframe
stream copy.

Works in bench/work/ (ignored by git) with its own database and media root; prints a
Markdown table to paste into bench/RESULTS.md.
"""

import argparse
import http.client
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / "work"
UPLOAD_BYTES = 1024**3


def sh(*args: str) -> None:
    subprocess.run(args, check=True, stdin=subprocess.DEVNULL)


def timed(action) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def make_sources() -> tuple[Path, Path, Path]:
    """A minute of 1080p30 H.264 + AAC with a keyframe every 2 s, a second clip of the
    same kind to join, and five minutes of it."""
    long_clip, short_clip, five = WORK / "minute.mp4", WORK / "second.mp4", WORK / "five.mp4"
    for path, seconds in ((long_clip, 60), (short_clip, 20), (five, 300)):
        if not path.exists():
            sh(
                "ffmpeg",
                "-v",
                "error",
                "-y",
                "-f",
                "lavfi",
                "-i",
                f"testsrc2=s=1920x1080:r=30:d={seconds}",
                "-f",
                "lavfi",
                "-i",
                f"sine=f=440:r=48000:d={seconds}",
                "-c:v",
                "libx264",
                "-preset",
                "veryfast",
                "-pix_fmt",
                "yuv420p",
                "-g",
                "60",
                "-c:a",
                "aac",
                "-b:a",
                "128k",
                str(path),
            )
    return long_clip, short_clip, five


# (name, source, start s, end s)
TRIMS = [
    ("trim 10 s of 60 s", "minute.mp4", 25.1, 35.1),
    ("trim 50 s of 60 s", "minute.mp4", 5.1, 55.1),
    ("trim 4 min of 5 min", "five.mp4", 30.1, 270.1),
]


def median_of(runs: int, action) -> float:
    return statistics.median(timed(action) for _ in range(runs))


def trim_through_service(video, start: float, end: float):
    """Trim `video` from `start` to `end` s as a client would (queue, then execute):
    its job, finished. Needs setup_django first."""
    from jobs import services

    job = services.job_queue(
        request_code="bench",
        kind="trim",
        params={"video_id": video.id, "trim_start_ms": start * 1000, "trim_end_ms": end * 1000},
    )
    services.jobs_execute(request_code="bench")
    job.refresh_from_db()
    return job


def our_trims() -> dict[str, tuple[float, str]]:
    """Each trim through the service with its default (smart) method, the median of
    three runs: seconds, method. One trim first, untimed: a server process has the
    trial mux of a result's kind cached after its first job of that kind."""
    from videos.services import video_import

    videos = {name: video_import(path=WORK / name) for name in {t[1] for t in TRIMS}}

    def trim(source: str, start: float, end: float):
        return trim_through_service(videos[source], start, end)

    trim("minute.mp4", 1, 3)
    results = {}
    for name, source, start, end in TRIMS:
        runs = []
        for _ in range(3):
            started = time.perf_counter()
            job = trim(source, start, end)
            runs.append(time.perf_counter() - started)
        results[name] = (statistics.median(runs), job.outcome.get("trim_method", job.status))
    return results


def plain_trims() -> dict[str, tuple[float, float, float]]:
    """FFmpeg alone: the accurate re-encode; what the issue's target allows, two GOPs
    (4 s) re-encoded as the accurate re-encode does plus the keyframe copy of the span;
    and the keyframe stream copy alone (fast, inexact). The short ones are the median of
    three runs."""
    out = WORK / "plain"
    out.mkdir(exist_ok=True)
    ffmpeg = ["ffmpeg", "-v", "error", "-y"]
    encode = ["-c:v", "libx264", "-crf", "18", "-preset", "veryfast", "-c:a", "aac"]
    results = {}
    for name, source, start, end in TRIMS:
        cut = ["-ss", str(start), "-i", str(WORK / source), "-t", str(end - start)]
        accurate = [*ffmpeg, *cut, *encode, str(out / "trim.mp4")]
        two_gops = [
            *ffmpeg,
            "-ss",
            str(start),
            "-i",
            str(WORK / source),
            "-t",
            "4",
            *encode,
            str(out / "gops.mp4"),
        ]
        copy = [*ffmpeg, *cut, "-c", "copy", str(out / "copy.mp4")]
        copied = median_of(3, lambda args=copy: sh(*args))
        results[name] = (
            timed(lambda args=accurate: sh(*args)),
            median_of(3, lambda args=two_gops: sh(*args)) + copied,
            copied,
        )
    return results


def setup_django(media_root: Path) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "videoproc.settings"
    os.environ["MEDIA_ROOT"] = str(media_root)
    os.environ["DATABASE_URL"] = f"sqlite:///{WORK / 'bench.sqlite3'}"
    os.environ.pop("CELERY_BROKER_URL", None)  # the embedded default: jobs run in-process
    os.environ["TIMELINE_AUTO"] = "false"  # no timeline work behind the measurements' backs
    sys.path.insert(0, str(ROOT))
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def ours(long_clip: Path, short_clip: Path) -> dict[str, float]:
    """Each operation through the service: queue (validation, trial mux) and execute."""
    from jobs import services
    from videos.services import video_import

    first, second = video_import(path=long_clip), video_import(path=short_clip)
    operations = {
        "trim 10 s from the middle, re-encoded": lambda: services.job_queue(
            request_code="bench",
            kind="trim",
            params={
                "video_id": first.id,
                "trim_start_ms": 25000,
                "trim_end_ms": 35000,
                "mode": "reencode",
            },
        ),
        "concat two clips": lambda: services.job_queue(
            request_code="bench", kind="concat", params={"video_ids": [first.id, second.id]}
        ),
        "encode to 1280:720": lambda: services.job_queue(
            request_code="bench",
            kind="encode",
            params={
                "video_id": first.id,
                "video_codec": "libx264",
                "audio_codec": "aac",
                "resolution": "1280:720",
                "frame_rate": 30,
            },
        ),
    }
    return {
        name: timed(lambda queue=queue: (queue(), services.jobs_execute(request_code="bench")))
        for name, queue in operations.items()
    }


def edits(long_clip: Path, short_clip: Path) -> list[tuple[str, float, str]]:
    """Edits and normalised joins through the service: (case, seconds, what ran). A
    3-segment edit should cost about its cut points, whatever its length (each segment
    spans a whole GOP, 2 s here, so the smart cut has something to copy); a normalised
    concat should re-encode only the inputs that differ from its target."""
    from jobs import services
    from videos.services import video_import

    other = WORK / "other-720p25.mp4"
    if not other.exists():
        sh(
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=s=1280x720:r=25:d=10",
            "-f",
            "lavfi",
            "-i",
            "sine=f=660:r=44100:d=10",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            str(other),
        )
    minute, second, odd = (video_import(path=path) for path in (long_clip, short_clip, other))

    def edit(length: float) -> dict:
        starts = [(minute, 10.5), (second, 2.3), (minute, 40.2)]
        return {
            "segments": [
                {
                    "video_id": video.id,
                    "start_ms": start * 1000,
                    "end_ms": (start + length) * 1000,
                }
                for video, start in starts
            ]
        }

    cases = {
        "edit, 3 segments of 4 s (12 s)": lambda: services.job_queue(
            request_code="bench", kind="edit", params=edit(4)
        ),
        "edit, 3 segments of 15 s (45 s)": lambda: services.job_queue(
            request_code="bench", kind="edit", params=edit(15)
        ),
        "normalised concat 20 s + 10 s (720p25) + 20 s, target the first": lambda: (
            services.job_queue(
                request_code="bench",
                kind="concat",
                params={"normalize": True, "video_ids": [second.id, odd.id, second.id]},
            )
        ),
        "normalised concat 10 s (720p25) + 20 s + 20 s, target the first": lambda: (
            services.job_queue(
                request_code="bench",
                kind="concat",
                params={"normalize": True, "video_ids": [odd.id, second.id, second.id]},
            )
        ),
    }
    results = []
    for name, queue in cases.items():
        job = None

        def run(queue=queue):
            nonlocal job
            job = queue()
            services.jobs_execute(request_code="bench")

        seconds = timed(run)
        job.refresh_from_db()
        info = job.output_video.concat_info
        if "segments" in info:
            ran = ", ".join(segment["method"] for segment in info["segments"])
        else:
            names = {second.id: "the 20 s", odd.id: "the 10 s"}
            reencoded = [names[video_id] for video_id in info["normalized"]["reencoded"]]
            ran = "re-encoded: " + (" and ".join(reencoded) or "none")
        results.append((name, seconds, ran))
    return results


def plain(long_clip: Path, short_clip: Path) -> dict[str, float]:
    """What someone would type to get the same result with FFmpeg alone."""
    out = WORK / "plain"
    out.mkdir(exist_ok=True)
    (out / "list.txt").write_text(f"file '{long_clip}'\nfile '{short_clip}'\n")
    ffmpeg = ["ffmpeg", "-v", "error", "-y"]
    commands = {
        "trim 10 s from the middle, re-encoded": [
            *ffmpeg,
            "-ss",
            "25",
            "-i",
            str(long_clip),
            "-t",
            "10",
            "-c:v",
            "libx264",
            "-crf",
            "18",
            "-preset",
            "veryfast",
            "-c:a",
            "aac",
            str(out / "trim.mp4"),
        ],
        "concat two clips": [
            *ffmpeg,
            "-f",
            "concat",
            "-safe",
            "0",
            "-i",
            str(out / "list.txt"),
            "-c",
            "copy",
            str(out / "concat.mp4"),
        ],
        "encode to 1280:720": [
            *ffmpeg,
            "-i",
            str(long_clip),
            "-vf",
            "scale=1280:720",
            "-r",
            "30",
            "-c:v",
            "libx264",
            "-crf",
            "23",
            "-preset",
            "fast",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-movflags",
            "+faststart",
            str(out / "encode.mp4"),
        ],
    }
    return {name: timed(lambda args=args: sh(*args)) for name, args in commands.items()}


def timeline() -> tuple[float, float, float, int]:
    """A 10-minute 1080p30 video (a 2 s clip with a keyframe every second, looped by
    stream copy): its duration, the whole timeline made through the service (storyboard,
    peaks, keyframes, stored), the keyframe scan alone, and the thumbnails made."""
    from videos import services, timelines
    from videos.engine import timeline as engine

    clip, looped = WORK / "two-seconds.mp4", WORK / "ten-minutes.mp4"
    if not looped.exists():
        sh(
            *("ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=1920x1080:r=30:d=2"),
            *("-f", "lavfi", "-i", "sine=f=440:d=2:r=48000", "-c:v", "libx264", "-g", "30"),
            *("-pix_fmt", "yuv420p", "-c:a", "aac", str(clip)),
        )
        sh(
            *("ffmpeg", "-v", "error", "-y", "-stream_loop", "299", "-i", str(clip)),
            *("-c", "copy", str(looped)),
        )
    video = services.video_import(path=looped)
    scan = timed(lambda: engine.keyframe_times(looped, video.demuxer))

    def make():
        row = timelines.timeline_begin(video=video, force=True, send=False)
        timelines.timeline_make(video_id=video.id, attempt=row.attempt)

    seconds = timed(make)
    row = video.timeline
    row.refresh_from_db()
    assert row.state == "ready", row.error
    thumbnails = engine.storyboard_plan(
        duration=video.duration, width=video.width, height=video.height
    ).count
    return video.duration, seconds, scan, thumbnails


def free_port() -> int:
    with socket.socket() as probe_socket:
        probe_socket.bind(("127.0.0.1", 0))
        return probe_socket.getsockname()[1]


def make_upload_file() -> Path:
    """About 1 GB of real video: uncompressed frames in Matroska, quick to make."""
    path = WORK / "big.mkv"
    if not path.exists():
        frames = UPLOAD_BYTES // (1920 * 1080 * 3 // 2) + 1
        sh(
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=s=1920x1080:r=30",
            "-frames:v",
            str(frames),
            "-c:v",
            "rawvideo",
            "-pix_fmt",
            "yuv420p",
            str(path),
        )
    return path


def peak_upload_memory(media_root: Path) -> tuple[int, float, int]:
    """Serve with gunicorn as `make run` does, stream the file up, read the workers' peak
    resident memory (VmHWM) from /proc."""
    big = make_upload_file()
    port = free_port()
    env = {**os.environ, "MEDIA_ROOT": str(media_root)}
    server = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/gunicorn"),
            "videoproc.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--worker-class",
            "gthread",
            "--threads",
            "4",
            "--timeout",
            "0",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        boundary = uuid.uuid4().hex
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; '
            'filename="big.mkv"\r\nContent-Type: video/x-matroska\r\n\r\n'
        ).encode()
        tail = f"\r\n--{boundary}--\r\n".encode()
        size = big.stat().st_size
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        start = time.perf_counter()
        connection.putrequest("PUT", "/video/upload")
        connection.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
        connection.putheader("Content-Length", str(len(head) + size + len(tail)))
        connection.endheaders()
        connection.send(head)
        with open(big, "rb") as handle:
            while chunk := handle.read(1024 * 1024):
                connection.send(chunk)
        connection.send(tail)
        response = connection.getresponse()
        body = response.read()
        seconds = time.perf_counter() - start
        if response.status != 200:
            raise RuntimeError(f"upload failed: {response.status} {body[:300]!r}")
        workers = subprocess.run(
            ["pgrep", "-P", str(server.pid)], capture_output=True, text=True
        ).stdout.split()
        peak_kib = max(_vm_hwm_kib(int(pid)) for pid in workers)
        return size, seconds, peak_kib
    finally:
        server.terminate()
        server.wait(timeout=30)


def _vm_hwm_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def first_paint() -> str:
    """The page's first paint with 500 videos: bench/first_paint.py in a process of its
    own (its own server, database and media root); its Markdown."""
    return subprocess.run(
        [sys.executable, str(ROOT / "bench" / "first_paint.py")],
        check=True,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    ).stdout.strip()


def tus_upload() -> str:
    """A 1 GiB upload by tus against the plain upload: bench/tus_upload.py in a process of
    its own (its own servers, database and media root); its Markdown."""
    return subprocess.run(
        [sys.executable, str(ROOT / "bench" / "tus_upload.py")],
        check=True,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    ).stdout.strip()


def chunked_encode() -> str:
    """One chunked encode on one Celery worker against two: bench/chunked_encode.py in a
    process of its own (PostgreSQL and Redis, its own database and media root); its
    Markdown."""
    return subprocess.run(
        [sys.executable, str(ROOT / "bench" / "chunked_encode.py")],
        check=True,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    ).stdout.strip()


def smartcut_peer() -> None:
    """Our smart trims side by side with the peer tool `smartcut`, installed in its own
    environment: bench/smartcut_peer.py in a process of its own (and database), which
    prints its Markdown after ours."""
    sys.stdout.flush()
    subprocess.run([sys.executable, str(ROOT / "bench" / "smartcut_peer.py")], check=True)


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory_kib = int(Path("/proc/meminfo").read_text().split()[1])
    ffmpeg = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True).stdout
    return (
        f"{os.cpu_count()} cores ({cpu}), {memory_kib / 1024**2:.0f} GiB, "
        f"{platform.platform()}, {ffmpeg.splitlines()[0]}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only",
        choices=["trim", "timeline", "page", "tus", "chunks", "peer"],
        help="run only the trim comparison, the timeline, the page's first paint, or the "
        "tus upload against the plain one, or a chunked encode on one worker against two, "
        "or our smart trims against the peer tool smartcut",
    )
    only = parser.parse_args().only
    if only == "page":
        print(first_paint())
        return
    if only == "tus":
        print(tus_upload())
        return
    if only == "chunks":
        print(chunked_encode())
        return
    if only == "peer":
        smartcut_peer()
        return
    WORK.mkdir(parents=True, exist_ok=True)
    (WORK / "bench.sqlite3").unlink(missing_ok=True)
    media_root = Path(tempfile.mkdtemp(prefix="media-", dir=WORK))
    try:
        if only == "timeline":
            setup_django(media_root)
            timeline_figures = timeline()
        else:
            long_clip, short_clip, _ = make_sources()
            setup_django(media_root)
            smart, plain_cuts = our_trims(), plain_trims()
        if not only:
            timeline_figures = timeline()
            our_times = ours(long_clip, short_clip)
            edit_times = edits(long_clip, short_clip)
            plain_times = plain(long_clip, short_clip)
            size, upload_seconds, peak_kib = peak_upload_memory(media_root)
            page_figures = first_paint()
            tus_figures = tus_upload()
            chunk_figures = chunked_encode()
    finally:
        shutil.rmtree(media_root, ignore_errors=True)
    load = os.getloadavg()[0]
    print(
        f"Date: {time.strftime('%Y-%m-%d %H:%M')}  \nMachine: {machine()}  \n"
        f"Load average (1 min) at the end: {load:.1f}\n"
    )
    if only != "trim":
        duration, seconds, scan, thumbnails = timeline_figures
        print(
            "| timeline of | duration (s) | made in (s) | of which keyframe scan (s) | "
            "thumbnails | realtime factor |\n| --- | ---: | ---: | ---: | ---: | ---: |\n"
            f"| 1080p30 H.264 + AAC, a keyframe a second | {duration:.1f} | {seconds:.2f} | "
            f"{scan:.2f} | {thumbnails} | {duration / seconds:.0f}x |\n"
        )
    if only == "timeline":
        return
    print(
        "| trim | videoproc (s) | method | FFmpeg accurate re-encode (s) | ratio | FFmpeg "
        "2 GOPs re-encoded + keyframe copy (s) | FFmpeg keyframe copy (s) |"
    )
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: |")
    for name, (seconds, method) in smart.items():
        accurate, two_gops, copy = plain_cuts[name]
        print(
            f"| {name} | {seconds:.2f} | {method} | {accurate:.2f} | {seconds / accurate:.2f} "
            f"| {two_gops:.2f} | {copy:.2f} |"
        )
    if only:
        return
    print()
    print("| operation | videoproc (s) | plain ffmpeg (s) | ratio |")
    print("| --- | ---: | ---: | ---: |")
    for name, seconds in our_times.items():
        print(
            f"| {name} | {seconds:.2f} | {plain_times[name]:.2f} | "
            f"{seconds / plain_times[name]:.2f} |"
        )
    print("\n| edit or normalised join | videoproc (s) | what ran |")
    print("| --- | ---: | --- |")
    for name, seconds, ran in edit_times:
        print(f"| {name} | {seconds:.2f} | {ran} |")
    print(
        f"\nUpload of {size / 1024**3:.2f} GiB in {upload_seconds:.1f} s: peak resident "
        f"memory of the server worker {peak_kib / 1024:.0f} MiB."
    )
    print(f"\n{page_figures}")
    print(f"\n{tus_figures}")
    print(f"\n{chunk_figures}\n")
    smartcut_peer()


if __name__ == "__main__":
    main()
