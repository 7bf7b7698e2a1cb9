"""Poster frames: grabbed once when a video is stored, gone when its file goes."""

from pathlib import Path

import pytest
from django.core.files.storage import default_storage

from conftest import ffprobe, make_media, upload
from jobs.models import Job
from jobs.services import job_queue, jobs_execute
from videos import services
from videos.engine import thumbnails
from videos.engine.media import FFmpegError
from videos.models import Video

pytestmark = pytest.mark.django_db


def poster_size(video: Video) -> tuple[int, int]:
    stream = ffprobe(Path(default_storage.path(video.thumbnail.name)))["streams"][0]
    return stream["codec_name"], stream["width"], stream["height"]


def test_upload_stores_a_small_jpeg_poster(api, tmp_path):
    # given a clip larger than the poster width
    clip = make_media(tmp_path / "wide.mp4", size="640x360", duration=1, audio=None)

    # when it is uploaded
    response = upload(api, clip)

    # then its row points at a 320 px wide JPEG in thumbs/, beside the video
    assert response.status_code == 200, response.content
    video = Video.objects.get()
    assert video.thumbnail.name.startswith("thumbs/wide_")
    assert poster_size(video) == ("mjpeg", 320, 180)


def test_a_failed_grab_keeps_the_upload_without_a_poster(api, clip, monkeypatch, caplog):
    # given FFmpeg that cannot grab a frame
    def broken(**kwargs):
        raise FFmpegError("no frame")

    monkeypatch.setattr(thumbnails, "poster_grab", broken)

    # when a clip is uploaded
    response = upload(api, clip)

    # then the upload succeeds, without a poster, and the failure is logged
    assert response.status_code == 200, response.content
    video = Video.objects.get()
    assert video.thumbnail.name == ""
    assert default_storage.exists(video.file.name)
    assert "no poster frame" in caplog.text


def test_job_outputs_get_a_poster(uploaded):
    # given a queued trim of an upload
    job_queue(
        request_code="me",
        kind="trim",
        params={"video_id": uploaded["id"], "trim_start_ms": 500, "trim_end_ms": 1500},
    )

    # when it runs
    jobs_execute(request_code="me")

    # then the result has its own poster
    result = Job.objects.get().output_video
    assert result.thumbnail.name.startswith("thumbs/clip_trim_")
    assert poster_size(result) == ("mjpeg", 320, 240)


def test_refused_upload_leaves_no_poster_behind(api, clip, tmp_path, media_root):
    # given a good clip and a text file named .mp4
    fake = tmp_path / "fake.mp4"
    fake.write_text("not a video")

    # when both are uploaded together
    response = upload(api, clip, fake)

    # then nothing at all is stored
    assert response.status_code == 415
    assert not any(path.is_file() for path in (media_root / "thumbs").rglob("*"))
    assert not Video.objects.exists()


def test_poster_past_the_last_frame_is_an_error(clip, tmp_path):
    with pytest.raises(FFmpegError):
        thumbnails.poster_grab(
            source=clip, demuxer="mov", duration=100, output=tmp_path / "poster.jpg"
        )


def test_video_files_delete_removes_video_and_poster(uploaded):
    video = Video.objects.get(pk=uploaded["id"])

    services.video_files_delete(video=video)

    assert not default_storage.exists(video.file.name)
    assert not default_storage.exists(video.thumbnail.name)
