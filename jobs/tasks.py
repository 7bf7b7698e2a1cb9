"""Celery tasks: each loads its job by id and calls one service; the logic lives there."""

from celery import shared_task

from . import services


@shared_task
def run_job(job_id: int, dispatch_token: str) -> None:
    services.job_run_dispatched(job_id=job_id, dispatch_token=dispatch_token)


@shared_task
def recover_jobs() -> None:
    services.jobs_recover()
