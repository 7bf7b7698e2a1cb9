from django.core.management.base import BaseCommand

from jobs import services


class Command(BaseCommand):
    help = (
        "Recover jobs left running by a worker or server that died (no heartbeat for "
        "JOB_HEARTBEAT_TIMEOUT seconds): hand them to workers again (with a broker) or "
        "put them back to pending; fail those that used up JOB_MAX_ATTEMPTS. Celery beat "
        "runs the same periodically."
    )

    def handle(self, *args, **options):
        jobs = services.jobs_recover()
        for job in jobs:
            self.stdout.write(
                f"job {job.id}: {job.status}" + (f" ({job.error})" if job.error else "")
            )
        self.stdout.write(self.style.SUCCESS(f"{len(jobs)} stalled jobs recovered"))
