"""Benchmark: how execute's throughput grows from one Celery worker to two.

    .venv/bin/python bench/scale.py [--jobs 6]

Needs PostgreSQL and Redis on this machine (as the integration tests do): works in a
database of its own (`videoproc_bench_scale`, recreated), Redis DB 8 and bench/work/.
Queues the same encodes for each worker count, runs them with execute (wait=true) and
prints a Markdown table for bench/RESULTS.md.
"""

import argparse
import os
import platform
import shutil
import subprocess
import time

from workers import ROOT, setup_django, start_workers, stop_workers

WORK = ROOT / "bench" / "work" / "scale"
DATABASE = "videoproc_bench_scale"
BROKER = "redis://127.0.0.1:6379/8"
SOURCE = {"size": "640x360", "seconds": 10}
TARGET = "1280:720"


def source_video():
    from videos.services import video_import

    clip = WORK / "source.mp4"
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=s={SOURCE['size']}:r=25:d={SOURCE['seconds']}",
            "-f",
            "lavfi",
            "-i",
            f"sine=f=440:r=44100:d={SOURCE['seconds']}",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            str(clip),
        ],
        check=True,
    )
    return video_import(path=clip)


def run(workers: int, jobs: int, video) -> float:
    """Seconds execute takes to run `jobs` encodes on `workers` workers."""
    from jobs import services

    request_code = f"bench-{workers}"
    for _ in range(jobs):
        services.job_queue(
            request_code=request_code,
            kind="encode",
            params={
                "video_id": video.id,
                "video_codec": "libx264",
                "audio_codec": "aac",
                "resolution": TARGET,
                "frame_rate": 25,
            },
        )
    processes = start_workers(WORK, workers)
    try:
        start = time.perf_counter()
        services.jobs_execute(request_code=request_code, wait=True)
        return time.perf_counter() - start
    finally:
        stop_workers(processes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=6, help="encodes per worker count")
    jobs = parser.parse_args().jobs
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    setup_django(database=DATABASE, broker=BROKER, work=WORK)
    video = source_video()
    seconds = {workers: run(workers, jobs, video) for workers in (1, 2)}
    print(
        f"{jobs} encodes of a {SOURCE['seconds']} s {SOURCE['size']} H.264 clip to {TARGET} "
        f"(libx264) on {os.cpu_count()} cores ({platform.machine()}):\n"
    )
    print("| workers | wall time | jobs per minute | speed-up |")
    print("| --- | --- | --- | --- |")
    for workers, elapsed in seconds.items():
        print(
            f"| {workers} | {elapsed:.1f} s | {jobs * 60 / elapsed:.1f} | "
            f"{seconds[1] / elapsed:.2f}x |"
        )


if __name__ == "__main__":
    main()
