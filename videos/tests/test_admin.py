"""The Video admin: the list, the change page's player, and deletion with its files."""

import pytest
from django.core.files.storage import default_storage
from django.urls import reverse

from conftest import upload
from jobs.models import Job
from jobs.services import job_queue
from videos.models import Video

pytestmark = pytest.mark.django_db


@pytest.fixture
def video(uploaded) -> Video:
    return Video.objects.get(pk=uploaded["id"])


def test_list_shows_posters_and_searches_by_name(admin_client, video):
    response = admin_client.get(reverse("admin:videos_video_changelist"), {"q": "clip"})

    assert response.status_code == 200
    page = response.content.decode()
    assert default_storage.url(video.thumbnail.name) in page
    assert "clip.mp4" in page
    missing = admin_client.get(reverse("admin:videos_video_changelist"), {"q": "nothing"})
    assert "clip.mp4" not in missing.content.decode()


def test_change_page_plays_the_video_and_keeps_probed_fields_read_only(admin_client, video):
    response = admin_client.get(reverse("admin:videos_video_change", args=[video.pk]))

    page = response.content.decode()
    assert f'<video src="{default_storage.url(video.file.name)}"' in page
    # probed fields are shown, never as inputs
    assert "h264" in page
    assert 'name="video_codec"' not in page
    assert 'name="width"' not in page


def test_delete_removes_row_video_and_poster(
    admin_client, video, django_capture_on_commit_callbacks
):
    # given an unused video with its files
    names = [video.file.name, video.thumbnail.name]

    # when the admin confirms its deletion
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("admin:videos_video_delete", args=[video.pk]), {"post": "yes"}
        )

    # then the row and both files are gone
    assert response.status_code == 302
    assert not Video.objects.exists()
    assert not any(default_storage.exists(name) for name in names)


def test_delete_is_refused_while_a_pending_job_uses_the_video(admin_client, video):
    # given a pending trim of the video
    job_queue(
        request_code="me",
        kind="trim",
        params={"video_id": video.pk, "trim_start_ms": 0, "trim_end_ms": 500},
    )

    # when the admin tries to delete it
    response = admin_client.post(
        reverse("admin:videos_video_delete", args=[video.pk]), {"post": "yes"}, follow=True
    )

    # then it stays, with its file, and the admin says why
    assert Video.objects.filter(pk=video.pk).exists()
    assert default_storage.exists(video.file.name)
    assert "cannot be deleted: pending or running job" in response.content.decode()


def test_bulk_delete_deletes_the_free_and_keeps_the_busy(
    admin_client, api, clip, video, django_capture_on_commit_callbacks
):
    # given two videos, one of which a pending job needs
    free = Video.objects.get(pk=upload(api, clip).json()[0]["id"])
    job_queue(
        request_code="me",
        kind="trim",
        params={"video_id": video.pk, "trim_start_ms": 0, "trim_end_ms": 500},
    )

    # when both are deleted with the bulk action, confirmed
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("admin:videos_video_changelist"),
            {"action": "delete_selected", "_selected_action": [video.pk, free.pk], "post": "yes"},
            follow=True,
        )

    # then only the free one is gone, files and all; the refusal is shown
    assert list(Video.objects.values_list("pk", flat=True)) == [video.pk]
    assert not default_storage.exists(free.file.name)
    assert not default_storage.exists(free.thumbnail.name)
    assert default_storage.exists(video.file.name)
    assert f"Video {video.pk} cannot be deleted" in response.content.decode()
    assert Job.objects.get().status == Job.Status.PENDING


def test_bulk_delete_asks_for_confirmation_first(admin_client, video):
    response = admin_client.post(
        reverse("admin:videos_video_changelist"),
        {"action": "delete_selected", "_selected_action": [video.pk]},
    )

    assert response.status_code == 200
    assert "Are you sure" in response.content.decode()
    assert Video.objects.filter(pk=video.pk).exists()
