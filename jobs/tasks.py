"""Celery tasks: each loads its job by id and calls one service; the logic lives there."""

import os

from celery import shared_task

from . import services


@shared_task(bind=True)
def run_job(task, job_id: int, dispatch_token: str) -> None:
    services.job_run_dispatched(
        job_id=job_id,
        dispatch_token=dispatch_token,
        worker=f"{task.request.hostname} pid {os.getpid()}",
    )


@shared_task(bind=True)
def run_chunk(task, job_id: int, yielded: bool = False) -> None:
    services.chunk_run_dispatched(
        job_id=job_id, worker=f"{task.request.hostname} pid {os.getpid()}", yielded=yielded
    )
