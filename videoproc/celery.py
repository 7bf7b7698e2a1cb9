"""The Celery app: workers run `celery -A videoproc worker`; settings are the CELERY_* ones."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "videoproc.settings")

app = Celery("videoproc")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
