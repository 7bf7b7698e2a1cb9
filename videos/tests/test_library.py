"""Library management through the API: DELETE and PATCH on /video/view/info (and the page's
library: searched, sorted, paged), beside the contract's GET on the same path."""

import uuid
from pathlib import Path

import pytest
from django.conf import settings

from conftest import make_media, upload
from jobs import transitions
from jobs.models import Job
from jobs.services import job_queue, jobs_execute, jobs_execute_selected
from videos.models import Video

pytestmark = pytest.mark.django_db


def stored(name: str) -> Path:
    return Path(settings.MEDIA_ROOT) / name


def queue_trim(video_id: int, owner=None) -> Job:
    return job_queue(
        request_code="me",
        kind="trim",
        params={"video_id": video_id, "trim_start_ms": 0, "trim_end_ms": 500},
        owner=owner,
    )


@pytest.mark.parametrize("slash", ["", "/"])
def test_delete_answers_204_and_removes_the_row_and_its_files(
    api, uploaded, slash, django_capture_on_commit_callbacks
):
    video = Video.objects.get(pk=uploaded["id"])
    files = [stored(video.file.name), stored(video.thumbnail.name)]
    assert all(path.is_file() for path in files)

    # (the files go once the delete commits)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.delete(f"/video/view/info{slash}?video_id={video.id}")

    assert response.status_code == 204, response.content
    assert response.content == b""
    assert not Video.objects.filter(pk=video.id).exists()
    assert [path for path in files if path.exists()] == []
    assert api.get(f"/video/view/info?video_id={video.id}").status_code == 404
    assert api.delete(f"/video/view/info?video_id={video.id}").status_code == 404


def test_get_on_the_same_path_answers_as_before(api, uploaded):
    for slash in ("", "/"):
        response = api.get(f"/video/view/info{slash}?video_id={uploaded['id']}")
        assert response.status_code == 200
        assert response.json()["video_streams"] == "h264"
    assert api.delete("/video/view/info?video_id=abc").status_code == 400
    assert api.delete("/video/view/info").status_code == 400


def test_a_deleted_videos_size_leaves_its_owners_quota(alice, clip, settings):
    # given a quota that holds one clip and not two
    settings.USER_STORAGE_QUOTA = clip.stat().st_size * 3 // 2
    first = upload(alice, clip).json()[0]
    refused = upload(alice, clip)
    assert refused.status_code == 413, refused.content

    # when the first is deleted
    deleted = alice.delete(f"/video/view/info?video_id={first['id']}")

    # then the clip fits again
    assert deleted.status_code == 204
    assert upload(alice, clip).status_code == 200


def test_a_video_an_unfinished_job_needs_is_kept_with_409(api, uploaded):
    video = Video.objects.get(pk=uploaded["id"])
    job = queue_trim(video.id)
    token = uuid.uuid4()
    url = f"/video/view/info?video_id={video.id}"

    pending = api.delete(url)
    transitions.jobs_queue([job.pk], dispatch_token=token)
    queued = api.delete(url)
    transitions.job_start(job_id=job.pk, dispatch_token=str(token), worker="test")
    running = api.delete(url)

    for response in (pending, queued, running):
        assert response.status_code == 409
        assert response.json() == {
            "detail": f"Video {video.id} cannot be deleted: pending or running job {job.id} uses it"
        }
    assert stored(video.file.name).is_file()
    assert api.get(url).status_code == 200

    # once the job is done, it goes
    transitions.job_finish(job=Job.objects.get(pk=job.pk), status=Job.Status.FAILED)
    assert api.delete(url).status_code == 204


def test_a_result_a_pending_job_takes_by_its_job_id_is_kept_with_409(api, uploaded):
    # given a trim, and a pending trim of its output, queued as {"job_id": N} before it ran
    first = queue_trim(uploaded["id"])
    second = job_queue(
        request_code="me",
        kind="trim",
        params={"video_id": {"job_id": first.id}, "trim_start_ms": 0, "trim_end_ms": 200},
    )
    jobs_execute_selected(job_ids=[first.id])
    first.refresh_from_db()
    assert first.status == Job.Status.SUCCEEDED

    # when the first one's result is deleted
    response = api.delete(f"/video/view/info?video_id={first.output_video_id}")

    # then it is refused: the second job still needs it
    assert response.status_code == 409, response.content
    assert response.json()["detail"].endswith(f"pending or running job {second.id} uses it")
    assert Video.objects.filter(pk=first.output_video_id).exists()


def test_a_deleted_result_leaves_its_job_with_no_output(api, uploaded):
    job = queue_trim(uploaded["id"])
    jobs_execute(request_code="me")
    job.refresh_from_db()
    result = job.output_video_id

    deleted = api.delete(f"/video/view/info?video_id={result}")

    assert deleted.status_code == 204
    answer = api.get(f"/video/process/jobs/{job.id}").json()
    assert (answer["status"], answer["output_video_id"]) == ("succeeded", None)


