"""Resumable uploads, tus 1.0 at /video/uploads/ (videos/resumable.py), through the API."""

import base64
import io
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone

from conftest import make_media
from videoproc.errors import ServiceError
from videos.models import ResumableUpload, Video
from videos.resumable import resumable_append
from videos.resumable_stores import LocalStore

pytestmark = pytest.mark.django_db

TUS = {"HTTP_TUS_RESUMABLE": "1.0.0"}


def metadata(**values: str) -> str:
    return ",".join(
        f"{key} {base64.b64encode(value.encode()).decode()}" for key, value in values.items()
    )


def create(api, *, length: int, filename: str = "clip.mp4"):
    return api.post(
        "/video/uploads/",
        HTTP_UPLOAD_LENGTH=str(length),
        HTTP_UPLOAD_METADATA=metadata(filename=filename),
        **TUS,
    )


def send(api, location: str, data: bytes, *, offset: int):
    return api.generic(
        "PATCH",
        location,
        data,
        content_type="application/offset+octet-stream",
        HTTP_UPLOAD_OFFSET=str(offset),
        **TUS,
    )


def upload_in_chunks(api, path: Path, *, chunk: int, filename: str | None = None):
    """Create and send a file a chunk per PATCH; the last PATCH's answer and the URL."""
    data = path.read_bytes()
    created = create(api, length=len(data), filename=filename or path.name)
    assert created.status_code == 201, created.content
    location = created["Location"]
    answer = None
    for start in range(0, len(data), chunk):
        answer = send(api, location, data[start : start + chunk], offset=start)
        if answer.status_code != 204:
            break
    return answer, location


def test_options_tells_the_protocol_and_the_size_limit(api, settings):
    answer = api.options("/video/uploads/")

    assert answer.status_code == 204
    assert answer["Tus-Resumable"] == "1.0.0"
    assert answer["Tus-Version"] == "1.0.0"
    assert set(answer["Tus-Extension"].split(",")) == {"creation", "termination", "expiration"}
    assert answer["Tus-Max-Size"] == str(settings.MAX_UPLOAD_SIZE)


