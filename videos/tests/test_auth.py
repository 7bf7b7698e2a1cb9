"""API_AUTH=required over real HTTP (the test client): credentials, ownership of videos,
signed links, CSRF, throttles and the storage quota. Off mode is the rest of the suite."""

import re
from datetime import timedelta
from io import StringIO
from urllib.parse import urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import URLPattern, get_resolver
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from conftest import upload
from jobs.models import Job
from videos.models import Video

pytestmark = pytest.mark.django_db

# Sample values for the URL conf's named groups.
SAMPLES = {
    "pk": "1",
    "name": "origin/clip.mp4",
    "token_key": "abcdef",
    "upload_id": "0f2b6a9e-5a4c-4d1e-9b3a-2c7d8e9f0a1b",
    "delivery_id": "1",
}
# Not the API: pages that redirect to a login form instead (tested below).
PAGES = {"page", "login", "logout", "favicon"}
# Load balancers and Prometheus carry no user: open by design, and they show no user data.
OPERATIONS = {"health", "metrics"}


def api_paths() -> dict[str, str]:
    """Every path of the URL conf but the admin and the pages, with its groups filled."""
    paths = {}
    for pattern in get_resolver().url_patterns:
        if not isinstance(pattern, URLPattern) or pattern.name in PAGES | OPERATIONS:
            continue  # the admin (a resolver of its own) and the pages
        regex = pattern.pattern.regex.pattern
        path = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: SAMPLES[m[1]], regex)
        paths[pattern.name] = "/" + path.lstrip("^").removesuffix("$").removesuffix("/?")
    return paths


def test_every_api_path_answers_401_without_credentials(accounts):
    paths = api_paths()
    assert {"video-upload", "job-retry", "docs", "schema", "storage"} <= set(paths)
    anonymous = APIClient()
    for name, path in paths.items():
        answers = {method: getattr(anonymous, method)(path) for method in ("get", "post")}
        served = [r for r in answers.values() if r.status_code != 405]
        assert served, name
        for response in served:
            assert response.status_code == 401, (name, path, response.status_code)
            assert "detail" in response.json(), name


def test_health_and_metrics_answer_without_credentials(accounts):
    anonymous = APIClient()
    assert anonymous.get("/metrics").status_code == 200
    assert anonymous.get("/health?format=json").status_code != 401


def test_a_token_works_with_either_prefix(alice, clip):
    key = alice._credentials["HTTP_AUTHORIZATION"].split()[1]
    for prefix in ("Token", "Bearer", "bearer"):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"{prefix} {key}")
        assert client.get("/video/view/all").status_code == 200, prefix


@pytest.mark.parametrize("header", ["Token", "Token nonsense", "Token a b", "Bearer ünï"])
def test_a_malformed_or_unknown_token_is_401(accounts, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)

    response = client.get("/video/view/all")

    assert response.status_code == 401
    assert response.json()["detail"]


def test_a_revoked_token_fails(alice):
    assert alice.get("/video/view/all").status_code == 200

    AuthToken.objects.filter(user=alice.user).delete()

    assert alice.get("/video/view/all").status_code == 401


def test_an_expired_token_fails(alice):
    AuthToken.objects.filter(user=alice.user).update(expiry=timezone.now() - timedelta(seconds=1))

    assert alice.get("/video/view/all").status_code == 401


def test_a_user_sees_only_their_own_videos(alice, bob, clip):
    # given a video of each
    mine = upload(alice, clip).json()[0]
    theirs = upload(bob, clip).json()[0]

    # then each lists, reads and uses only their own
    assert [v["id"] for v in alice.get("/video/view/all").json()] == [mine["id"]]
    assert [v["id"] for v in bob.get("/video/view/all").json()] == [theirs["id"]]
    assert alice.get("/video/view/info", {"video_id": mine["id"]}).status_code == 200
    refused = alice.get("/video/view/info", {"video_id": theirs["id"]})
    assert refused.status_code == 404
    assert refused.json()["detail"] == f"No video with id {theirs['id']}"
    assert Video.objects.get(pk=mine["id"]).owner == alice.user


