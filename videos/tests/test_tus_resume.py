"""A large resumable upload by tuspy, the tus project's Python client, through a real
server (gunicorn) that is killed mid-request and started again: the client resumes
from the offset the new server reports, and the video stored is the file sent."""

import hashlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import closing
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from tusclient import client as tus_client
from tusclient.exceptions import TusCommunicationError, TusUploadFailed

from conftest import make_media
from jobs.tests.integration import free_port, wait_for
from videoproc.settings import BASE_DIR

pytestmark = pytest.mark.slow

SIZE_MB = 300  # what the issue asks for: 300 MB in 16 MB chunks
CHUNK = 16 * 1024 * 1024


def big_video(path: Path, size_mb: int) -> Path:
    """A real H.264 + AAC mp4 of about size_mb: 640x360 for 30 s at a constant 80 Mb/s
    (x264's CBR pads with filler data), made in about two seconds."""
    rate = size_mb * 8 / 30
    return make_media(
        path,
        size="640x360",
        duration=30,
        extra=[
            "-preset",
            "ultrafast",
            "-x264-params",
            "nal-hrd=cbr",
            "-b:v",
            f"{rate}M",
            "-minrate",
            f"{rate}M",
            "-maxrate",
            f"{rate}M",
            "-bufsize",
            "2M",
        ],
    )


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


class Server:
    """gunicorn serving the app on one port, with its own SQLite database file and
    media, as a machine would; it can be killed (SIGKILL) and started again."""

    def __init__(self, root: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.root = root
        self.env = {
            **os.environ,
            "DATABASE_URL": f"sqlite:///{root / 'db.sqlite3'}",
            "MEDIA_ROOT": str(root / "media"),
            "SCRATCH_DIR": str(root / "scratch"),
            "FFMPEG_SLOTS_DIR": str(root / "slots"),
            "API_AUTH": "off",
            "TIMELINE_AUTO": "false",
            "TUS_LEASE_SECONDS": "2",
        }
        self.process = None
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "-v0"], cwd=BASE_DIR, env=self.env, check=True
        )

    def start(self) -> None:
        log = self.root / f"gunicorn-{time.monotonic_ns()}.log"
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "videoproc.wsgi:application",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                "1",
                "--worker-class",
                "gthread",
                "--threads",
                "4",
                "--timeout",
                "0",
            ],
            cwd=BASE_DIR,
            env=self.env,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

        def answering() -> bool:
            assert self.process.poll() is None, log.read_text()[-3000:]
            try:
                return requests.options(f"{self.url}/video/uploads/", timeout=5).ok
            except requests.ConnectionError:
                return False

        wait_for(answering, timeout=60, what="gunicorn to answer")

    def kill(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=10)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One server for this module's tests (a test that kills it starts it again)."""
    server = Server(tmp_path_factory.mktemp("server"))
    server.start()
    yield server
    server.kill()


def test_a_large_upload_survives_a_server_killed_mid_request(server, tmp_path):
    # given a real video of 300 MB
    source = big_video(tmp_path / "big.mp4", SIZE_MB)
    size = source.stat().st_size
    client = tus_client.TusClient(f"{server.url}/video/uploads/")
    received = server.root / "scratch" / "tus"
    killed_at = {}

    def kill_mid_request():
        # The server is killed while a PATCH is streaming in, past 40 % of the file and
        # halfway through a chunk: bytes are on disk that no committed offset counts.
        target = int(size * 0.4) // CHUNK * CHUNK + CHUNK // 2
        part = wait_for(
            lambda: next((p for p in received.glob("*.part") if p.stat().st_size > target), None),
            timeout=120,
            what="the upload to pass 40 %",
            interval=0.005,
        )
        killed_at["bytes_on_disk"] = part.stat().st_size
        server.kill()

    killer = threading.Thread(target=kill_mid_request)
    killer.start()

    # when tuspy sends it in 16 MB chunks, and the server dies under it
    first = client.uploader(
        str(source), chunk_size=CHUNK, metadata={"filename": "big.mp4"}, retries=0
    )
    with pytest.raises((TusUploadFailed, TusCommunicationError, requests.ConnectionError)):
        first.upload()
    killer.join()
    server.start()

    # then a new client for the same URL resumes from the offset the new server reports:
    # the chunks committed before the crash, not the bytes half-written after them
    resumed = client.uploader(
        str(source), chunk_size=CHUNK, url=first.url, retries=5, retry_delay=1
    )
    assert 0 < resumed.offset < killed_at["bytes_on_disk"]
    assert resumed.offset % CHUNK == 0
    resumed.upload()
    record = requests.get(first.url, timeout=60)
    assert record.status_code == 200, record.text
    [video] = record.json()
    stored = server.root / "media" / video["original_file_path"].removeprefix("./storage/")
    assert stored.stat().st_size == size
    assert sha256(stored) == sha256(source)
    assert list(received.glob("*.part")) == []


