from django.core.management.base import BaseCommand, CommandError

from videos import services


class Command(BaseCommand):
    help = (
        "Find stored files (in origin/, modi/ and thumbs/) that no video refers to, and "
        "videos whose file is gone. Only reports them unless --delete is given. The "
        "scratch folder is never touched; a video a pending or running job needs is kept."
    )

    def add_arguments(self, parser):
        parser.add_argument("--delete", action="store_true", help="delete the files and rows found")

    def handle(self, *args, delete: bool, **options):
        audit = services.media_cleanup(delete=delete)
        verb = "Deleted" if delete else "Would delete"
        self.stdout.write(f"Files with no video: {len(audit.orphan_files)}")
        for name in audit.orphan_files:
            self.stdout.write(f"  {name}")
        self.stdout.write(f"Videos whose file is gone: {len(audit.missing_files)}")
        for video in audit.missing_files:
            kept = audit.refused.get(video.id)
            self.stdout.write(
                f"  video {video.id}: {video.file.name}" + (f" (kept: {kept})" if kept else "")
            )
        removed_rows = len(audit.missing_files) - len(audit.refused)
        self.stdout.write(f"{verb} {len(audit.orphan_files)} file(s) and {removed_rows} video(s).")
        if not delete and (audit.orphan_files or audit.missing_files):
            self.stdout.write("This was a dry run: add --delete to act.")
        if audit.refused:
            raise CommandError(f"{len(audit.refused)} video(s) were kept: a job still needs them")
