"""Celery tasks of the videos app: each calls one service; the logic lives there."""

from celery import shared_task

from . import timelines


@shared_task
def make_timeline(video_id: int, attempt: str) -> None:
    """Make a video's timeline data (attempt: the Timeline row's token when it was sent;
    a message for a replaced attempt, or sent again after a worker died, does nothing
    new: the row decides)."""
    timelines.timeline_make(video_id=video_id, attempt=attempt)
