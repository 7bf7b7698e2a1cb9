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
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / "work" / "scale"
DATABASE = "videoproc_bench_scale"
SERVER = "postgres://postgres@127.0.0.1:5432"
BROKER = "redis://127.0.0.1:6379/8"
SOURCE = {"size": "640x360", "seconds": 10}
TARGET = "1280:720"


def setup_django() -> None:
    subprocess.run(
        ["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", DATABASE], check=True
    )
    subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", DATABASE], check=True)
    os.environ.update(
        DJANGO_SETTINGS_MODULE="videoproc.settings",
        DATABASE_URL=f"{SERVER}/{DATABASE}",
        CELERY_BROKER_URL=BROKER,
        MEDIA_ROOT=str(WORK / "media"),
    )
    sys.path.insert(0, str(ROOT))
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


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


def start_workers(count: int) -> list[subprocess.Popen]:
    workers = []
    for index in range(count):
        log = WORK / f"worker{index}.log"
        workers.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "videoproc",
                    "worker",
                    "--hostname",
                    f"bench{index}@%h",
                    "--concurrency",
                    "1",
                    "--loglevel",
                    "INFO",
                    "--without-gossip",
                    "--without-mingle",
                    "--without-heartbeat",
                ],
                cwd=ROOT,
                stdout=log.open("w"),
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
    deadline = time.monotonic() + 60
    for index in range(count):
        while " ready." not in (WORK / f"worker{index}.log").read_text():
            if time.monotonic() > deadline:
                sys.exit(f"worker {index} did not start; see {WORK}/worker{index}.log")
            time.sleep(0.2)
    return workers


def stop_workers(workers: list[subprocess.Popen]) -> None:
    for worker in workers:
        os.killpg(worker.pid, signal.SIGTERM)  # warm shutdown: they are idle by now
    for worker in workers:
        worker.wait(timeout=30)


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
    processes = start_workers(workers)
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
    setup_django()
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
