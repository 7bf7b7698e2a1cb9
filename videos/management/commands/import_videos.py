from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from videoproc.access import command_owner
from videoproc.errors import ServiceError
from videos import services

from ._progress import progress_line


class Command(BaseCommand):
    help = (
        "Import video files as uploads, with the same checks as the upload API. A folder "
        "is searched recursively. Files are copied into storage; the originals stay. "
        "Prints a summary of imported and refused files, and exits non-zero if any was "
        "refused."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "paths", nargs="+", type=Path, metavar="PATH", help="a video file or a folder"
        )
        parser.add_argument(
            "--user", help="the owner of the imported videos (required with API_AUTH=required)"
        )

    def handle(self, *args, paths: list[Path], user: str | None, **options):
        owner = command_owner(user)
        files = candidate_files(paths)
        imported, refused = [], []
        for done, path in enumerate(files, 1):
            try:
                video = services.video_import(path=path, owner=owner)
            except (ServiceError, OSError) as error:
                reason = getattr(error, "detail", None) or str(error)
                refused.append((path, reason))
                outcome = self.style.ERROR(f"refused: {reason}")
            else:
                imported.append((path, video))
                outcome = self.style.SUCCESS(f"imported as video {video.id}")
            self.stdout.write(progress_line(done, len(files), f"{path}: {outcome}"))
        self.stdout.write(f"\nImported {len(imported)} of {len(files)} file(s).")
        for path, video in imported:
            self.stdout.write(f"  video {video.id}: {path} -> {video.file.name}")
        if refused:
            self.stdout.write(f"Refused {len(refused)} file(s):")
            for path, reason in refused:
                self.stdout.write(f"  {path}: {reason}")
            raise CommandError(f"{len(refused)} of {len(files)} file(s) were refused")


def candidate_files(paths: list[Path]) -> list[Path]:
    """The files named, and every file under the folders named, in a stable order."""
    files = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.is_file())
        elif path.is_file():
            files.append(path)
        else:
            raise CommandError(f"{path} is neither a file nor a folder")
    if not files:
        raise CommandError("No files to import")
    return files
