from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError

from videoproc.access import token_create, user_get_or_create


class Command(BaseCommand):
    help = (
        "Create an API token for USERNAME, creating the user first if missing (with no "
        "password: `manage.py changepassword USERNAME` lets them sign in on the page). The "
        "key is printed as the last line, this once; only its hash is stored."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument(
            "--days", type=int, help="days until the token stops working (default: never)"
        )

    def handle(self, *args, username: str, days: int | None, **options):
        if days is not None and days <= 0:
            raise CommandError("--days must be a positive number of days")
        user, created = user_get_or_create(username=username)
        if created:
            self.stdout.write(f"Created user {username}")
        token, key = token_create(user=user, expires_in=timedelta(days=days) if days else None)
        until = f"expires {token.expiry:%Y-%m-%d %H:%M} UTC" if token.expiry else "never expires"
        self.stdout.write(
            f"API token for {username} ({until}); send it as 'Authorization: Token <key>':"
        )
        self.stdout.write(key)
