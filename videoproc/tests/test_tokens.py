"""The page's tokens panel: a signed-in user's own API tokens, at /page/tokens."""

import pytest
from knox.models import AuthToken
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def test_a_user_creates_lists_and_revokes_only_their_own_tokens(alice, bob):
    # when alice makes a token that expires in a day
    made = alice.post("/page/tokens", {"days": 1}, format="json")

    # then its key works, and only she sees it listed
    assert made.status_code == 201
    key, token_key = made.json()["key"], made.json()["token_key"]
    script = APIClient()
    script.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert script.get("/video/view/all").status_code == 200
    assert token_key in [t["token_key"] for t in alice.get("/page/tokens").json()]
    assert token_key not in [t["token_key"] for t in bob.get("/page/tokens").json()]

    # bob cannot revoke it; she can, and then it fails
    assert bob.delete(f"/page/tokens/{token_key}").status_code == 404
    assert alice.delete(f"/page/tokens/{token_key}").status_code == 204
    assert script.get("/video/view/all").status_code == 401
    assert alice.delete(f"/page/tokens/{token_key}").status_code == 404


def test_a_token_lifetime_must_be_a_positive_number_of_days(alice):
    response = alice.post("/page/tokens", {"days": 0}, format="json")

    assert response.status_code == 400
    assert response.json()["detail"].startswith("days:")
    assert AuthToken.objects.filter(user=alice.user).count() == 1  # the fixture's own


def test_there_are_no_tokens_when_accounts_are_off(api):
    assert api.get("/page/tokens").status_code == 404
    assert api.post("/page/tokens").status_code == 404
