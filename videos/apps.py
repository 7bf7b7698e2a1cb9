from pathlib import Path

from django.apps import AppConfig
from django.conf import settings
from django.core.signals import setting_changed

from .engine.tools import configure

# The Django settings the engine reads, by the engine's own names (videos/engine/tools.py).
ENGINE_SETTINGS = {
    "FFMPEG_BINARY": "ffmpeg",
    "FFPROBE_BINARY": "ffprobe",
    "FFPROBE_TIMEOUT": "probe_timeout",
    "JOB_TIME_LIMIT": "time_limit",
    "FFMPEG_MEMORY_LIMIT_MB": "memory_limit_mb",
    "FFMPEG_THREADS": "threads",
    "SCRATCH_DIR": "scratch_dir",
    "FFMPEG_ANSWERS_DIR": "answers_dir",
}
PRIVATE_FOLDERS = {"SCRATCH_DIR", "MEDIA_ROOT"}


def configure_engine(**_signal) -> None:
    """Hand the engine the settings it reads (again, when a test changes one)."""
    configure(
        **{name: getattr(settings, setting) for setting, name in ENGINE_SETTINGS.items()},
        private_folders=tuple(
            str(Path(getattr(settings, name)).resolve()) for name in sorted(PRIVATE_FOLDERS)
        ),
    )


class VideosConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "videos"

    def ready(self):
        # Uploads stream into the scratch directory, so it must exist before the first one.
        Path(settings.SCRATCH_DIR).mkdir(parents=True, exist_ok=True)
        configure_engine()
        setting_changed.connect(configure_engine)
