from django.core.management.base import BaseCommand, CommandError

from videoproc.errors import ServiceError
from videos import services
from videos.models import Video

from ._progress import progress_line


class Command(BaseCommand):
    help = (
        "Probe stored videos again with ffprobe and refresh their metadata and poster "
        "frames (all of them, or those given by id). Exits non-zero if any could not be "
        "probed."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "video_ids", nargs="*", type=int, metavar="VIDEO_ID", help="only these videos"
        )

    def handle(self, *args, video_ids: list[int], **options):
        videos = Video.objects.order_by("id")
        if video_ids:
            videos = videos.filter(pk__in=video_ids)
        videos = list(videos)
        if not videos:
            raise CommandError("No videos to probe")
        failed = 0
        for done, video in enumerate(videos, 1):
            try:
                services.video_refresh(video=video)
            except ServiceError as error:
                failed += 1
                outcome = self.style.ERROR(f"failed: {error.detail}")
            else:
                outcome = self.style.SUCCESS(
                    f"{video.video_codec} {video.resolution} {video.duration:.2f}s"
                    + ("" if video.thumbnail else " (no poster)")
                )
            label = f"video {video.id} ({video.file.name}): {outcome}"
            self.stdout.write(progress_line(done, len(videos), label))
        self.stdout.write(f"\nRefreshed {len(videos) - failed} of {len(videos)} video(s).")
        if failed:
            raise CommandError(f"{failed} video(s) could not be probed")
