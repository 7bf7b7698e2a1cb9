"""The throttles (videoproc/access.py): at most N calls in any window of the rate's length,
per user or per client address, counted atomically: on Redis (CACHE_URL) across every
process and machine, in local memory within the process."""

import threading
import time
import uuid
from collections import Counter

import pytest
import redis
import requests
from django.conf import settings as django_settings
from django.contrib.auth.models import AnonymousUser
from rest_framework.test import APIRequestFactory

from jobs.tests.integration import unavailable
from videoproc.access import AnonThrottle, UserThrottle

pytestmark = pytest.mark.django_db

# What a test's Redis keys begin with, so that runs sharing a Redis never meet.
PREFIX = f"throttle-test-{uuid.uuid4().hex[:12]}"


def redis_url() -> str:
    """The Redis this run may use (`make test` points CELERY_BROKER_URL at one)."""
    url = django_settings.CELERY_BROKER_URL
    if not url.startswith("redis://"):
        unavailable("these tests need CELERY_BROKER_URL=redis://... (`make test` sets it)")
    try:
        redis.Redis.from_url(url, socket_timeout=3).ping()
    except redis.RedisError as error:
        unavailable(f"Redis at {url} is unreachable: {error}")
    return url


def forget(url: str, prefix: str) -> None:
    """Every count kept under prefix, gone."""
    client = redis.Redis.from_url(url)
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)


@pytest.fixture(params=["local memory", pytest.param("redis", marks=pytest.mark.integration)])
def counts_in(request, settings):
    """The cache the throttles count in: this process's memory, or a real Redis."""
    if request.param == "redis":
        url = redis_url()
        settings.CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": url,
                "KEY_PREFIX": PREFIX,
            }
        }
        forget(url, PREFIX)
        yield request.param
        forget(url, PREFIX)
    else:
        settings.CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                "LOCATION": uuid.uuid4().hex,  # a memory of its own, empty
            }
        }
        yield request.param


def anonymous_call(address: str = "192.0.2.1"):
    request = APIRequestFactory().get("/video/view/all", REMOTE_ADDR=address)
    request.user = AnonymousUser()
    return request


def let_in(throttle_class, request) -> tuple[bool, float | None]:
    throttle = throttle_class()
    allowed = throttle.allow_request(request, view=None)
    return allowed, None if allowed else throttle.wait()


