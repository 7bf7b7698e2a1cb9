"""Benchmark: one chunked encode on one Celery worker against two, each worker held to
one FFmpeg thread and its own FFmpeg slot (FFMPEG_THREADS=1: one machine per worker).

    .venv/bin/python bench/chunked_encode.py      (or: bench/run.py --only chunks)

Needs PostgreSQL and Redis on this machine (as the integration tests do): works in a
database of its own (`videoproc_bench_chunks`, recreated), Redis DB 9 and
bench/work/chunks/. Encodes two minutes of 720p30 H.264 + AAC to 720p25 (libx264, the
service's settings) in chunks of CHUNK_SECONDS, checks that both outputs have the single
encode's frames, and prints Markdown for bench/RESULTS.md, with what N machines would
take, from the measured plan, chunk and join times.
"""

import heapq
import os
import shutil
import subprocess
import time
from pathlib import Path

from workers import ROOT, setup_django, start_workers, stop_workers

WORK = ROOT / "bench" / "work" / "chunks"
DATABASE = "videoproc_bench_chunks"
BROKER = "redis://127.0.0.1:6379/9"
SOURCE_SECONDS = 120
CHUNK_SECONDS = 10
TARGET = {"resolution": "1280:720", "frame_rate": 25}
WORKER_ENV = {
    "FFMPEG_THREADS": "1",
    "FFMPEG_MAX_RUNS": "1",
    "ENCODE_CHUNK_SECONDS": str(CHUNK_SECONDS),
}


def source_video():
    from videos.services import video_import

    clip = WORK / "source.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi"]
        + ["-i", f"testsrc2=s=1280x720:r=30:d={SOURCE_SECONDS}", "-f", "lavfi"]
        + ["-i", f"sine=f=440:r=48000:d={SOURCE_SECONDS}", "-c:v", "libx264"]
        + ["-preset", "ultrafast", "-g", "60", "-pix_fmt", "yuv420p", "-c:a", "aac", str(clip)],
        check=True,
    )
    return clip, video_import(path=clip)


def run(workers: int, video) -> dict:
    """Encode on `workers` workers: wall time, and the job's plan, chunk and join times."""
    from celery import current_app
    from django.conf import settings

    from jobs import services
    from jobs.models import Job

    request_code = f"bench-{workers}"
    job = services.job_queue(
        request_code=request_code,
        kind="encode",
        params={"video_id": video.id, "video_codec": "libx264", "audio_codec": "aac", **TARGET},
    )
    current_app.control.purge()  # no message left from the run before (it would start a job)
    processes = start_workers(
        WORK,
        workers,
        lambda index: {**WORKER_ENV, "FFMPEG_SLOTS_DIR": str(WORK / f"slots{index}")},
    )
    try:
        start = time.perf_counter()
        services.jobs_execute(request_code=request_code, wait=True)
        wall = time.perf_counter() - start
    finally:
        stop_workers(processes)
    job = Job.objects.get(pk=job.pk)
    assert job.status == Job.Status.SUCCEEDED, job.error
    chunks = list(job.chunks.order_by("index"))
    first_start = min(chunk.started_at for chunk in chunks)
    last_end = max(chunk.finished_at for chunk in chunks)
    output = WORK / f"output-{workers}.mp4"
    shutil.copy(Path(settings.MEDIA_ROOT) / job.output_video.file.name, output)
    return {
        "wall": wall,
        "plan": (first_start - job.started_at).total_seconds(),
        "chunks": [(c.finished_at - c.started_at).total_seconds() for c in chunks],
        "join": (job.finished_at - last_end).total_seconds(),
        "ranges": [{"first_frame": c.first_frame, "end_frame": c.end_frame} for c in chunks],
        "workers": sorted({c.worker.split("@")[0] for c in chunks}),
        "output": output,
    }


def on_machines(machines: int, result: dict) -> float:
    """What `machines` workers would take: the plan, the measured chunks spread as they
    are taken (each to the first worker free, in order), then the join."""
    free = [0.0] * machines
    for seconds in result["chunks"]:
        heapq.heappush(free, heapq.heappop(free) + seconds)
    return result["plan"] + max(free) + result["join"]


def frame_exact(output: Path, single: Path, ranges: list[dict]) -> bool:
    from jobs.tests.chunk_media import grey_frames, same_frame

    frames, reference = grey_frames(output), grey_frames(single)
    edges = [index for r in ranges for index in (r["first_frame"], r["end_frame"] - 1)]
    return len(frames) == len(reference) and all(
        same_frame(frames, reference, index) for index in edges
    )


def main() -> None:
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    setup_django(
        database=DATABASE,
        broker=BROKER,
        work=WORK,
        TIMELINE_AUTO="false",
        EXECUTE_WAIT_LIMIT="3600",
    )
    clip, video = source_video()
    results = {workers: run(workers, video) for workers in (1, 2)}
    from jobs.tests.chunk_media import single_encode

    single = single_encode(clip, WORK / "single.mp4", **TARGET)
    one, two = results[1], results[2]
    mean_one, mean_two = (sum(r["chunks"]) / len(r["chunks"]) for r in (one, two))
    chunks = len(one["chunks"])
    print(
        f"A {SOURCE_SECONDS} s 1280x720 30 fps H.264 + AAC source encoded to "
        f"{TARGET['resolution']} at {TARGET['frame_rate']} fps (libx264 crf 23 fast) in "
        f"{chunks} chunks of about {CHUNK_SECONDS} s; each worker --concurrency 1, "
        "FFMPEG_THREADS=1, its own FFmpeg slot. Load average (1 min) at the end: "
        f"{os.getloadavg()[0]:.1f}.\n"
    )
    print(
        "| workers | wall time (s) | plan (s) | chunk encode, mean (s) | sound + join (s) "
        "| workers busy | speed-up | frames as the single encode's |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for workers, result in results.items():
        mean = sum(result["chunks"]) / len(result["chunks"])
        exact = frame_exact(result["output"], single, result["ranges"])
        print(
            f"| {workers} ({', '.join(result['workers'])}) | {result['wall']:.1f} "
            f"| {result['plan']:.1f} | {mean:.1f} | {result['join']:.1f} "
            f"| {sum(result['chunks']) / (workers * result['wall']):.0%} "
            f"| {one['wall'] / result['wall']:.2f}x | {'yes' if exact else 'NO'} |"
        )
    same = (
        subprocess.run(
            ["cmp", "-s", str(one["output"]), str(two["output"])], check=False
        ).returncode
        == 0
    )
    print(
        "\n'workers busy': the chunks' encoding time over the workers' wall time. "
        f"The chunks took {mean_two / mean_one:.2f}x as long on two workers as on one: the "
        "cores the two share with whatever else runs here."
    )
    print(f"\nThe two outputs are {'byte-identical' if same else 'different files'}.")
    machines = [1, 2, 4, 8, chunks]
    estimates = ", ".join(
        f"{n}: {on_machines(n, one):.0f} s ({on_machines(1, one) / on_machines(n, one):.1f}x)"
        for n in sorted(set(machines))
    )
    print(
        f"\nFrom the one-worker run's plan ({one['plan']:.1f} s), chunk "
        f"({sum(one['chunks']):.0f} s in all) and join ({one['join']:.1f} s) times, N machines "
        f"would take: {estimates}; past {chunks} machines only shorter chunks help "
        "(the plan and the join stay)."
    )


if __name__ == "__main__":
    main()
