from django.core.management.base import BaseCommand

from jobs import services


class Command(BaseCommand):
    help = (
        "Recover jobs left running by a worker or server that died (no heartbeat for "
        "JOB_HEARTBEAT_TIMEOUT seconds): hand them to workers again (with a broker) or "
        "put them back to pending; cancel those whose cancel was asked meanwhile; fail "
        "those that used up JOB_MAX_ATTEMPTS. Every web process runs the same at start-up "
        "and every JOB_HEARTBEAT_INTERVAL seconds; this is for doing it by hand."
    )

    def handle(self, *args, **options):
        jobs = services.jobs_recover()
        for job in jobs:
            self.stdout.write(
                f"job {job.id}: {job.status}" + (f" ({job.error})" if job.error else "")
            )
        self.stdout.write(self.style.SUCCESS(f"{len(jobs)} stalled jobs recovered"))
