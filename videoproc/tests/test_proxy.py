"""The front door: Debian's nginx with deploy/'s configuration in front of a real gunicorn,
both started here on free ports. Slow clients, Range downloads and uploads through it."""

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from django.test import Client

from bench.slow_clients import SlowClients, probe
from conftest import make_media
from jobs.tests.integration import free_port, unavailable, wait_for
from videoproc.settings import BASE_DIR

pytestmark = pytest.mark.integration

NGINX = "/usr/sbin/nginx"
# Few threads on purpose: twenty slow clients are far more than gunicorn could hold.
GUNICORN_THREADS = 4
MAX_UPLOAD_SIZE = 2_000_000


@dataclass
class Stack:
    nginx_port: int
    gunicorn_port: int
    media: Path
    env: dict[str, str]  # what gunicorn runs with
    gunicorn_process: subprocess.Popen | None = None

    @property
    def nginx(self) -> str:
        return f"http://127.0.0.1:{self.nginx_port}"

    @property
    def gunicorn(self) -> str:
        return f"http://127.0.0.1:{self.gunicorn_port}"


def listening(port: int, process: subprocess.Popen, log: Path) -> bool:
    if process.poll() is not None:
        pytest.fail(f"{process.args[0]} exited:\n{log.read_text()[-3000:]}")
    with socket.socket() as client:
        return client.connect_ex(("127.0.0.1", port)) == 0