def test_another_users_video_is_404_and_stays(alice, bob, clip):
    theirs = upload(bob, clip).json()[0]["id"]
    url = f"/video/view/info?video_id={theirs}"

    assert alice.delete(url).status_code == 404
    assert alice.patch(url, {"name": "mine.mp4"}, format="json").status_code == 404
    assert Video.objects.get(pk=theirs).original_name == "clip.mp4"
    assert bob.delete(url).status_code == 204


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("Holiday", "Holiday.mp4"),
        ("  Holiday.MP4  ", "Holiday.MP4"),
        ("Été 2026 — the lake.mp4", "Été 2026 — the lake.mp4"),
        ("v1.2", "v1.2.mp4"),
        ("a (trim).mp4", "a (trim).mp4"),
    ],
)
def test_rename_shows_the_new_name_in_the_answer_the_list_and_the_page(
    api, uploaded, client, name, shown
):
    video = Video.objects.get(pk=uploaded["id"])
    url = f"/video/view/info/?video_id={video.id}"

    response = api.patch(url, {"name": name}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["id"] == video.id and response.json()["name"] == shown
    assert [row["name"] for row in client.get("/page/library").json()] == [shown]
    video.refresh_from_db()
    assert video.file.name == Video.objects.get(pk=video.id).file.name  # the file stays
    assert stored(video.file.name).is_file()
    assert api.get("/video/view/all").json()[0] == uploaded  # the record is unchanged


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ({"name": ""}, "name: This field may not be blank."),
        ({"name": "   "}, "name: This field may not be blank."),
        ({}, "name: This field is required."),
        ({"name": "a" * 256}, "name: Ensure this field has no more than 255 characters."),
        (
            {"name": "a" * 252},
            "name: With its extension the name would be longer than 255 characters.",
        ),
        ({"name": "../etc/passwd"}, "name: A name cannot hold / or \\: it is a name, not a path."),
        ({"name": "a\\b.mp4"}, "name: A name cannot hold / or \\: it is a name, not a path."),
        ({"name": "a\nb.mp4"}, "name: A name cannot hold control characters."),
        ({"name": "a\u202eb.mp4"}, "name: A name cannot hold control characters."),
        ({"name": ".."}, "name: A name must hold more than dots."),
        ({"name": "clip.mkv"}, "name: The file is .mp4: a name ending .mkv would say otherwise."),
        ({"name": ["a"]}, "name: Not a valid string."),
    ],
)
def test_a_bad_name_is_refused_with_400(api, uploaded, body, why):
    response = api.patch(f"/video/view/info?video_id={uploaded['id']}", body, format="json")

    assert response.status_code == 400, response.content
    assert response.json()["detail"].startswith(why)
    assert Video.objects.get(pk=uploaded["id"]).original_name == "clip.mp4"


def test_results_have_short_readable_names_and_safe_files(api, uploaded):
    trim = queue_trim(uploaded["id"])
    jobs_execute(request_code="me")
    trim.refresh_from_db()
    again = queue_trim(trim.output_video_id)
    jobs_execute(request_code="me")
    again.refresh_from_db()

    first, second = (Video.objects.get(pk=job.output_video_id) for job in (trim, again))

    assert (first.original_name, second.original_name) == ("clip (trim).mp4", "clip (trim 2).mp4")
    assert first.file.name.startswith("modi/clip_trim_")
    assert second.file.name.startswith("modi/clip_trim_2_")


def test_the_library_is_searched_sorted_and_paged(api, client, tmp_path):
    short = make_media(tmp_path / "Beach day.mp4", duration=1)
    long = make_media(tmp_path / "city.mp4", size="640x360", duration=3)
    other = make_media(tmp_path / "beach night.mp4", duration=2)
    ids = [video["id"] for video in upload(api, short, long, other).json()]

    def names(query: str) -> list[str]:
        response = client.get(f"/page/library?{query}")
        assert response.status_code == 200, response.content
        return [row["name"] for row in response.json()]

    assert names("") == ["Beach day.mp4", "city.mp4", "beach night.mp4"]
    assert names("sort=newest") == ["beach night.mp4", "city.mp4", "Beach day.mp4"]
    assert names("sort=name") == ["Beach day.mp4", "beach night.mp4", "city.mp4"]
    assert names("sort=size")[0] == "city.mp4"
    assert names("sort=duration") == ["city.mp4", "beach night.mp4", "Beach day.mp4"]
    assert names("q=BEACH&sort=name") == ["Beach day.mp4", "beach night.mp4"]
    assert names("q=nothing") == []
    assert names("sort=newest&skip=1&limit=1") == ["city.mp4"]
    paged = client.get("/page/library?q=beach&limit=1")
    assert paged["X-Total-Count"] == "2" and len(paged.json()) == 1
    assert client.get("/page/library?sort=color").status_code == 400
    assert client.get("/page/library?limit=-1").json()["detail"].startswith("limit")
    assert len(ids) == 3
