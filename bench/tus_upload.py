"""Benchmark: a 1 GiB upload by tus (tuspy, in chunks) against the plain upload (one
streamed multipart PUT): throughput, and the server worker's peak resident memory.

    .venv/bin/python bench/tus_upload.py     (or: bench/run.py --only tus)

Each upload gets a fresh gunicorn (one gthread worker, as `make run`), so its peak
(VmHWM from /proc) is that upload's alone; all share one SQLite database and media root
in bench/work/. The file is real video (uncompressed 1080p frames in Matroska, quick to
make), so each upload ends with the probe, poster and storing a plain upload has.
Prints Markdown for bench/RESULTS.md.
"""

import http.client
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / "work"
UPLOAD_BYTES = 1024**3
CHUNKS_MIB = (16, 64)


def make_file() -> Path:
    """About 1 GiB of real video: uncompressed 1080p frames in Matroska."""
    path = WORK / "tus-big.mkv"
    if not path.exists():
        frames = UPLOAD_BYTES // (1920 * 1080 * 3 // 2) + 1
        subprocess.run(
            ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=1920x1080:r=30"]
            + ["-frames:v", str(frames), "-c:v", "rawvideo", "-pix_fmt", "yuv420p", str(path)],
            check=True,
            stdin=subprocess.DEVNULL,
        )
    return path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    def __init__(self, env: dict[str, str]):
        self.port = free_port()
        self.process = subprocess.Popen(
            [str(ROOT / ".venv/bin/gunicorn"), "videoproc.wsgi:application"]
            + ["--bind", f"127.0.0.1:{self.port}", "--workers", "1"]
            + ["--worker-class", "gthread", "--threads", "4", "--timeout", "0"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def peak_kib(self) -> int:
        workers = subprocess.run(
            ["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True
        ).stdout.split()
        return max(_vm_hwm_kib(int(pid)) for pid in workers)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def _vm_hwm_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def plain_upload(port: int, path: Path) -> None:
    boundary = uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; '
        f'filename="{path.name}"\r\nContent-Type: video/x-matroska\r\n\r\n'
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    connection.putrequest("PUT", "/video/upload")
    connection.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
    connection.putheader("Content-Length", str(len(head) + path.stat().st_size + len(tail)))
    connection.endheaders()
    connection.send(head)
    with open(path, "rb") as handle:
        while chunk := handle.read(1024 * 1024):
            connection.send(chunk)
    connection.send(tail)
    response = connection.getresponse()
    body = response.read()
    if response.status != 200:
        raise RuntimeError(f"plain upload failed: {response.status} {body[:300]!r}")


def tus_upload(port: int, path: Path, chunk_mib: int) -> None:
    import requests
    from tusclient import client

    uploader = client.TusClient(f"http://127.0.0.1:{port}/video/uploads/").uploader(
        str(path), chunk_size=chunk_mib * 1024 * 1024, metadata={"filename": path.name}
    )
    uploader.upload()
    answer = requests.get(uploader.url, timeout=600)
    if answer.status_code != 200:
        raise RuntimeError(f"tus upload failed: {answer.status_code} {answer.text[:300]}")


def measure(env: dict[str, str], media_root: Path, upload) -> tuple[float, int]:
    """Seconds (until the video is stored) and the worker's peak resident KiB."""
    server = Server(env)
    try:
        start = time.perf_counter()
        upload(server.port)
        seconds = time.perf_counter() - start
        return seconds, server.peak_kib()
    finally:
        server.stop()
        shutil.rmtree(media_root / "origin", ignore_errors=True)  # room for the next


def main() -> None:
    WORK.mkdir(parents=True, exist_ok=True)
    big = make_file()
    size = big.stat().st_size
    root = Path(tempfile.mkdtemp(prefix="tus-", dir=WORK))
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{root / 'db.sqlite3'}",
        "MEDIA_ROOT": str(root / "media"),
        "SCRATCH_DIR": str(root / "scratch"),
        "API_AUTH": "off",
        "TIMELINE_AUTO": "false",
    }
    try:
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True
        )
        uploads = {"plain PUT, one multipart request": lambda port: plain_upload(port, big)}
        for chunk in CHUNKS_MIB:
            uploads[f"tus (tuspy), {chunk} MiB chunks"] = lambda port, chunk=chunk: tus_upload(
                port, big, chunk
            )
        rows = [(name, measure(env, root / "media", upload)) for name, upload in uploads.items()]
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"Upload of {size / 1024**3:.2f} GiB ({size:,} bytes) over loopback, until stored:\n")
    print("| upload | seconds | MB/s | server worker peak RSS (MiB) |")
    print("| --- | ---: | ---: | ---: |")
    for name, (seconds, peak_kib) in rows:
        print(f"| {name} | {seconds:.1f} | {size / 1e6 / seconds:.0f} | {peak_kib / 1024:.0f} |")


if __name__ == "__main__":
    main()
