"""The page at / and the JSON endpoints it reads beside the API."""

from urllib.parse import urlsplit

import pytest
from django.core.files.storage import default_storage
from django.test import Client

from conftest import make_media, upload
from jobs.services import job_queue, jobs_execute
from videos.engine import capabilities

pytestmark = pytest.mark.django_db


def test_page_offers_this_ffmpegs_encoders_and_the_upload_formats(client):
    response = client.get("/")

    page = response.content.decode()
    assert response.status_code == 200
    assert "<option selected>libx264</option>" in page
    assert "<option selected>aac</option>" in page
    assert all(name in capabilities.encoders() for name in ("libx264", "aac"))
    assert 'accept=".mp4,.mov,.3gp,.mkv,.webm,.avi,.wmv,.flv,.mpeg,.ts,.m2ts,.mts"' in page
    assert "/static/js/page.js" in page


def test_library_lists_probe_poster_and_origin(client, uploaded):
    # given an upload and the trim made of it
    job = job_queue(
        request_code="me",
        kind="trim",
        params={"video_id": uploaded["id"], "trim_start_ms": 0, "trim_end_ms": 1000},
    )
    jobs_execute(request_code="me")

    # when the page asks for the library
    upload_row, result_row = client.get("/page/library").json()

    # then each video comes with what the page shows
    assert upload_row["kind"] == "upload" and upload_row["produced_by"] is None
    assert upload_row["name"] == "clip.mp4"
    assert (upload_row["video_codec"], upload_row["audio_codec"]) == ("h264", "aac")
    assert (upload_row["resolution"], upload_row["fps"]) == ("320:240", 25.0)
    assert upload_row["duration"] == pytest.approx(2.0, abs=0.05)
    assert result_row["kind"] == "result"
    assert result_row["produced_by"] == {"job_id": job.id, "kind": "trim"}
    assert result_row["trim_info"]["trim_end"] == 1000
    thumbnail = result_row["thumbnail_url"].removeprefix("/storage/")
    assert default_storage.exists(thumbnail)
    assert client.get(result_row["url"]).status_code == 200


def test_the_contracts_video_record_keeps_its_six_keys(api, uploaded):
    record = api.get("/video/view/all").json()[0]

    assert set(record) == {
        "id",
        "original_file_path",
        "processed_file_path",
        "trim_info",
        "concat_info",
        "encode_info",
    }


def test_concat_candidates_give_the_reason_for_each_video(client, api, clip, tmp_path):
    # given two compatible clips and one of another size
    wide = make_media(tmp_path / "wide.mp4", size="640x360", duration=1)
    first, twin, other = (video["id"] for video in upload(api, clip, clip, wide).json())

    reasons = client.get("/page/concat-candidates", {"video_id": first}).json()

    assert reasons[str(first)] is None
    assert reasons[str(twin)] is None
    assert reasons[str(other)] == (
        f"video {other} differs from video {first} in resolution: 640:360 vs 320:240"
    )


def test_concat_candidates_of_an_unknown_video_is_404(client):
    response = client.get("/page/concat-candidates", {"video_id": 999})

    assert response.status_code == 404
    assert "detail" in response.json()


# With accounts on (API_AUTH=required).


def test_the_page_sends_anonymous_visitors_to_the_login_form(accounts, client):
    response = client.get("/")

    assert response.status_code == 302
    assert urlsplit(response["Location"]).path == "/accounts/login/"
    assert client.get(response["Location"]).status_code == 200


def test_the_page_library_shows_only_the_users_own(alice, bob, clip):
    mine = upload(alice, clip).json()[0]["id"]
    upload(bob, clip)

    assert [v["id"] for v in alice.get("/page/library").json()] == [mine]


def test_the_page_names_the_user_and_offers_sign_out(alice):
    browser = Client()
    browser.force_login(alice.user)

    page = browser.get("/").content.decode()

    assert 'id="account-name">alice<' in page
    assert 'action="/accounts/logout/"' in page
    assert 'id="token-form"' in page


def test_the_api_docs_send_a_browser_without_a_session_to_sign_in(alice, client):
    # an API client without credentials still gets the API's answer
    assert client.get("/api/schema", HTTP_ACCEPT="application/json").status_code == 401

    # a browser is sent to sign in, and back
    assert client.get("/api/docs").status_code == 401
    response = client.get("/api/docs", HTTP_ACCEPT="text/html,application/xhtml+xml,*/*;q=0.8")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/api/docs"

    browser = Client()
    browser.force_login(alice.user)
    assert browser.get("/api/docs", HTTP_ACCEPT="text/html").status_code == 200


def test_browsers_asking_for_favicon_ico_get_the_icon(client):
    response = client.get("/favicon.ico")

    assert response.status_code == 301
    icon = client.get(response["Location"])
    assert icon.status_code == 200
    assert icon["Content-Type"] == "image/svg+xml"
    assert 'rel="icon"' in client.get("/").content.decode()
