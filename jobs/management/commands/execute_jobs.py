from django.core.management.base import BaseCommand, CommandError
from rest_framework import status

from jobs import services
from jobs.kinds import job_summary
from jobs.models import Job
from videoproc.access import command_owner, scoped
from videoproc.errors import ServiceError


class Command(BaseCommand):
    help = (
        "Run the pending jobs of one request code (of one --user) in id order, exactly as "
        "POST /video/process/execute does, and print each job's outcome. Exits non-zero "
        "if there was nothing to run or any job failed."
    )

    def add_arguments(self, parser):
        parser.add_argument("--request-code", required=True, help="whose pending jobs to run")
        parser.add_argument(
            "--user", help="the request code's owner (required with API_AUTH=required)"
        )

    def handle(self, *args, request_code: str, user: str | None, **options):
        owner = command_owner(user)
        queued = list(
            scoped(Job.objects.all(), owner)
            .filter(request_code=request_code, status=Job.Status.PENDING)
            .values_list("id", flat=True)
        )
        failure = None
        try:
            services.jobs_execute(request_code=request_code, owner=owner)
        except ServiceError as error:
            if error.status_code < status.HTTP_500_INTERNAL_SERVER_ERROR:
                raise CommandError(error.detail) from None
            failure = error.detail
        for job in Job.objects.filter(pk__in=queued).select_related("output_video"):
            self.stdout.write(describe(job, self.style))
        if failure:
            raise CommandError(failure)


def describe(job: Job, style) -> str:
    """The job's outcome, then what it was asked to do."""
    what = f"\n    {job_summary(job.kind, job.params)}"
    if job.status == Job.Status.SUCCEEDED:
        video = job.output_video
        return (
            style.SUCCESS(
                f"job {job.id} ({job.kind}) succeeded: video {video.id} at {video.api_path}"
            )
            + what
        )
    return style.ERROR(f"job {job.id} ({job.kind}) {job.status}: {job.error}") + what
