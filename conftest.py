"""Fixtures shared by every app's tests: a private media root, and real media made with
FFmpeg's lavfi sources (tiny and quick)."""

import json
import subprocess
from pathlib import Path

import pytest
from django.core.cache import cache
from knox.models import AuthToken
from rest_framework.test import APIClient

# Celery workers, the broker and S3 for the integration tests (run apart by `make test`).
pytest_plugins = ["jobs.tests.integration"]


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path, monkeypatch):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.SCRATCH_DIR = tmp_path / "scratch"
    settings.FFMPEG_SLOTS_DIR = tmp_path / "ffmpeg-slots"
    settings.FFMPEG_ANSWERS_DIR = tmp_path / "ffmpeg-answers"
    settings.FILE_UPLOAD_TEMP_DIR = str(settings.SCRATCH_DIR)
    settings.SCRATCH_DIR.mkdir(parents=True)
    # No timeline made in the background behind a test's back (its files would land in
    # the next test's media, its work would delay the jobs a test times); the timeline
    # tests turn it on, or ask for one. The environment, too: for the workers and
    # servers the integration tests start.
    settings.TIMELINE_AUTO = False
    monkeypatch.setenv("TIMELINE_AUTO", "false")
    return settings.MEDIA_ROOT


@pytest.fixture
def api():
    return APIClient()


def make_media(
    path: Path,
    *,
    video: str | None = "libx264",
    audio: str | None = "aac",
    size: str = "320x240",
    rate: str = "25",
    duration: float = 2.0,
    extra: list[str] | None = None,
    audio_rate: int = 44100,
) -> Path:
    """A test clip: a moving test pattern whose every frame differs, and a tone."""
    inputs, outputs = [], []
    if video:
        inputs += ["-f", "lavfi", "-i", f"testsrc2=s={size}:r={rate}:d={duration}"]
        outputs += ["-c:v", video]
        if video != "mjpeg":  # MJPEG wants full-range yuvj formats; let FFmpeg pick
            outputs += ["-pix_fmt", "yuv420p"]
    if audio:
        inputs += ["-f", "lavfi", "-i", f"sine=f=440:r={audio_rate}:d={duration}"]
        outputs += ["-c:a", audio]
    args = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *inputs, *outputs]
    args += [*(extra or []), str(path)]
    subprocess.run(args, check=True)
    return path


def ffprobe(path: Path, *extra: str) -> dict:
    completed = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-show_format",
            "-show_streams",
            "-of",
            "json",
            *extra,
            str(path),
        ],
        capture_output=True,
        check=True,
    )
    return json.loads(completed.stdout)


@pytest.fixture
def clip(tmp_path) -> Path:
    """A 2 s 320x240 25 fps H.264 + AAC mp4."""
    return make_media(tmp_path / "clip.mp4")


def upload(api, *paths: Path, method: str = "put"):
    handles = [open(path, "rb") for path in paths]
    try:
        return getattr(api, method)("/video/upload", {"files": handles}, format="multipart")
    finally:
        for handle in handles:
            handle.close()


@pytest.fixture
def uploaded(api, clip):
    """The clip, uploaded: its video record."""
    response = upload(api, clip)
    assert response.status_code == 200, response.content
    return response.json()[0]


@pytest.fixture
def accounts(settings):
    """API_AUTH=required, with no throttle counts left over from earlier tests."""
    settings.API_AUTH = "required"
    cache.clear()


@pytest.fixture
def user_api(accounts, django_user_model):
    """make(username): an API client with a token of a new user of that name (its
    `.user` is the user; the password is "pw-<username>")."""

    def make(username: str) -> APIClient:
        user = django_user_model.objects.create_user(username, password=f"pw-{username}")
        _, key = AuthToken.objects.create(user)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        client.user = user
        return client

    return make


@pytest.fixture
def alice(user_api):
    """A user with a token, as an API client; bob is another."""
    return user_api("alice")


@pytest.fixture
def bob(user_api):
    return user_api("bob")
