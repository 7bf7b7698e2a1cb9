# Loaded with Django so that tasks are bound to this app when execute dispatches them.
from .celery import app as celery_app

__all__ = ("celery_app",)
