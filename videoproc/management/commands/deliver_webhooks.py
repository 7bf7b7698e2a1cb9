import time

from django.conf import settings
from django.core.management.base import BaseCommand

from videoproc import webhooks


class Command(BaseCommand):
    help = (
        "Send the webhook deliveries that are due, then stop; with --forever, keep sending "
        "(a sender of its own, beside the web processes' threads)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--forever", action="store_true", help="keep sending as they fall due")

    def handle(self, *args, forever: bool, **options):
        while True:
            tried = 0
            while sent := webhooks.deliveries_send_due():
                tried += sent
            self.stdout.write(f"{tried} deliveries tried")
            if not forever:
                return
            time.sleep(settings.WEBHOOK_SWEEP_INTERVAL)
