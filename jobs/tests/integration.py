"""Fixtures for the integration tests: real Celery workers (subprocesses) over the Redis
and PostgreSQL this machine runs, and an S3 endpoint (moto's server) started here.

`make test` runs them in their own pytest invocation with DATABASE_URL pointing at
PostgreSQL and CELERY_BROKER_URL at Redis, so the workers and the test share one test
database. Under CI=true a missing service fails the test; elsewhere it skips.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import boto3
import pytest
import redis
from django.conf import settings
from django.db import connection

from conftest import make_media, upload
from videoproc.settings import BASE_DIR, s3_storage

CI = os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}
WORKER_START_TIMEOUT = 60


def unavailable(reason: str) -> None:
    """A missing service: a failure under CI (these tests must run there), else a skip."""
    if CI:
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def wait_for(condition: Callable[[], object], *, timeout: float, what: str, interval: float = 0.1):
    """Poll until condition() is truthy and return its value; fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def parent_of(pid: int) -> int | None:
    """The parent of a live process, None once it is gone (or a zombie)."""
    try:
        state, parent = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[:2]
    except OSError:
        return None
    return None if state == "Z" else int(parent)


def ffmpeg_processes(marker: str) -> dict[int, int]:
    """{pid: parent pid} of the live FFmpeg processes whose command line has marker."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:  # it ended while we looked
            continue
        if Path(os.fsdecode(argv[0])).name != "ffmpeg" or not any(
            marker.encode() in arg for arg in argv
        ):
            continue
        if (parent := parent_of(int(entry.name))) is not None:
            found[int(entry.name)] = parent
    return found


def kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


# A job that runs long enough on this machine to be acted on mid-encode (~5-10 s).
LONG_SOURCE = {"size": "640x360", "duration": 12}
LONG_TARGET = "1280:720"


@pytest.fixture
def long_video(api, tmp_path) -> dict:
    """An upload whose encode to LONG_TARGET runs for seconds: its video record."""
    clip = make_media(tmp_path / "long.mp4", **LONG_SOURCE, extra=["-preset", "ultrafast"])
    response = upload(api, clip)
    assert response.status_code == 200, response.content
    return response.json()[0]


@pytest.fixture
def services_up(django_db_setup) -> None:
    """PostgreSQL (the test database) and Redis, as the workers will use them."""
    if connection.vendor != "postgresql":
        unavailable(
            "integration tests need DATABASE_URL=postgres://... and CELERY_BROKER_URL="
            "redis://... (`make test` sets both)"
        )
    if not settings.CELERY_BROKER_URL:
        unavailable("integration tests need CELERY_BROKER_URL=redis://... (`make test` sets it)")
    try:
        redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=3).ping()
    except redis.RedisError as error:
        unavailable(f"Redis at {settings.CELERY_BROKER_URL} is unreachable: {error}")


@dataclass
class Worker:
    name: str
    process: subprocess.Popen
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def jobs_done(self) -> int:
        """How many run_job tasks this worker finished."""
        return sum(
            "jobs.tasks.run_job[" in line and "succeeded in" in line
            for line in self.output().splitlines()
        )

    def kill(self) -> None:
        """SIGKILL the whole worker, as a machine that dies would lose it."""
        kill_group(self.process)


def shared_env(**env: str) -> dict[str, str]:
    """The environment of a process that shares this test's database, broker and media."""
    database = settings.DATABASES["default"]
    database_url = urlsplit(os.environ["DATABASE_URL"])._replace(path=f"/{database['NAME']}")
    return {
        **os.environ,
        "DATABASE_URL": database_url.geturl(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "SCRATCH_DIR": str(settings.SCRATCH_DIR),
        "FFMPEG_SLOTS_DIR": str(settings.FFMPEG_SLOTS_DIR),  # one machine: one set of slots
        **env,
    }


def kill_group(process: subprocess.Popen) -> None:
    """SIGKILL a process started in a session of its own, and all it started."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=10)


@pytest.fixture
def start_worker(services_up, media_root, tmp_path) -> Iterator[Callable[..., Worker]]:
    """Start `celery -A videoproc worker` processes sharing this test's database, broker
    and media root; every one (and any FFmpeg it left) is killed at the end."""
    started: list[Worker] = []

    def start(name: str, queues: str = "celery", **env: str) -> Worker:
        log = tmp_path / f"worker-{name}.log"
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "videoproc",
                "worker",
                "--hostname",
                f"{name}@%h",
                "--concurrency",
                "1",
                "--queues",
                queues,
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            cwd=BASE_DIR,
            env=shared_env(**env),
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, to kill it whole
        )
        worker = Worker(name, process, log)
        started.append(worker)
        wait_for(
            lambda: " ready." in worker.output() or process.poll() is not None,
            timeout=WORKER_START_TIMEOUT,
            what=f"worker {name} to start",
        )
        assert process.poll() is None, f"worker {name} exited:\n{worker.output()[-3000:]}"
        return worker

    yield start
    for worker in started:
        worker.kill()
    for pid in ffmpeg_processes(str(settings.MEDIA_ROOT)):
        kill(pid)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Web:
    process: subprocess.Popen
    url: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def request(
        self, method: str, path: str, body: dict | None = None, timeout: float = 60
    ) -> tuple[int, bytes]:
        """(status, body) of a request to this server; a 4xx/5xx is an answer too."""
        request = urllib.request.Request(
            self.url + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()


@pytest.fixture
def start_web(services_up, media_root, tmp_path) -> Iterator[Callable[..., Web]]:
    """Start gunicorn serving the app on a free port, sharing this test's database,
    broker and media root, as `make run` does; killed whole at the end."""
    started: list[Web] = []

    def start(workers: int = 2, **env: str) -> Web:
        port = free_port()
        log = tmp_path / f"web-{port}.log"
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "videoproc.wsgi:application",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                str(workers),
                "--worker-class",
                "gthread",
                "--threads",
                "4",
                "--timeout",
                "0",
            ],
            cwd=BASE_DIR,
            env=shared_env(**env),
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        web = Web(process, f"http://127.0.0.1:{port}", log)
        started.append(web)

        def answering() -> bool:
            assert process.poll() is None, f"gunicorn exited:\n{web.output()[-3000:]}"
            try:
                return web.request("GET", "/video/process/jobs?limit=1", timeout=5)[0] == 200
            except OSError:
                return False

        wait_for(answering, timeout=WORKER_START_TIMEOUT, what="gunicorn to answer")
        return web

    yield start
    for web in started:
        kill_group(web.process)


@dataclass
class Bucket:
    env: dict[str, str]  # the settings that point a worker at it
    client: object

    def keys(self) -> list[str]:
        listing = self.client.list_objects_v2(Bucket=self.env["AWS_STORAGE_BUCKET_NAME"])
        return [item["Key"] for item in listing.get("Contents", [])]


@pytest.fixture
def s3(settings, tmp_path) -> Iterator[Bucket]:
    """A bucket on a moto S3 server of our own, made this process's default storage."""
    port = free_port()
    log = tmp_path / "moto.log"
    try:
        server = subprocess.Popen(
            [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
        )
    except OSError as error:
        unavailable(f"moto_server cannot start: {error}")
    try:

        def listening() -> bool:
            if server.poll() is not None:
                unavailable(f"moto_server exited:\n{log.read_text()[-2000:]}")
            with socket.socket() as client:
                return client.connect_ex(("127.0.0.1", port)) == 0

        wait_for(listening, timeout=30, what="the moto S3 server")
        env = {
            "AWS_STORAGE_BUCKET_NAME": "videoproc-test",
            "AWS_S3_ENDPOINT_URL": f"http://127.0.0.1:{port}",
            "AWS_S3_REGION_NAME": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_S3_ADDRESSING_STYLE": "path",
        }
        client = boto3.client(
            "s3",
            endpoint_url=env["AWS_S3_ENDPOINT_URL"],
            region_name=env["AWS_S3_REGION_NAME"],
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        )
        client.create_bucket(Bucket=env["AWS_STORAGE_BUCKET_NAME"])
        settings.STORAGES = {**settings.STORAGES, "default": s3_storage(env)}
        yield Bucket(env, client)
    finally:
        server.kill()
        server.wait(timeout=10)
