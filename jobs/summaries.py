"""One line saying what a job does, for the admin and the commands (the page has its own,
in page.js)."""

from .models import Job
from .timecodes import format_ms


def input_name(ref) -> str:
    """A video id, or {"job_id": N}: the output of a job not run yet."""
    return f"output of job {ref['job_id']}" if isinstance(ref, dict) else f"video {ref}"


def segment_summary(segment: dict) -> str:
    return (
        f"{input_name(segment['video_id'])} {format_ms(segment['start_ms'])}–"
        f"{format_ms(segment['end_ms'])} ms"
    )


def job_summary(job: Job) -> str:
    params = job.params
    if job.kind == Job.Kind.TRIM:
        return (
            f"{input_name(params['video_id'])}, {format_ms(params['trim_start_ms'])}–"
            f"{format_ms(params['trim_end_ms'])} ms"
        )
    normalized = ", normalised" if params.get("normalize") else ""
    if job.kind == Job.Kind.CONCAT:
        return " + ".join(map(input_name, params["video_ids"])) + normalized
    if job.kind == Job.Kind.EDIT:
        return " + ".join(map(segment_summary, params["segments"])) + normalized
    return (
        f"{input_name(params['video_id'])} to {params['video_codec']}/{params['audio_codec']}, "
        f"{params['resolution']}, {params['frame_rate']} fps"
    )