def test_another_users_video_cannot_be_queued_with(alice, bob, clip):
    theirs = upload(bob, clip).json()[0]["id"]
    mine = upload(alice, clip).json()[0]["id"]

    trim = {"request_code": "u", "video_id": theirs, "trim_start": "0", "trim_end": "500"}
    encode = {"request_code": "u", "video_id": theirs, "resolution": "160:120"}
    concat = {"request_code": "u", "video_ids": [mine, theirs]}
    segments = [{"video_id": v, "start": "0", "end": "500"} for v in (mine, theirs)]
    answers = [
        alice.post("/video/process/trim", trim, format="json"),
        alice.post("/video/process/encoding", encode, format="json"),
        alice.post("/video/process/concat", concat, format="json"),
        alice.post(
            "/video/process/edit", {"request_code": "u", "segments": segments}, format="json"
        ),
        alice.get("/page/concat-candidates", {"video_id": theirs}),
    ]

    assert [a.status_code for a in answers] == [404] * 5
    assert not Job.objects.exists()
    assert list(alice.get("/page/concat-candidates", {"video_id": mine}).json()) == [str(mine)]


def processed_by(client, clip) -> int:
    video = upload(client, clip).json()[0]["id"]
    body = {"request_code": "user", "video_id": video, "trim_start": "0", "trim_end": "1000"}
    job = client.post("/video/process/trim", body, format="json").json()["job_id"]
    assert client.post("/video/process/execute", {"request_code": "user"}).status_code == 200
    return Job.objects.get(pk=job).output_video_id


def test_a_signed_download_link_works_without_headers(alice, bob, clip):
    result = processed_by(alice, clip)

    link = alice.get("/video/download", {"video_id": result}).json()[0]["download_link"]
    response = Client().get(link, headers={"Range": "bytes=0-99"})

    assert response.status_code == 206
    stored = Video.objects.get(pk=result).file
    with stored.open("rb") as handle:
        assert b"".join(response.streaming_content) == handle.read(100)
    assert Video.objects.get(pk=result).owner == alice.user
    assert bob.get("/video/download", {"video_id": result}).status_code == 404


def test_a_tampered_or_expired_link_is_refused(alice, clip, settings):
    result = processed_by(alice, clip)
    link = alice.get("/video/download", {"video_id": result}).json()[0]["download_link"]
    other = Video.objects.exclude(pk=result).get().file.name

    tampered = Client().get(link[:-2] + ("AA" if not link.endswith("AA") else "BB"))
    elsewhere = Client().get(f"/storage/{other}?{urlsplit(link).query}")
    settings.STORAGE_LINK_TTL = -1  # every link is now older than allowed
    expired = Client().get(link)

    assert [r.status_code for r in (tampered, elsewhere, expired)] == [403, 403, 403]
    assert "expired" in expired.json()["detail"]


def test_storage_serves_a_session_only_its_own_files(alice, bob, clip):
    name = Video.objects.get(pk=upload(alice, clip).json()[0]["id"]).file.name
    owner, other, anonymous = Client(), Client(), Client()
    owner.force_login(alice.user)
    other.force_login(bob.user)

    assert owner.get(f"/storage/{name}").status_code == 200
    assert other.get(f"/storage/{name}").status_code == 404
    assert anonymous.get(f"/storage/{name}").status_code == 401


def test_a_cross_site_form_post_is_refused(alice, clip):
    # given alice signed in on the page, with a pending job
    uploaded = upload(alice, clip).json()[0]["id"]
    body = {"request_code": "user", "video_id": uploaded, "trim_start": "0", "trim_end": "500"}
    alice.post("/video/process/trim", body, format="json")
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice.user)

    # when another site's form posts to execute with her cookies
    response = browser.post(
        "/video/process/execute",
        {"request_code": "user"},
        headers={"Origin": "https://evil.example", "Referer": "https://evil.example/"},
    )

    # then it is refused and her job stays pending
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    assert Job.objects.get().status == Job.Status.PENDING


def test_the_admin_refuses_a_cross_site_post(accounts, admin_user):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(admin_user)

    response = browser.post("/admin/jobs/job/", {"action": "execute_jobs"})

    assert response.status_code == 403


def test_a_user_past_the_rate_gets_429_and_nothing_is_stored(alice, clip, settings):
    settings.API_THROTTLE_RATES = {"user": "2/minute", "anon": None}
    assert alice.get("/video/view/all").status_code == 200
    assert alice.get("/video/view/all").status_code == 200

    response = upload(alice, clip)

    assert response.status_code == 429
    assert response.json()["detail"].startswith("Request was throttled")
    assert not Video.objects.exists()


def test_the_user_rate_is_per_user(alice, bob, settings):
    settings.API_THROTTLE_RATES = {"user": "1/minute", "anon": None}
    assert alice.get("/video/view/all").status_code == 200
    assert alice.get("/video/view/all").status_code == 429
    assert bob.get("/video/view/all").status_code == 200


def test_anonymous_clients_are_throttled_when_accounts_are_off(api, settings):
    settings.API_THROTTLE_RATES = {"user": None, "anon": "1/minute"}
    assert api.get("/video/view/all").status_code == 200

    response = api.get("/video/view/all")

    assert response.status_code == 429
    assert "detail" in response.json()


