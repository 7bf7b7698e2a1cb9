"""What the Celery benchmarks (scale.py, chunked_encode.py) share: a database of their
own on this machine's PostgreSQL, and Celery workers started before a run and stopped
after it, each logging into the bench's work folder."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVER = "postgres://postgres@127.0.0.1:5432"


def setup_django(*, database: str, broker: str, work: Path, **environment: str) -> None:
    """Django on a fresh `database` (dropped and made again), `broker` and media under
    `work`, with `environment` on top; migrated."""
    subprocess.run(
        ["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", database], check=True
    )
    subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", database], check=True)
    os.environ.update(
        DJANGO_SETTINGS_MODULE="videoproc.settings",
        DATABASE_URL=f"{SERVER}/{database}",
        CELERY_BROKER_URL=broker,
        MEDIA_ROOT=str(work / "media"),
        **environment,
    )
    sys.path.insert(0, str(ROOT))
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def start_workers(work: Path, count: int, environment=lambda index: {}) -> list[subprocess.Popen]:
    """`count` workers of one process each (`environment(index)` on top of this process's
    environment), once every one says it is ready."""
    workers = []
    for index in range(count):
        log = work / f"worker{index}.log"
        workers.append(
            subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "videoproc", "worker"]
                + ["--hostname", f"bench{index}@%h", "--concurrency", "1", "--loglevel", "INFO"]
                + ["--without-gossip", "--without-mingle", "--without-heartbeat"],
                cwd=ROOT,
                env={**os.environ, **environment(index)},
                stdout=log.open("w"),
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
    deadline = time.monotonic() + 60
    for index in range(count):
        while " ready." not in (work / f"worker{index}.log").read_text():
            if time.monotonic() > deadline:
                sys.exit(f"worker {index} did not start; see {work}/worker{index}.log")
            time.sleep(0.2)
    return workers


def stop_workers(workers: list[subprocess.Popen]) -> None:
    for worker in workers:
        os.killpg(worker.pid, signal.SIGTERM)  # warm shutdown: they are idle by now
    for worker in workers:
        worker.wait(timeout=30)
