"""Password sign-ins throttled by account (videoproc/lockout.py, django-axes): the page's
and the admin's login lock a user name after LOGIN_FAILURE_LIMIT failures, say so on the
login page, lift the lock after LOGIN_LOCKOUT_MINUTES or when an admin unlocks it, and
leave API tokens alone. Real requests through Django's test client."""

import time
from datetime import timedelta
from io import StringIO

import pytest
from axes.models import AccessAttempt
from django.core.management import call_command
from django.test import Client
from knox.models import AuthToken
from rest_framework.test import APIClient

from videoproc.tests.test_settings import fresh_env, run_python

pytestmark = pytest.mark.django_db

PAGE_LOGIN, ADMIN_LOGIN = "/accounts/login/", "/admin/login/"
LOCKED = "Too many failed sign-ins for this account"
WRONG = "did not match"
POLL_DEADLINE = 30  # seconds: far beyond the test's lockout time, for a slow machine


@pytest.fixture(autouse=True)
def quick_passwords(settings):
    """A cheap hasher: the lock is what is tested, not PBKDF2's hundreds of ms."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def dana(django_user_model):
    return django_user_model.objects.create_user("dana", password="right-horse")


def sign_in(client, password: str, username: str = "dana", path: str = PAGE_LOGIN):
    return client.post(path, {"username": username, "password": password})


def signed_in(response) -> bool:
    return response.status_code == 302 and "_auth_user_id" in response.client.session


def lock(client=None, *, failures: int = 20, **where):
    """`failures` wrong passwords (20, the tester's count, by default); the answers."""
    client = client or Client()
    return [sign_in(client, f"wrong-{n}", **where) for n in range(failures)]


def assert_locked(response, status: int = 429):
    assert response.status_code == status
    assert LOCKED in response.content.decode()
    assert "_auth_user_id" not in response.client.session


def test_twenty_wrong_passwords_lock_the_account_until_the_lockout_time_passes(settings, dana):
    settings.AXES_COOLOFF_TIME = cool_off = timedelta(seconds=2)
    limit = settings.AXES_FAILURE_LIMIT
    client = Client()

    # when someone tries 20 wrong passwords
    answers = lock(client)
    locked_at = time.monotonic()

    # then the first limit - 1 are plain wrong passwords on the login page; from the
    # limit-th on, the login page says the account is locked, with 429 and Retry-After
    for response in answers[: limit - 1]:
        assert response.status_code == 200 and WRONG in response.content.decode()
    for response in answers[limit - 1 :]:
        assert_locked(response)
        assert 1 <= int(response["Retry-After"]) <= 2
        assert 'name="username"' in response.content.decode()  # the form, to try again
    # and the right password is refused too, and neither it nor the failures while
    # locked made the lock longer (it counts from the limit-th failure)
    assert_locked(sign_in(client, "right-horse"))
    assert AccessAttempt.objects.get(username="dana").failures_since_start == limit

    # when the lockout time has passed, the right password works again (tried until a
    # deadline; the tries while locked are refused and do not extend it)
    deadline = time.monotonic() + POLL_DEADLINE
    while not signed_in(response := sign_in(client, "right-horse")):
        assert_locked(response)
        assert time.monotonic() < deadline, "still locked long after the lockout time"
        time.sleep(0.1)
    assert time.monotonic() - locked_at >= cool_off.total_seconds() - 0.5
    # and its success forgot the failures: a new mistake is one again, not a lock
    assert not AccessAttempt.objects.filter(username="dana").exists()
    assert sign_in(Client(), "wrong").status_code == 200


def test_the_lock_is_on_the_account_from_every_address_and_no_other(django_user_model, dana):
    django_user_model.objects.create_user("erin", password="erins")
    lock(Client(REMOTE_ADDR="203.0.113.7"))

    # dana's right password from elsewhere is refused; erin signs in from the same address
    assert_locked(sign_in(Client(REMOTE_ADDR="198.51.100.1"), "right-horse"))
    assert signed_in(sign_in(Client(REMOTE_ADDR="203.0.113.7"), "erins", username="erin"))


def test_a_user_name_that_is_no_account_is_locked_alike(dana):
    # so the lock tells nobody which names are real
    answers = lock(username="nobody")

    assert_locked(answers[-1])
    assert answers[-1].content.decode().count(LOCKED) == 1


def test_the_admin_login_is_throttled_too(admin_user):
    client = Client()

    answers = lock(client, username="admin", path=ADMIN_LOGIN)

    # the admin's own login page says so; the right password is refused
    assert_locked(answers[-1])
    assert "Log in" in answers[-1].content.decode()  # the admin's page, not the site's
    assert_locked(sign_in(client, "password", username="admin", path=ADMIN_LOGIN))
    # one count for both doors: the page's login refuses the name as well
    assert_locked(sign_in(client, "password", username="admin"))


def test_the_admin_unlocks_selected_accounts_from_the_user_list(admin_client, dana):
    lock()
    assert_locked(sign_in(Client(), "right-horse"))

    response = admin_client.post(
        "/admin/auth/user/",
        {"action": "unlock_accounts", "_selected_action": [dana.pk]},
        follow=True,
    )

    assert "Unlocked dana: they may sign in again" in response.content.decode()
    assert signed_in(sign_in(Client(), "right-horse"))


def test_the_admin_unlocks_from_the_list_of_failed_sign_ins(admin_client, dana):
    lock(Client(REMOTE_ADDR="203.0.113.7"))
    lock(Client(REMOTE_ADDR="198.51.100.1"), failures=3)  # dana's, from elsewhere
    attempt = AccessAttempt.objects.filter(username="dana").first()

    # the action is offered on axes' list, beside its own
    listing = admin_client.get("/admin/axes/accessattempt/").content.decode()
    assert "Unlock selected accounts" in listing
    admin_client.post(
        "/admin/axes/accessattempt/",
        {"action": "unlock_accounts", "_selected_action": [attempt.pk]},
    )

    assert not AccessAttempt.objects.filter(username="dana").exists()  # from any address
    assert signed_in(sign_in(Client(), "right-horse"))


def test_with_no_lockout_time_only_an_admin_or_axes_reset_unlocks(settings, dana):
    settings.AXES_COOLOFF_TIME = None  # LOGIN_LOCKOUT_MINUTES=0

    answers = lock()

    # waiting will not help: 403, no Retry-After, and the page says who can unlock
    assert_locked(answers[-1], status=403)
    assert "Retry-After" not in answers[-1]
    assert "until an administrator unlocks it" in answers[-1].content.decode()
    out = StringIO()
    call_command("axes_reset_username", "dana", stdout=out)
    assert "attempts removed" in out.getvalue()
    assert signed_in(sign_in(Client(), "right-horse"))


def test_a_locked_account_keeps_its_api_tokens_and_its_sessions(accounts, dana):
    _, key = AuthToken.objects.create(dana)
    script = APIClient()
    script.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    page = Client()
    assert signed_in(sign_in(page, "right-horse"))

    lock()

    # the lock is on guessing passwords: a token or a session already had one
    assert script.get("/video/view/all").status_code == 200
    assert page.get("/page/library").status_code == 200


def test_the_limit_and_lockout_time_come_from_the_environment(tmp_path):
    code = (
        "from django.conf import settings; "
        "print(settings.AXES_FAILURE_LIMIT, settings.AXES_COOLOFF_TIME)"
    )

    def loaded(**env: str) -> str:
        process = run_python(code, fresh_env(DATA_DIR=str(tmp_path), **env))
        out, err = process.communicate(timeout=60)
        return out.strip() if process.returncode == 0 else err

    assert loaded() == "10 0:15:00"
    assert loaded(LOGIN_FAILURE_LIMIT="5", LOGIN_LOCKOUT_MINUTES="1.5") == "5 0:01:30"
    assert loaded(LOGIN_LOCKOUT_MINUTES="0") == "10 None"
    assert "LOGIN_FAILURE_LIMIT must be 1 or more" in loaded(LOGIN_FAILURE_LIMIT="0")