def lease_held(server: Server) -> bool:
    with closing(sqlite3.connect(server.root / "db.sqlite3")) as database:
        (held,) = database.execute(
            "SELECT count(*) FROM videos_resumableupload WHERE lease_token IS NOT NULL"
        ).fetchone()
    return held == 1


def test_two_patches_at_once_never_both_append(server, tmp_path):
    # given an upload, and a PATCH whose body is still coming
    clip = make_media(tmp_path / "clip.mp4")
    data = clip.read_bytes()
    tus = {"Tus-Resumable": "1.0.0"}
    created = requests.post(
        f"{server.url}/video/uploads/",
        headers={
            **tus,
            "Upload-Length": str(len(data)),
            "Upload-Metadata": "filename Y2xpcC5tcDQ=",
        },
        timeout=10,
    )
    location = created.headers["Location"]
    path = urlsplit(location).path
    slow = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    slow.sendall(
        f"PATCH {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nTus-Resumable: 1.0.0\r\n"
        "Content-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\n"
        f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode()
        + data[:1000]
    )
    patch = {**tus, "Content-Type": "application/offset+octet-stream", "Upload-Offset": "0"}
    # (read from the server's database: a probing request would take the lease itself)
    wait_for(lambda: lease_held(server), timeout=30, what="the first PATCH to hold the upload")
    second = requests.patch(location, data=data, headers=patch, timeout=10)
    assert second.status_code == 423, second.text
    assert second.headers["Retry-After"]

    # when the first one's body ends
    slow.sendall(data[1000:])
    answer = slow.makefile("rb").readline()
    slow.close()

    # then it alone appended: the upload is the file, once
    assert answer.split()[1] == b"204", answer
    head = requests.head(location, headers=tus, timeout=10)
    assert head.headers["Upload-Offset"] == str(len(data))
    [video] = requests.get(location, timeout=30).json()
    stored = server.root / "media" / video["original_file_path"].removeprefix("./storage/")
    assert stored.read_bytes() == data


def test_a_dropped_connection_keeps_the_bytes_that_came(server, tmp_path):
    # given a PATCH whose client goes away after 100,000 of the bytes it announced
    data = make_media(tmp_path / "dropped.mp4", duration=4).read_bytes()
    tus = {"Tus-Resumable": "1.0.0"}
    created = requests.post(
        f"{server.url}/video/uploads/",
        headers={**tus, "Upload-Length": str(len(data)), "Upload-Metadata": "filename YS5tcDQ="},
        timeout=10,
    )
    location = created.headers["Location"]
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as dropped:
        dropped.sendall(
            f"PATCH {urlsplit(location).path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Tus-Resumable: 1.0.0\r\nContent-Type: application/offset+octet-stream\r\n"
            f"Upload-Offset: 0\r\nContent-Length: {len(data)}\r\n\r\n".encode()
            + data[:100_000]
        )
        wait_for(
            lambda: requests.head(location, headers=tus, timeout=10).status_code == 200,
            timeout=10,
            what="the server to answer",
        )

    # then the server keeps what came, and the upload goes on from there
    offset = wait_for(
        lambda: int(requests.head(location, headers=tus, timeout=10).headers["Upload-Offset"]),
        timeout=30,
        what="the bytes that came to be kept",
    )
    assert offset == 100_000
    patch = {**tus, "Content-Type": "application/offset+octet-stream", "Upload-Offset": "100000"}
    assert requests.patch(location, data=data[100_000:], headers=patch, timeout=30).ok
    [video] = requests.get(location, timeout=30).json()
    stored = server.root / "media" / video["original_file_path"].removeprefix("./storage/")
    assert stored.read_bytes() == data
