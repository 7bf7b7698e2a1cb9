"""The page's tokens panel: a signed-in user's own API tokens, at /page/tokens. A session
manages them all; a token sees and revokes only itself and cannot outlive itself."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from knox.models import AuthToken
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def signed_in(user) -> APIClient:
    """The page's session of a user (as after signing in)."""
    client = APIClient()
    client.force_login(user)
    return client


def with_token(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def listed(client) -> list[str]:
    response = client.get("/page/tokens")
    assert response.status_code == 200, response.json()
    return [token["token_key"] for token in response.json()]


@pytest.fixture
def day_token(accounts):
    """A client with the token of `manage.py create_token carol --days 1`, as the tester
    made it; `.token` is that token."""
    out = StringIO()
    call_command("create_token", "carol", "--days", "1", stdout=out)
    client = with_token(out.getvalue().splitlines()[-1])
    client.token = AuthToken.objects.get(user__username="carol")
    return client


def test_a_user_creates_lists_and_revokes_only_their_own_tokens(alice, bob):
    page, bobs_page = signed_in(alice.user), signed_in(bob.user)

    # when alice makes a token that expires in a day, on the page
    made = page.post("/page/tokens", {"days": 1}, format="json")

    # then its key works, and only she sees it listed
    assert made.status_code == 201
    key, token_key = made.json()["key"], made.json()["token_key"]
    assert key.startswith(token_key)  # the URL's name for it is the start of its key
    script = with_token(key)
    assert script.get("/video/view/all").status_code == 200
    assert token_key in listed(page)
    assert token_key not in listed(bobs_page)

    # bob cannot revoke it; she can, and then it fails
    assert bobs_page.delete(f"/page/tokens/{token_key}").status_code == 404
    assert page.delete(f"/page/tokens/{token_key}").status_code == 204
    assert script.get("/video/view/all").status_code == 401
    assert page.delete(f"/page/tokens/{token_key}").status_code == 404


@pytest.mark.parametrize("asked", [{}, {"days": None}, {"days": 2}, {"days": 1}, {"hours": 25}])
def test_a_day_token_cannot_make_a_token_that_outlives_it(day_token, asked):
    # when the one-day token asks for a token that never expires, or expires after it
    # (even a day from now is a little after its own day from a moment ago)
    response = day_token.post("/page/tokens", asked, format="json")

    # then it is refused, saying why, and nothing is made
    assert response.status_code == 403
    detail = response.json()["detail"]
    assert "cannot make" in detail and "ask for at most 23 hours" in detail
    assert "sign in to the page" in detail
    assert AuthToken.objects.filter(user__username="carol").count() == 1


def test_a_day_token_makes_a_token_that_expires_before_it(day_token):
    made = day_token.post("/page/tokens", {"hours": 23}, format="json")

    assert made.status_code == 201
    token = AuthToken.objects.get(token_key=made.json()["token_key"])
    assert token.expiry <= day_token.token.expiry
    assert with_token(made.json()["key"]).get("/video/view/all").status_code == 200


def test_a_token_with_minutes_left_can_make_none_and_says_so(day_token):
    AuthToken.objects.filter(pk=day_token.token.pk).update(
        expiry=day_token.token.expiry - timedelta(hours=23, minutes=50)
    )

    response = day_token.post("/page/tokens", {"hours": 1}, format="json")

    assert response.status_code == 403
    assert "less than an hour left" in response.json()["detail"]


def test_a_token_that_never_expires_may_make_one_that_never_expires(alice):
    made = alice.post("/page/tokens", {}, format="json")

    assert made.status_code == 201
    assert made.json()["expiry"] is None


def test_a_session_makes_tokens_of_any_lifetime(day_token):
    page = signed_in(day_token.token.user)

    assert page.post("/page/tokens", {}, format="json").json()["expiry"] is None
    assert page.post("/page/tokens", {"days": 30}, format="json").status_code == 201


def test_days_and_hours_together_are_refused(alice):
    response = alice.post("/page/tokens", {"days": 1, "hours": 2}, format="json")

    assert response.status_code == 400
    assert response.json()["detail"] == "give days or hours, not both"


def test_a_token_lists_only_itself_and_revokes_only_itself(alice):
    # given alice's token (the fixture's) and two more she made on the page
    page = signed_in(alice.user)
    own = AuthToken.objects.get(user=alice.user).token_key
    others = [page.post("/page/tokens", {}, format="json").json()["token_key"] for _ in range(2)]

    # then her token lists only itself; her session lists all three
    assert listed(alice) == [own]
    assert sorted(listed(page)) == sorted([own, *others])

    # her token cannot revoke another, nor one that is no token at all
    for token_key in (others[0], "nosuchtoken"):
        refused = alice.delete(f"/page/tokens/{token_key}")
        assert refused.status_code == 403
        assert "may revoke only itself" in refused.json()["detail"]
    assert sorted(listed(page)) == sorted([own, *others])

    # her session can; and her token can revoke itself, after which it fails
    assert page.delete(f"/page/tokens/{others[0]}").status_code == 204
    assert alice.delete(f"/page/tokens/{own}").status_code == 204
    assert alice.get("/page/tokens").status_code == 401
    assert listed(page) == [others[1]]


def test_a_token_lifetime_must_be_a_positive_number_of_days(alice):
    response = alice.post("/page/tokens", {"days": 0}, format="json")

    assert response.status_code == 400
    assert response.json()["detail"].startswith("days:")
    assert AuthToken.objects.filter(user=alice.user).count() == 1  # the fixture's own


def test_there_are_no_tokens_when_accounts_are_off(api):
    assert api.get("/page/tokens").status_code == 404
    assert api.post("/page/tokens").status_code == 404
