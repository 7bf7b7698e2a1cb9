"""The manage.py commands, on real files made with lavfi."""

from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.management.base import CommandError

from conftest import ffprobe, make_media
from jobs.models import Job
from jobs.services import job_queue
from videos.models import Video

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.fixture
def folder(tmp_path) -> Path:
    """A folder with two good clips (one in a subfolder) and a text file posing as one."""
    folder = tmp_path / "incoming"
    (folder / "more").mkdir(parents=True)
    make_media(folder / "a.mp4", duration=1)
    make_media(folder / "more" / "b.webm", video="libvpx", audio="libopus", duration=1)
    (folder / "notes.mp4").write_text("not a video")
    return folder


def test_import_videos_takes_the_good_refuses_the_bad_and_keeps_originals(folder):
    # when the folder is imported
    out = StringIO()
    with pytest.raises(CommandError, match="1 of 3 file"):
        call_command("import_videos", str(folder), stdout=out)

    # then both clips are uploads, probed, with posters; the fake is refused with why
    videos = {Path(video.original_name).suffix: video for video in Video.objects.all()}
    assert set(videos) == {".mp4", ".webm"}
    assert videos[".webm"].video_codec == "vp8"
    assert all(v.kind == Video.Kind.UPLOAD for v in videos.values())
    assert all(default_storage.exists(v.thumbnail.name) for v in videos.values())
    stored = Path(default_storage.path(videos[".mp4"].file.name))
    assert ffprobe(stored)["streams"][0]["codec_name"] == "h264"
    output = out.getvalue()
    assert "[" + "#" * 24 + "] 3/3" in output
    assert "Imported 2 of 3 file(s)." in output
    assert "notes.mp4' is not a playable mp4 video" in output
    # and the operator's files are where they were
    assert (folder / "a.mp4").is_file() and (folder / "more" / "b.webm").is_file()


def test_import_videos_of_a_missing_path_is_a_user_error(tmp_path):
    with pytest.raises(CommandError, match="neither a file nor a folder"):
        call_command("import_videos", str(tmp_path / "nowhere"))
    assert not Video.objects.exists()


def test_probe_videos_refreshes_metadata_and_poster(uploaded):
    # given a row whose metadata went stale and whose poster was lost
    video = Video.objects.get(pk=uploaded["id"])
    default_storage.delete(video.thumbnail.name)
    Video.objects.filter(pk=video.pk).update(video_codec="stale", width=1, thumbnail="")

    # when it is probed again
    output = run("probe_videos")

    # then the row holds the truth again, with a new poster
    video.refresh_from_db()
    assert (video.video_codec, video.width, video.height) == ("h264", 320, 240)
    assert default_storage.exists(video.thumbnail.name)
    assert "Refreshed 1 of 1 video(s)." in output


def test_probe_videos_reports_a_missing_file(uploaded):
    video = Video.objects.get(pk=uploaded["id"])
    default_storage.delete(video.file.name)

    out = StringIO()
    with pytest.raises(CommandError, match="1 video"):
        call_command("probe_videos", stdout=out)

    assert f"The file of video {video.id} is missing from storage" in out.getvalue()


def test_cleanup_media_dry_run_reports_and_keeps_everything(uploaded, media_root):
    # given a stray file, a row whose file is gone, and a scratch file
    stray = default_storage.save("modi/stray.mp4", StringIO("x"))
    video = Video.objects.get(pk=uploaded["id"])
    default_storage.delete(video.file.name)
    (settings.SCRATCH_DIR / "upload-in-flight").write_text("x")

    output = run("cleanup_media")

    assert "modi/stray.mp4" in output
    assert f"video {video.id}: {video.file.name}" in output
    assert "dry run" in output
    assert default_storage.exists(stray)
    assert Video.objects.filter(pk=video.pk).exists()
    assert "upload-in-flight" not in output


def test_cleanup_media_delete_removes_strays_and_dead_rows(
    uploaded, media_root, django_capture_on_commit_callbacks
):
    # given a stray file, a row whose file is gone (its poster still there), a scratch file
    stray = default_storage.save("thumbs/stray.jpg", StringIO("x"))
    video = Video.objects.get(pk=uploaded["id"])
    default_storage.delete(video.file.name)
    scratch = settings.SCRATCH_DIR / "upload-in-flight"
    scratch.write_text("x")

    # when cleaned up for real
    with django_capture_on_commit_callbacks(execute=True):
        output = run("cleanup_media", "--delete")

    # then the stray, the row and its poster are gone; the scratch file stays
    assert "Deleted 1 file(s) and 1 video(s)." in output
    assert not default_storage.exists(stray)
    assert not Video.objects.exists()
    assert not default_storage.exists(video.thumbnail.name)
    assert scratch.exists()


def test_cleanup_media_keeps_a_row_a_pending_job_needs(uploaded):
    video = Video.objects.get(pk=uploaded["id"])
    job_queue(
        request_code="me",
        kind="trim",
        params={"video_id": video.pk, "trim_start_ms": 0, "trim_end_ms": 500},
    )
    default_storage.delete(video.file.name)

    with pytest.raises(CommandError, match="kept"):
        call_command("cleanup_media", "--delete", stdout=StringIO())

    assert Video.objects.filter(pk=video.pk).exists()
    assert Job.objects.get().status == Job.Status.PENDING


@pytest.mark.parametrize(
    "command", ["import_videos", "probe_videos", "cleanup_media", "execute_jobs"]
)
def test_every_command_explains_itself(command, capsys):
    with pytest.raises(SystemExit):
        call_command(command, "--help")
    assert len(capsys.readouterr().out.split("\n\n")[1]) > 60