def test_an_upload_past_the_quota_is_413_and_nothing_is_stored(alice, clip, settings, media_root):
    # given a quota with room for one clip only
    settings.USER_STORAGE_QUOTA = clip.stat().st_size + 1000
    assert upload(alice, clip).status_code == 200
    files_before = sorted(p for p in media_root.rglob("*") if p.is_file())

    # when a second one comes
    response = upload(alice, clip)

    # then it is refused, and neither a row nor a file is added
    assert response.status_code == 413
    assert "quota" in response.json()["detail"]
    assert Video.objects.count() == 1
    assert sorted(p for p in media_root.rglob("*") if p.is_file()) == files_before


def run_command(*args) -> list[str]:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue().splitlines()


def test_create_token_makes_the_user_and_prints_a_working_key_last(accounts):
    lines = run_command("create_token", "deploy")

    assert lines[0] == "Created user deploy"
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {lines[-1]}")
    assert client.get("/video/view/all").status_code == 200
    user = get_user_model().objects.get(username="deploy")
    assert not user.has_usable_password()
    assert AuthToken.objects.get(user=user).digest != lines[-1]  # stored hashed


def test_create_token_adds_an_expiring_token_to_an_existing_user(alice):
    lines = run_command("create_token", "alice", "--days", "7")

    assert "Created user" not in lines[0]
    newest = AuthToken.objects.filter(user=alice.user).latest("created")
    assert newest.token_key == lines[-1][: len(newest.token_key)]
    assert timedelta(days=6) < newest.expiry - timezone.now() <= timedelta(days=7)


@pytest.mark.parametrize("args", [["has space"], ["ok", "--days", "0"]])
def test_create_token_refuses_a_bad_name_or_lifetime(accounts, args):
    with pytest.raises(CommandError):
        run_command("create_token", *args)
    assert not get_user_model().objects.exists()


def test_import_videos_gives_the_videos_to_the_named_user(alice, clip):
    with pytest.raises(CommandError, match="--user"):
        run_command("import_videos", str(clip))
    with pytest.raises(CommandError, match="No user named 'nobody'"):
        run_command("import_videos", str(clip), "--user", "nobody")

    run_command("import_videos", str(clip), "--user", "alice")

    assert [v["id"] for v in alice.get("/video/view/all").json()] == [Video.objects.get().id]


def test_the_admin_shows_staff_every_owner_and_filters_by_owner(alice, bob, clip, admin_client):
    mine = upload(alice, clip).json()[0]["id"]
    theirs = upload(bob, clip).json()[0]["id"]

    everything = admin_client.get("/admin/videos/video/")
    only_bob = admin_client.get("/admin/videos/video/", {"owner__id__exact": bob.user.id})

    assert {v.id for v in everything.context["cl"].result_list} == {mine, theirs}
    assert [v.id for v in only_bob.context["cl"].result_list] == [theirs]
    page = admin_client.get(f"/admin/videos/video/{theirs}/change/").content.decode()
    assert "?sig=" in page  # the player's link works for staff who do not own it


@pytest.mark.integration
def test_on_s3_presigned_links_go_to_the_owner_only(alice, bob, clip, s3):
    # given alice's video in the bucket
    name = Video.objects.get(pk=upload(alice, clip).json()[0]["id"]).file.name
    owner, other = Client(), Client()
    owner.force_login(alice.user)
    other.force_login(bob.user)

    # then her library links are the bucket's presigned ones (no signature of ours)
    [shown] = alice.get("/page/library").json()
    assert shown["url"].startswith(s3.env["AWS_S3_ENDPOINT_URL"])
    assert "X-Amz-Signature" in shown["url"] and "sig=" not in shown["url"]
    assert bob.get("/page/library").json() == []
    # and /storage/ redirects her there, and no one else
    assert owner.get(f"/storage/{name}").status_code == 302
    assert other.get(f"/storage/{name}").status_code == 404
    assert Client().get(f"/storage/{name}").status_code == 401


def test_an_admin_creates_a_token_for_a_user_in_the_admin(alice, admin_client):
    response = admin_client.post(
        "/admin/knox/authtoken/add/", {"user": alice.user.id, "expiry": ""}, follow=True
    )

    [key] = [str(m)[len("TOKEN ") :] for m in response.context["messages"] if "TOKEN" in str(m)]
    script = APIClient()
    script.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert script.get("/video/view/all").status_code == 200
    assert AuthToken.objects.filter(user=alice.user).count() == 2