def test_a_file_sent_in_chunks_becomes_the_video_a_plain_upload_makes(api, clip, media_root):
    # given a clip sent in three PATCHes
    answer, location = upload_in_chunks(api, clip, chunk=clip.stat().st_size // 3 + 1)

    # then the last PATCH stored it, and the URL answers its record as PUT /video/upload does
    assert answer.status_code == 204, answer.content
    assert answer["Upload-Offset"] == str(clip.stat().st_size)
    head = api.head(location, **TUS)
    assert head["Upload-Offset"] == head["Upload-Length"] == str(clip.stat().st_size)
    record = api.get(location)
    assert record.status_code == 200, record.content
    [video] = record.json()
    assert set(video) == {
        "id",
        "original_file_path",
        "processed_file_path",
        "trim_info",
        "concat_info",
        "encode_info",
    }
    assert video["original_file_path"].startswith("./storage/origin/clip_")
    stored = media_root / video["original_file_path"].removeprefix("./storage/")
    assert stored.read_bytes() == clip.read_bytes()
    row = Video.objects.get(pk=video["id"])
    assert (row.original_name, row.video_codec, row.kind) == ("clip.mp4", "h264", "upload")
    # and nothing is left in scratch
    assert not any(LocalStore().path(ResumableUpload.objects.get()).parent.glob("*.part"))


def test_head_tells_where_to_resume(api, clip):
    data = clip.read_bytes()
    location = create(api, length=len(data))["Location"]
    send(api, location, data[:1000], offset=0)

    head = api.head(location, **TUS)

    assert head.status_code == 200
    assert head["Upload-Offset"] == "1000"
    assert head["Upload-Length"] == str(len(data))
    assert head["Upload-Expires"]
    assert head["Cache-Control"] == "no-store"
    assert api.get(location).status_code == 409


def test_a_patch_at_another_offset_is_a_409_and_changes_nothing(api, clip):
    data = clip.read_bytes()
    location = create(api, length=len(data))["Location"]
    send(api, location, data[:1000], offset=0)

    behind = send(api, location, data[500:1500], offset=500)
    ahead = send(api, location, data[2000:3000], offset=2000)

    assert behind.status_code == ahead.status_code == 409
    assert "1000" in behind.json()["detail"]
    assert api.head(location, **TUS)["Upload-Offset"] == "1000"


def test_a_dropped_connection_keeps_the_bytes_that_arrived(api, clip):
    # given a PATCH whose body ends after 3000 of the 8000 bytes it declared (its client
    # went away; the test client cannot send that, so the service is given the stream)
    data = clip.read_bytes()
    location = create(api, length=len(data))["Location"]
    upload = ResumableUpload.objects.get()
    with pytest.raises(ServiceError) as dropped:
        resumable_append(upload=upload, offset=0, body=io.BytesIO(data[:3000]), size=8000)

    # then the 3000 that came are kept, and the rest completes the video
    assert dropped.value.headers["Upload-Offset"] == "3000"
    assert api.head(location, **TUS)["Upload-Offset"] == "3000"
    assert send(api, location, data[3000:], offset=3000).status_code == 204
    assert api.get(location).status_code == 200


def test_a_patch_while_another_appends_is_a_423(api, clip):
    data = clip.read_bytes()
    location = create(api, length=len(data))["Location"]
    ResumableUpload.objects.update(
        lease_token=uuid.uuid4(), lease_until=timezone.now() + timedelta(seconds=30)
    )

    answer = send(api, location, data[:1000], offset=0)

    assert answer.status_code == 423
    assert answer["Retry-After"]
    assert api.head(location, **TUS)["Upload-Offset"] == "0"


def test_a_lease_of_a_writer_that_died_runs_out(api, clip):
    data = clip.read_bytes()
    location = create(api, length=len(data))["Location"]
    ResumableUpload.objects.update(
        lease_token=uuid.uuid4(), lease_until=timezone.now() - timedelta(seconds=1)
    )

    assert send(api, location, data, offset=0).status_code == 204


def test_a_name_we_do_not_accept_is_refused_at_creation(api):
    answer = create(api, length=1000, filename="notes.txt")

    assert answer.status_code == 415
    assert "notes.txt" in answer.json()["detail"]
    assert answer["Tus-Resumable"] == "1.0.0"
    assert not ResumableUpload.objects.exists()


def test_creation_needs_a_file_name_and_a_length(api):
    no_name = api.post("/video/uploads/", HTTP_UPLOAD_LENGTH="10", **TUS)
    no_length = api.post("/video/uploads/", HTTP_UPLOAD_METADATA=metadata(filename="a.mp4"), **TUS)
    no_tus = api.post(
        "/video/uploads/", HTTP_UPLOAD_LENGTH="10", HTTP_UPLOAD_METADATA=metadata(filename="a.mp4")
    )

    assert no_name.status_code == no_length.status_code == 400
    assert "filename" in no_name.json()["detail"]
    assert "Upload-Length" in no_length.json()["detail"]
    assert no_tus.status_code == 412
    assert no_tus["Tus-Version"] == "1.0.0"


def test_a_length_over_max_upload_size_is_refused_at_creation(api, settings):
    settings.MAX_UPLOAD_SIZE = 10_000

    answer = create(api, length=10_001)

    assert answer.status_code == 413
    assert "MAX_UPLOAD_SIZE" in answer.json()["detail"]


def test_an_over_quota_length_is_refused_at_creation(alice, settings):
    # given a quota of 1 MB, and half of it promised to an unfinished upload
    settings.USER_STORAGE_QUOTA = 1024 * 1024
    assert create(alice, length=512 * 1024).status_code == 201

    # when another would take it past the quota
    answer = create(alice, length=600 * 1024)

    # then it is refused before a byte is sent
    assert answer.status_code == 413
    assert "quota" in answer.json()["detail"]
    assert ResumableUpload.objects.count() == 1


def test_another_users_upload_does_not_exist_for_them(alice, bob, clip):
    data = clip.read_bytes()
    location = create(alice, length=len(data))["Location"]

    assert bob.head(location, **TUS).status_code == 404
    assert send(bob, location, data, offset=0).status_code == 404
    assert bob.delete(location, **TUS).status_code == 404
    assert bob.get(location).status_code == 404
    assert alice.head(location, **TUS).status_code == 200


def test_anonymous_creation_is_refused_when_accounts_are_required(accounts, api):
    answer = create(api, length=1000)

    assert answer.status_code == 401
    assert "detail" in answer.json()


def test_a_complete_file_that_is_no_video_is_refused_and_its_url_says_why(api, tmp_path):
    fake = tmp_path / "fake.mp4"
    fake.write_bytes(b"not a video at all\n" * 100)

    answer, location = upload_in_chunks(api, fake, chunk=1000)

    assert answer.status_code == 415
    assert "fake.mp4" in answer.json()["detail"]
    assert api.get(location).status_code == 415
    assert api.get(location).json()["detail"] == answer.json()["detail"]
    assert not Video.objects.exists()
    assert not LocalStore().path(ResumableUpload.objects.get()).exists()


def test_delete_terminates_an_upload(api, clip):
    data = clip.read_bytes()
    location = create(api, length=len(data))["Location"]
    send(api, location, data[:1000], offset=0)
    path = LocalStore().path(ResumableUpload.objects.get())

    answer = api.delete(location, **TUS)

    assert answer.status_code == 204
    assert not path.exists()
    assert api.head(location, **TUS).status_code == 404
    assert send(api, location, data[1000:], offset=1000).status_code == 404


def test_expired_uploads_are_cleaned_by_the_command_and_on_access(api, clip, tmp_path):
    # given two unfinished uploads past their expiry, and a finished one
    data = clip.read_bytes()
    first = create(api, length=len(data))["Location"]
    second = create(api, length=len(data))["Location"]
    send(api, first, data[:1000], offset=0)
    finished, _ = upload_in_chunks(api, make_media(tmp_path / "other.mp4"), chunk=10**6)
    assert finished.status_code == 204
    paths = [LocalStore().path(upload) for upload in ResumableUpload.objects.all()]
    ResumableUpload.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    # when one is asked about, then the command runs
    assert api.head(first, **TUS).status_code == 404
    call_command("expire_uploads", stdout=open("/dev/null", "w"))

    # then no upload, nor any received byte, is left; the finished one's video stays
    assert not ResumableUpload.objects.exists()
    assert not any(path.exists() for path in paths)
    assert api.head(second, **TUS).status_code == 404
    assert Video.objects.count() == 1


def test_the_admin_lists_uploads_and_deleting_one_terminates_it(admin_client, api, clip):
    data = clip.read_bytes()
    create(api, length=len(data))
    upload = ResumableUpload.objects.get()
    send(api, f"/video/uploads/{upload.pk}", data[:1000], offset=0)

    listing = admin_client.get("/admin/videos/resumableupload/")
    deleted = admin_client.post(
        "/admin/videos/resumableupload/",
        {"action": "delete_selected", "_selected_action": [str(upload.pk)], "post": "yes"},
    )

    assert listing.status_code == 200
    assert "clip.mp4" in listing.content.decode()
    assert deleted.status_code == 302
    assert not ResumableUpload.objects.exists()
    assert not LocalStore().path(upload).exists()
