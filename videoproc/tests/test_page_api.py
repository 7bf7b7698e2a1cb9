"""The page's editor endpoints: the draft kept on the server, the jobs it watches, the
trim preview and the encode presets."""

import json

import pytest
from django.test import Client

from videoproc import pages
from videos.engine import capabilities

pytestmark = pytest.mark.django_db

DRAFT = {"segments": [{"video_id": 1, "start_ms": 0, "end_ms": 1500}], "zoom": 2.5}


# The draft


def test_a_requester_without_a_draft_gets_an_empty_one(api):
    response = api.get("/page/draft", {"request_code": "ann"})

    assert response.status_code == 200
    assert response.json() == {"draft": {}, "updated_at": None}


def test_a_kept_draft_comes_back_to_its_request_code_only(api):
    # given a draft kept for ann
    put = api.put("/page/draft?request_code=ann", {"draft": DRAFT}, format="json")

    # when ann and ben ask for theirs
    ann = api.get("/page/draft", {"request_code": "ann"}).json()
    ben = api.get("/page/draft/", {"request_code": "ben"}).json()

    # then ann's comes back, with when it was kept; ben has none
    assert put.status_code == 200
    assert put.json()["draft"] == DRAFT
    assert ann["draft"] == DRAFT
    assert ann["updated_at"] == put.json()["updated_at"] is not None
    assert ben == {"draft": {}, "updated_at": None}


def test_a_second_put_replaces_the_draft(api):
    api.put("/page/draft?request_code=ann", {"draft": DRAFT}, format="json")

    api.put("/page/draft?request_code=ann", {"draft": {"segments": []}}, format="json")

    assert api.get("/page/draft", {"request_code": "ann"}).json()["draft"] == {"segments": []}


def test_with_accounts_off_the_request_code_is_required(api):
    response = api.get("/page/draft")

    assert response.status_code == 400
    assert "request_code" in response.json()["detail"]


@pytest.mark.parametrize("draft", [[1, 2], "text", 3, None])
def test_a_draft_that_is_not_an_object_is_refused(api, draft):
    response = api.put("/page/draft?request_code=ann", {"draft": draft}, format="json")

    assert response.status_code == 400
    assert "object" in response.json()["detail"]


def test_a_draft_over_64_kb_is_refused_and_the_kept_one_stays(api):
    api.put("/page/draft?request_code=ann", {"draft": DRAFT}, format="json")
    big = {"notes": "x" * (64 * 1024)}

    response = api.put("/page/draft?request_code=ann", {"draft": big}, format="json")

    assert response.status_code == 400
    assert "65536" in response.json()["detail"]
    assert api.get("/page/draft", {"request_code": "ann"}).json()["draft"] == DRAFT


def test_a_draft_of_exactly_64_kb_is_kept(api):
    filler = 64 * 1024 - len(json.dumps({"notes": ""}, separators=(",", ":")))
    draft = {"notes": "x" * filler}

    response = api.put("/page/draft?request_code=ann", {"draft": draft}, format="json")

    assert response.status_code == 200


def test_with_accounts_each_user_has_one_draft_whatever_the_request_code(alice, bob):
    alice.put("/page/draft?request_code=one", {"draft": DRAFT}, format="json")

    mine = alice.get("/page/draft", {"request_code": "another"}).json()
    without_code = alice.get("/page/draft").json()
    theirs = bob.get("/page/draft", {"request_code": "one"}).json()

    assert mine["draft"] == without_code["draft"] == DRAFT
    assert theirs == {"draft": {}, "updated_at": None}


def test_a_session_must_send_its_csrf_token_to_keep_a_draft(accounts, django_user_model):
    # given a signed-in page session that checks CSRF as a browser's would
    user = django_user_model.objects.create_user("carol", password="pw")
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    token = browser.get("/").cookies["csrftoken"].value
    body = json.dumps({"draft": DRAFT})

    # when it puts without the token, then with it
    refused = browser.put("/page/draft", body, content_type="application/json")
    kept = browser.put(
        "/page/draft", body, content_type="application/json", headers={"X-CSRFToken": token}
    )

    # then only the second is kept
    assert refused.status_code == 403
    assert "detail" in refused.json()
    assert kept.status_code == 200
    assert browser.get("/page/draft").json()["draft"] == DRAFT


# The encode form's encoders


def test_the_encode_form_offers_only_delivery_encoders_this_ffmpeg_has(client):
    page = client.get("/").content.decode()

    common, other = pages.encoder_choices("video")
    audio_common, audio_other = pages.encoder_choices("audio")
    assert "libx264" in common and "aac" in audio_common
    assert "<option>a64multi</option>" not in page and "<option>xbm</option>" not in page
    offered = {*common, *other, *audio_common, *audio_other}
    assert offered <= set(capabilities.encoders())
    assert not {"a64multi", "xbm", "dnxhd", "pcm_alaw"} & offered
