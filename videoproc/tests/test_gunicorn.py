"""`make run`'s gunicorn (videoproc/gunicorn.conf.py), started for real: it binds HOST and
PORT, and refuses to serve the open API beyond loopback unless API_AUTH was said."""

import socket
import subprocess
import sys
import time

import pytest

from jobs.tests.integration import free_port
from videoproc.settings import BASE_DIR
from videoproc.tests.test_settings import fresh_env

START_TIMEOUT = 60  # seconds: a loaded 2-core machine imports Django slowly


def start(tmp_path, **env: str) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--config",
            "videoproc/gunicorn.conf.py",
            "--workers",
            "1",
            "videoproc.wsgi:application",
        ],
        cwd=BASE_DIR,
        env=fresh_env(DATA_DIR=str(tmp_path / "data"), **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def answers(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def serves(process: subprocess.Popen, port: int) -> bool:
    """Whether the server comes up and listens; it is stopped either way."""
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline and process.poll() is None:
            if answers(port):
                return True
            time.sleep(0.2)
        return False
    finally:
        process.terminate()
        process.communicate(timeout=30)


@pytest.mark.parametrize(
    "env",
    [
        {},  # loopback by default: accounts may stay off
        {"HOST": "0.0.0.0", "API_AUTH": "required"},
        {"HOST": "0.0.0.0", "API_AUTH": "off"},  # open, and said so
    ],
    ids=["loopback", "required", "explicitly-off"],
)
def test_gunicorn_starts(tmp_path, env):
    port = free_port()
    assert serves(start(tmp_path, PORT=str(port), **env), port)


@pytest.mark.parametrize("host", ["0.0.0.0", "::"])
def test_gunicorn_refuses_an_open_api_beyond_loopback(tmp_path, host):
    port = free_port()
    process = start(tmp_path, HOST=host, PORT=str(port))

    output, _ = process.communicate(timeout=START_TIMEOUT)

    assert process.returncode != 0
    assert "Refusing to start" in output and "API_AUTH=required" in output
    assert not answers(port)
