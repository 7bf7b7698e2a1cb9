from pathlib import Path

from django.apps import AppConfig
from django.conf import settings


class VideosConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "videos"

    def ready(self):
        # Uploads stream into the scratch directory, so it must exist before the first one.
        Path(settings.SCRATCH_DIR).mkdir(parents=True, exist_ok=True)
