from django.core.management.base import BaseCommand

from videos.resumable import resumable_expire


class Command(BaseCommand):
    help = (
        "Delete resumable (tus) uploads past their expiry (TUS_EXPIRE_HOURS after their "
        "last bytes): unfinished ones with the bytes received; finished ones are only "
        "forgotten, their videos stay. Run it from cron, e.g. hourly."
    )

    def handle(self, *args, **options):
        count = resumable_expire()
        self.stdout.write(f"{count} expired upload{'' if count == 1 else 's'} deleted")
