from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Sum

from jobs import services


class Command(BaseCommand):
    help = (
        "Give every video and job without an owner (made while API_AUTH was off) to "
        "USERNAME, so that with API_AUTH=required that user sees them. Rows that have an "
        "owner are left alone. Run it again for any made while it ran."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username: str, **options):
        owner = get_user_model().objects.filter(username=username).first()
        if owner is None:
            raise CommandError(f"No user named {username!r} (manage.py create_token makes one)")
        videos, jobs = services.ownerless_assign(owner=owner)
        self.stdout.write(
            self.style.SUCCESS(
                f"Gave {videos} videos and {jobs} jobs without an owner to {username}"
            )
        )
        quota = settings.USER_STORAGE_QUOTA
        used = owner.videos.aggregate(used=Sum("size"))["used"] or 0
        if quota and used > quota:
            self.stdout.write(
                self.style.WARNING(
                    f"{username} now stores {used} bytes, more than USER_STORAGE_QUOTA "
                    f"({quota}): their uploads are refused until they delete some"
                )
            )
