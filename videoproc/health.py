"""The health endpoint for load balancers (django-health-check): 200 when this web
process can do its work, 500 naming what is wrong otherwise."""

import dataclasses
import shutil

from django.conf import settings
from health_check.base import HealthCheck
from health_check.checks import Database, Storage
from health_check.contrib.redis import Redis
from health_check.exceptions import ServiceUnavailable
from health_check.views import HealthCheckView
from redis.asyncio import Redis as RedisClient

from jobs import recovery


@dataclasses.dataclass
class FFmpeg(HealthCheck):
    """The FFmpeg and ffprobe this server runs are there."""

    def run(self) -> None:
        for binary in (settings.FFMPEG_BINARY, settings.FFPROBE_BINARY):
            if shutil.which(binary) is None:
                raise ServiceUnavailable(f"{binary} is not found")


@dataclasses.dataclass
class Recovery(HealthCheck):
    """This process's job recovery has done a pass lately (jobs/recovery.py)."""

    def run(self) -> None:
        if not recovery.running():
            raise ServiceUnavailable("job recovery has not run lately in this process")


class HealthView(HealthCheckView):
    def get_checks(self):
        yield Database()
        yield Storage()
        yield FFmpeg()
        yield Recovery()
        if settings.CELERY_BROKER_URL:  # the broker jobs are sent through
            yield Redis(client_factory=lambda: RedisClient.from_url(settings.CELERY_BROKER_URL))
