"""What a job's webhook events say: its record, written to the outbox in the transaction
of the change (videoproc/webhooks.py). jobs/transitions.py announces each status a
requester hears of; queueing announces the new job."""

from videoproc import webhooks
from videos.serializers import VideoSerializer

from .models import Job

Status = Job.Status

# A status and the event that reports it. Pending again after a retry is queued again;
# given back after its process died, it is not news: it starts again.
EVENTS = {
    Status.RUNNING: webhooks.JOB_STARTED,
    Status.SUCCEEDED: webhooks.JOB_SUCCEEDED,
    Status.FAILED: webhooks.JOB_FAILED,
    Status.CANCELLED: webhooks.JOB_CANCELLED,
}


def job_record(job: Job) -> dict:
    """The job as events carry it: the API's names; a success carries its output video's
    record, a failure its reason (`error`)."""
    record = {
        "id": job.id,
        "request_code": job.request_code,
        "kind": job.kind,
        "status": job.status,
        "params": job.params,
        "error": job.error,
        "attempts": job.attempts,
        "output_video_id": job.output_video_id,
        "created_at": job.created_at.isoformat() if job.created_at else None,
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }
    if job.status == Status.SUCCEEDED and job.output_video is not None:
        record["output_video"] = VideoSerializer(job.output_video).data
    return record


def job_announce(job_id: int, *, type: str | None = None) -> None:
    """Inside the transaction of a job's change: the event of its status now (or `type`)."""
    job = Job.objects.select_related("output_video").get(pk=job_id)
    event = type or EVENTS.get(job.status)
    if event is not None:
        webhooks.event_emit(
            type=event, subject=f"job:{job.id}", owner_id=job.owner_id, data=job_record(job)
        )
