from django.core.management.base import BaseCommand, CommandError

from videos import timelines
from videos.models import Timeline, Video

from ._progress import progress_line


class Command(BaseCommand):
    help = (
        "Make the timeline data (storyboard, peaks, keyframes) of stored videos, here and "
        "now, one after another: all of them, those given by id, or with --missing only "
        "those without a ready timeline. Exits non-zero if any could not be made."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "video_ids", nargs="*", type=int, metavar="VIDEO_ID", help="only these videos"
        )
        parser.add_argument(
            "--missing", action="store_true", help="only videos without a ready timeline"
        )

    def handle(self, *args, video_ids: list[int], missing: bool, **options):
        videos = Video.objects.order_by("id")
        if video_ids:
            videos = videos.filter(pk__in=video_ids)
        if missing:
            videos = videos.exclude(timeline__state=Timeline.State.READY)
        videos = list(videos)
        if not videos:
            self.stdout.write("No videos to make timelines for.")
            return
        failed = 0
        for done, video in enumerate(videos, 1):
            # A new attempt, made in this process (any other maker of an older attempt
            # finds itself replaced and drops its work).
            row = timelines.timeline_begin(video=video, force=True, send=False)
            timelines.timeline_make(video_id=video.id, attempt=row.attempt)
            row.refresh_from_db()
            if row.state == Timeline.State.READY:
                outcome = self.style.SUCCESS(
                    f"{len(row.keyframes_ms)} keyframes, {len(row.sprites)} sprite sheet(s)"
                    + ("" if row.waveform else ", no sound")
                )
            else:
                failed += 1
                outcome = self.style.ERROR(f"failed: {row.error}")
            label = f"video {video.id} ({video.file.name}): {outcome}"
            self.stdout.write(progress_line(done, len(videos), label))
        self.stdout.write(f"\nMade {len(videos) - failed} of {len(videos)} timeline(s).")
        if failed:
            raise CommandError(f"{failed} timeline(s) could not be made")