def test_sixteen_threads_at_once_get_exactly_the_rate_through(counts_in, settings):
    # given a rate of 120 a minute for anonymous calls
    settings.API_THROTTLE_RATES = {"user": None, "anon": "120/minute"}
    request = anonymous_call()
    start = threading.Barrier(16)
    answers: list[bool] = []

    def client():
        start.wait()
        for _ in range(30):
            answers.append(let_in(AnonThrottle, request)[0])

    # when 16 threads make 480 calls together
    threads = [threading.Thread(target=client) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # then exactly 120 were let in
    assert Counter(answers) == {True: 120, False: 360}


def test_the_window_slides_and_the_wait_is_until_the_oldest_call_leaves_it(counts_in, settings):
    settings.API_THROTTLE_RATES = {"user": None, "anon": "2/second"}
    request = anonymous_call()
    first = time.monotonic()
    assert let_in(AnonThrottle, request) == (True, None)
    time.sleep(0.5)
    assert let_in(AnonThrottle, request) == (True, None)
    # the third within the second is refused until the first is a second old (measured
    # from when it was let in, so a busy machine's slow sleep does not matter)
    allowed, wait = let_in(AnonThrottle, request)
    assert not allowed
    assert 0 < wait <= 0.5
    assert abs(wait - (1 - (time.monotonic() - first))) < 0.1
    time.sleep(wait + 0.05)
    # then one more gets in (the second call still counts), and no more
    assert let_in(AnonThrottle, request) == (True, None)
    allowed, wait = let_in(AnonThrottle, request)
    assert not allowed and 0 < wait <= 0.5


def test_scopes_and_addresses_count_apart(counts_in, settings, django_user_model):
    settings.API_THROTTLE_RATES = {"user": "1/minute", "anon": "1/minute"}
    assert let_in(AnonThrottle, anonymous_call("192.0.2.1"))[0]
    assert not let_in(AnonThrottle, anonymous_call("192.0.2.1"))[0]
    assert let_in(AnonThrottle, anonymous_call("192.0.2.2"))[0]
    # a user's calls are the user throttle's, not the address's
    signed_in = anonymous_call("192.0.2.1")
    signed_in.user = django_user_model.objects.create_user("carol")
    assert let_in(UserThrottle, signed_in)[0]
    assert not let_in(UserThrottle, signed_in)[0]


def forwarded_call(forwarded_for: str):
    """An anonymous call from 192.0.2.1 that claims, by X-Forwarded-For, to be another."""
    request = APIRequestFactory().get(
        "/video/view/all", REMOTE_ADDR="192.0.2.1", HTTP_X_FORWARDED_FOR=forwarded_for
    )
    request.user = AnonymousUser()
    return request


def test_a_client_cannot_dodge_its_count_by_claiming_another_address(counts_in, settings):
    settings.API_THROTTLE_RATES = {"user": None, "anon": "1/minute"}
    assert let_in(AnonThrottle, forwarded_call("198.51.100.1"))[0]
    assert not let_in(AnonThrottle, forwarded_call("198.51.100.2"))[0]


def test_behind_a_trusted_proxy_the_address_it_saw_is_counted(counts_in, settings):
    # given one proxy in front, which puts the address it saw last in X-Forwarded-For
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    settings.API_THROTTLE_RATES = {"user": None, "anon": "1/minute"}
    assert let_in(AnonThrottle, forwarded_call("203.0.113.9, 198.51.100.1"))[0]
    # then a client's own claim in front of it changes nothing, another address counts apart
    assert not let_in(AnonThrottle, forwarded_call("203.0.113.10, 198.51.100.1"))[0]
    assert let_in(AnonThrottle, forwarded_call("198.51.100.2"))[0]


def test_without_a_rate_nothing_is_counted_or_refused(counts_in, settings):
    settings.API_THROTTLE_RATES = {"user": None, "anon": None}
    request = anonymous_call()
    assert all(let_in(AnonThrottle, request)[0] for _ in range(500))


def test_a_refusal_is_429_with_retry_after_and_a_detail(api, settings):
    settings.API_THROTTLE_RATES = {"user": None, "anon": "1/hour"}
    assert api.get("/video/view/all").status_code == 200

    response = api.get("/video/view/all")

    assert response.status_code == 429
    assert 3590 <= int(response["Retry-After"]) <= 3600
    assert response.json()["detail"].startswith("Request was throttled")


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_sixteen_parallel_clients_at_120_a_minute_get_at_most_125_through(start_web):
    # given two gunicorn processes counting in one Redis, 120 anonymous calls a minute
    url = redis_url()
    prefix = f"{PREFIX}-web"
    web = start_web(
        workers=2,
        CACHE_URL=url,
        CACHE_KEY_PREFIX=prefix,
        API_THROTTLE_ANON="120/minute",
        API_THROTTLE_USER="",
    )
    forget(url, prefix)  # the start-up checks were counted too
    start = threading.Barrier(16)
    answers: list[requests.Response] = []

    def client():
        with requests.Session() as session:
            start.wait()
            for _ in range(30):
                answers.append(session.get(f"{web.url}/video/view/all", timeout=60))

    # when 16 clients make 480 calls at once, as fast as they are answered
    began = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    took = time.monotonic() - began
    forget(url, prefix)

    # then, all within the minute, at most 125 got through (exactly the 120, in fact)
    statuses = Counter(response.status_code for response in answers)
    assert set(statuses) <= {200, 429}, statuses
    assert took < 60
    assert 120 <= statuses[200] <= 125, statuses
    for refused in (response for response in answers if response.status_code == 429):
        assert 0 < int(refused.headers["Retry-After"]) <= 60
        assert refused.json()["detail"].startswith("Request was throttled")