def stop(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@contextmanager
def start_stack(folder: Path, render_args: tuple[str, ...] = (), **env: str) -> Iterator[Stack]:
    """gunicorn (as `make run` starts it, with fewer threads) and nginx in front of it,
    configured by deploy/render_nginx.py (with `render_args`) from the same `env`."""
    if not os.access(NGINX, os.X_OK):
        unavailable(f"{NGINX} is missing: `make nginx` installs Debian's nginx")
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DATABASE_URL")},
        "DJANGO_SETTINGS_MODULE": "videoproc.settings",
        "DATABASE_URL": f"sqlite:///{folder / 'db.sqlite3'}",
        "CELERY_BROKER_URL": "",
        "MEDIA_ROOT": str(folder / "media"),
        "DATA_DIR": str(folder / "data"),
        "MAX_UPLOAD_SIZE": str(MAX_UPLOAD_SIZE),
        "STORAGE_ACCEL_REDIRECT": "/_protected/",
        **env,
    }
    stack = Stack(free_port(), free_port(), folder / "media", env)
    gunicorn_port, nginx_port = stack.gunicorn_port, stack.nginx_port
    migrate = [sys.executable, "manage.py", "migrate", "-v0"]
    subprocess.run(migrate, cwd=BASE_DIR, env=env, check=True)
    render = [sys.executable, "deploy/render_nginx.py", "--out", str(folder / "nginx")]
    render += ["--listen", f"127.0.0.1:{nginx_port}", "--upstream", f"127.0.0.1:{gunicorn_port}"]
    subprocess.run([*render, *render_args], cwd=BASE_DIR, env=env, check=True)
    gunicorn_log, nginx_log = folder / "gunicorn.log", folder / "nginx" / "error.log"
    gunicorn = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "videoproc.wsgi:application",
            "--bind",
            f"127.0.0.1:{gunicorn_port}",
            "--workers",
            "1",
            "--worker-class",
            "gthread",
            "--threads",
            str(GUNICORN_THREADS),
            "--worker-connections",
            str(GUNICORN_THREADS),
            "--timeout",
            "0",
        ],
        cwd=BASE_DIR,
        env=env,
        stdout=gunicorn_log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    nginx = subprocess.Popen(
        [
            NGINX,
            "-p",
            str(folder / "nginx"),
            "-c",
            "nginx.conf",
            "-e",
            "error.log",
            "-g",
            "daemon off;",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(folder / "nginx-stderr.log").open("w"),
        start_new_session=True,
    )
    try:
        wait_for(
            lambda: listening(gunicorn_port, gunicorn, gunicorn_log), timeout=60, what="gunicorn"
        )
        wait_for(lambda: listening(nginx_port, nginx, nginx_log), timeout=30, what="nginx")
        stack.gunicorn_process = gunicorn
        # the worker's first answer (Django loading) is not what the tests time
        requests.get(f"{stack.gunicorn}/video/view/all", allow_redirects=False, timeout=60)
        yield stack
    finally:
        stop(nginx)
        stop(gunicorn)


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[Stack]:
    with start_stack(tmp_path_factory.mktemp("proxy")) as started:
        yield started


@pytest.fixture(scope="module")
def clip_file(tmp_path_factory) -> Path:
    return make_media(tmp_path_factory.mktemp("clip") / "clip é.mp4", duration=1.0)


def put(base: str, path: Path) -> requests.Response:
    with path.open("rb") as handle:
        return requests.put(
            f"{base}/video/upload", files={"files": (path.name, handle)}, timeout=60
        )


@pytest.fixture(scope="module")
def stored(stack, clip_file) -> str:
    """The clip uploaded through nginx: its /storage/ URL path."""
    response = put(stack.nginx, clip_file)
    assert response.status_code == 200, response.text
    return response.json()[0]["original_file_path"].removeprefix(".")


def test_slow_clients_do_not_delay_requests_through_nginx(stack):
    # given twenty clients sending headers or an upload body a byte every 0.5 s, beyond
    # nginx's 10 s header timeout (so the header senders are dropped and come back)
    with SlowClients("127.0.0.1", stack.nginx_port, 20) as clients:
        wait_for(lambda: clients.connections >= 20, timeout=10, what="slow clients")
        # when ordinary requests are made meanwhile
        took = probe("127.0.0.1", stack.nginx_port, seconds=12)
    # then each answers within a second, and nginx dropped the stalled header senders
    assert len(took) >= 20
    assert max(took) < 1, took
    assert clients.dropped >= 10


def test_the_same_slow_clients_stall_gunicorn_alone(stack):
    """What the proxy is for: the same twenty clients straight at gunicorn hold every
    thread it has, and ordinary requests wait (here: the probe's 5 s timeout)."""
    with SlowClients("127.0.0.1", stack.gunicorn_port, 20) as clients:
        wait_for(lambda: clients.connections >= GUNICORN_THREADS, timeout=10, what="slow clients")
        took = probe("127.0.0.1", stack.gunicorn_port, seconds=3)
    assert max(took) >= 1, took
    # and once they are gone it answers again
    assert max(probe("127.0.0.1", stack.gunicorn_port, seconds=1)) < 1


def test_make_run_alone_holds_twenty_slow_clients(tmp_path):
    """Plain `make run` (no proxy) as far as gunicorn allows: with its threads and one
    connection per thread and worker, twenty slow clients leave room for others."""
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DATABASE_URL")},
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "CELERY_BROKER_URL": "",
        "MEDIA_ROOT": str(tmp_path / "media"),
        "DATA_DIR": str(tmp_path / "data"),
        "MAKEFLAGS": "",
    }
    log = tmp_path / "make-run.log"
    server = subprocess.Popen(
        ["make", "--no-print-directory", "run", f"PORT={port}", f"VENV={Path(sys.prefix)}"],
        cwd=BASE_DIR,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_for(lambda: listening(port, server, log), timeout=120, what="make run")
        requests.get(f"http://127.0.0.1:{port}/video/view/all", timeout=60)
        with SlowClients("127.0.0.1", port, 20) as clients:
            wait_for(lambda: clients.connections >= 20, timeout=10, what="slow clients")
            took = probe("127.0.0.1", port, seconds=6)
        assert max(took) < 1, took
    finally:
        stop(server)


@pytest.mark.parametrize(
    "range_header",
    [
        None,
        "bytes=0-99",
        "bytes=100-",
        "bytes=-500",
        "bytes=1000-1999",
        "bytes=0-999999999",
        "bytes=999999999-",
    ],
)
def test_downloads_through_nginx_answer_as_django_does(stack, stored, settings, range_header):
    # given the file nginx sends for Django, and Django's own answer without a proxy
    headers = {"Range": range_header} if range_header else {}
    through_nginx = requests.get(stack.nginx + quote(stored), headers=headers, timeout=30)
    settings.MEDIA_ROOT, settings.STORAGE_ACCEL_REDIRECT = stack.media, ""
    by_django = Client().get(stored, headers=headers)
    # then status, range and bytes agree, and the bytes are the file's
    assert through_nginx.status_code == by_django.status_code
    assert through_nginx.headers.get("Content-Range") == by_django.get("Content-Range")
    if by_django.status_code in (200, 206):
        expected = b"".join(by_django.streaming_content)
        assert through_nginx.content == expected
        assert through_nginx.headers["Content-Type"] == "video/mp4"
        if not range_header:
            assert through_nginx.headers["Accept-Ranges"] == "bytes"
        whole = (stack.media / stored.removeprefix("/storage/")).read_bytes()
        start = int(by_django["Content-Range"].split()[1].split("-")[0]) if range_header else 0
        assert expected == whole[start : start + len(expected)]


def test_nginx_sends_the_file_django_authorised(stack, stored):
    # gunicorn itself answers with headers only: the worker is free at once
    direct = requests.get(stack.gunicorn + quote(stored), timeout=30)
    assert direct.headers["X-Accel-Redirect"] == quote(stored.replace("/storage/", "/_protected/"))
    assert direct.content == b""
    # and nginx sends the file from its internal location (nginx's own validators)
    through_nginx = requests.get(stack.nginx + quote(stored), timeout=30)
    assert through_nginx.status_code == 200
    assert "X-Accel-Redirect" not in through_nginx.headers
    assert through_nginx.headers["ETag"] and through_nginx.headers["Last-Modified"]


def test_with_accounts_nginx_sends_only_what_django_authorised(tmp_path, clip_file):
    # given accounts required, and a user with a token who uploaded through nginx
    with start_stack(tmp_path / "stack", API_AUTH="required") as stack:
        command = [sys.executable, "manage.py", "create_token", "alice"]
        made = subprocess.run(
            command, cwd=BASE_DIR, env=stack.env, capture_output=True, text=True, check=True
        )
        token = {"Authorization": f"Token {made.stdout.split()[-1]}"}
        with clip_file.open("rb") as handle:
            uploaded = requests.put(
                f"{stack.nginx}/video/upload", headers=token, files={"files": handle}, timeout=60
            )
        assert uploaded.status_code == 200, uploaded.text
        library = requests.get(f"{stack.nginx}/page/library", headers=token, timeout=30)
        [video] = library.json()
        signed = stack.nginx + video["url"]
        plain = signed.split("?")[0]
        tampered = signed[:-1] + ("A" if signed[-1] != "A" else "B")
        # when the signed link is fetched with a Range and no credentials
        part = requests.get(signed, headers={"Range": "bytes=10-109"}, timeout=30)
        # then nginx sends those bytes of the file
        assert part.status_code == 206
        assert part.content == clip_file.read_bytes()[10:110]
        # and without Django's consent nothing is sent
        refused = [
            requests.get(plain, timeout=30),
            requests.get(tampered, timeout=30),
            requests.get(plain.replace("/storage/", "/_protected/"), timeout=30),
        ]
        assert [response.status_code for response in refused] == [401, 403, 404]
        assert all(clip_file.read_bytes()[:100] not in r.content for r in refused)


def test_storage_through_nginx_refuses_what_django_refuses(stack):
    missing = requests.get(f"{stack.nginx}/storage/origin/missing.mp4", timeout=30)
    assert missing.status_code == 404 and "detail" in missing.json()
    # the internal location is not reachable from outside
    (stack.media / "origin" / "direct.mp4").write_bytes(b"secret")
    internal = requests.get(f"{stack.nginx}/_protected/origin/direct.mp4", timeout=30)
    assert internal.status_code == 404


def test_nginx_does_not_follow_a_symlink_in_the_media_folder(stack, tmp_path):
    outside = tmp_path / "outside.mp4"
    outside.write_bytes(b"not for you")
    (stack.media / "origin" / "link.mp4").symlink_to(outside)
    response = requests.get(f"{stack.nginx}/storage/origin/link.mp4", timeout=30)
    assert response.status_code in (403, 404)
    assert b"not for you" not in response.content


def test_uploads_through_nginx_store_the_same_bytes(stack, clip_file):
    response = put(stack.nginx, clip_file)
    assert response.status_code == 200, response.text
    name = response.json()[0]["original_file_path"].removeprefix("./storage/")
    stored_bytes = (stack.media / name).read_bytes()
    assert hashlib.sha256(stored_bytes).digest() == hashlib.sha256(clip_file.read_bytes()).digest()


def test_refused_uploads_answer_alike_with_and_without_nginx(stack, tmp_path):
    fake = tmp_path / "fake.mp4"
    fake.write_bytes(b"not a video" * 100)
    big = tmp_path / "big.mp4"
    big.write_bytes(os.urandom(MAX_UPLOAD_SIZE + 1))
    for path, status in ((fake, 415), (big, 413)):
        direct, proxied = put(stack.gunicorn, path), put(stack.nginx, path)
        assert direct.status_code == proxied.status_code == status
        assert "detail" in direct.json() and "detail" in proxied.json()
    # nginx's buffered copies of the bodies are gone
    buffered = (stack.media.parent / "nginx" / "client_body").rglob("*")
    assert [path for path in buffered if path.is_file()] == []


def tls_pair(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "cert.pem", folder / "key.pem"
    if not shutil.which("openssl"):
        unavailable("openssl is missing (Debian: apt-get install openssl)")
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def test_tls_at_the_proxy_is_what_django_sees(tmp_path):
    # given nginx ending TLS and Django told so (BEHIND_TLS_PROXY)
    cert, key = tls_pair(tmp_path)
    tls_port = free_port()
    args = ("--tls-listen", f"127.0.0.1:{tls_port}", "--tls-cert", str(cert), "--tls-key", str(key))
    with start_stack(tmp_path / "stack", args, BEHIND_TLS_PROXY="true") as stack:
        https = f"https://127.0.0.1:{tls_port}"
        # then HTTPS requests are served as secure (cookies and HSTS follow from it) ...
        response = requests.get(f"{https}/video/view/all", verify=str(cert), timeout=30)
        assert response.status_code == 200
        # ... and plain HTTP is sent to HTTPS, even when the client claims otherwise
        for headers in ({}, {"X-Forwarded-Proto": "https"}):
            plain = requests.get(
                f"{stack.nginx}/video/view/all", headers=headers, allow_redirects=False, timeout=30
            )
            assert plain.status_code == 301
            assert plain.headers["Location"].startswith("https://")


@contextmanager
def small_tmpfs(folder: Path, size: int) -> Iterator[Path]:
    folder.mkdir(parents=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        unavailable(f"cannot mount a tmpfs here (root needed): {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "--lazy", str(folder)], check=True)


def test_nginx_own_refusals_keep_the_api_shape(tmp_path, clip_file):
    # given nginx whose folder for buffered bodies is a 1 MB disk
    big = tmp_path / "big.mp4"
    big.write_bytes(os.urandom(1_500_000))  # under MAX_UPLOAD_SIZE, over the disk
    with (
        small_tmpfs(tmp_path / "stack" / "nginx" / "client_body", 1024 * 1024) as body_disk,
        start_stack(tmp_path / "stack") as stack,
    ):
        # when an upload does not fit: 507 {"detail"}, nothing left on that disk
        response = put(stack.nginx, big)
        assert response.status_code == 507, (response.headers, response.text)
        assert "detail" in response.json()
        assert [path for path in body_disk.rglob("*") if path.is_file()] == []
        # and the next one that fits is stored as usual
        assert put(stack.nginx, clip_file).status_code == 200
        # when gunicorn is gone: 502 {"detail"}
        stop(stack.gunicorn_process)
        response = requests.get(f"{stack.nginx}/video/view/all", timeout=30)
        assert response.status_code == 502
        assert "detail" in response.json()
