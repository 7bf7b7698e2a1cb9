"""Who may do what (docs/deployment.md "Users and access"). API_AUTH is read on every request, not
at import, so one code path serves both modes: "off" is the open contract (no owner,
everything visible), "required" needs a session or a token and scopes all to its owner.
"""

import hashlib
import threading
import time
import uuid
from datetime import timedelta

import redis
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.core.exceptions import ValidationError
from django.core.management.base import CommandError
from django.db.models import QuerySet
from django.http import QueryDict
from django.utils import timezone
from drf_spectacular.authentication import SessionScheme as SpectacularSessionScheme
from drf_spectacular.contrib.knox_auth_token import KnoxTokenScheme
from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from knox.models import AuthToken
from rest_framework import authentication, exceptions, permissions, throttling

REQUIRED = "required"
TOKEN_SCHEMES = (b"token", b"bearer")


def accounts_required() -> bool:
    return settings.API_AUTH == REQUIRED


def request_owner(request):
    """The user a request acts for: its user in required mode, None (nobody: every row,
    as before accounts existed) when accounts are off."""
    return request.user if accounts_required() else None


def scoped(queryset: QuerySet, owner) -> QuerySet:
    """The rows an owner may see: their own; all of them when accounts are off."""
    return queryset if owner is None else queryset.filter(owner=owner)


class TokenAuthentication(KnoxTokenAuthentication):
    """knox's hashed, revocable, optionally expiring tokens, sent as `Token <key>` (DRF's
    habit) or `Bearer <key>` (OAuth's); listed first, so anonymous calls answer 401."""

    def authenticate(self, request):
        if not accounts_required():
            return None
        scheme, _, key = authentication.get_authorization_header(request).partition(b" ")
        if scheme.lower() not in TOKEN_SCHEMES:
            return None  # no header, or one for another scheme
        key = key.strip()
        if not key.isalnum():  # empty, spaces, or bytes no key of ours has
            raise exceptions.AuthenticationFailed("Invalid token header: give one key after it.")
        return self.authenticate_credentials(key)


class _WithoutForm:
    """A request as the CSRF check sees it: no form fields, so the token must come in
    the X-CSRFToken header. Django's check reads a POST's form before it looks at the
    header, and the form of an upload is its whole body: up to MAX_UPLOAD_SIZE written to
    scratch before the view could refuse it from its declared length."""

    POST = QueryDict()

    def __init__(self, request):
        object.__setattr__(self, "_request", request)

    def __getattr__(self, name):
        return getattr(self._request, name)

    def __setattr__(self, name, value):
        setattr(self._request, name, value)


class SessionAuthentication(authentication.SessionAuthentication):
    """The page's and the admin's login session; DRF enforces CSRF on its unsafe calls.
    A multipart body (an upload) is never read for its CSRF token: the page sends it in
    the X-CSRFToken header."""

    def authenticate(self, request):
        return super().authenticate(request) if accounts_required() else None

    def enforce_csrf(self, request):
        if request.content_type.lower().startswith("multipart/"):
            request = _WithoutForm(request)
        super().enforce_csrf(request)


# How the OpenAPI schema (and so /api/docs) describes the two.
class TokenScheme(KnoxTokenScheme):
    target_class = "videoproc.access.TokenAuthentication"
    name = "tokenAuth"


class SessionScheme(SpectacularSessionScheme):
    target_class = "videoproc.access.SessionAuthentication"


class IsAuthenticatedWhenRequired(permissions.BasePermission):
    def has_permission(self, request, view) -> bool:
        return not accounts_required() or bool(request.user and request.user.is_authenticated)


# One client's calls in the last window, on Redis: a sorted set of them scored by when
# they came (in microseconds, by Redis's clock, which every machine shares). Calls that
# have left the window are dropped; then the call is added if fewer than the limit
# remain, else the answer is how long until the oldest leaves. Redis runs a script whole,
# so no other call comes between the count and the add, from any process or machine.
# KEYS[1]: the client's key; ARGV: the window (µs), the limit, a unique name for this call.
# Answers -1 (let in) or the wait in µs.
SLIDING_WINDOW = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local window = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
    redis.call('ZADD', KEYS[1], now, ARGV[3])
    redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000))
    return -1
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return window - (now - tonumber(oldest[2]))
"""
SLIDING_WINDOW_SHA = hashlib.sha1(SLIDING_WINDOW.encode()).hexdigest()
# Any other cache (local memory when CACHE_URL is unset) is this process's alone: a lock
# makes its read-modify-write whole.
_local_calls = threading.Lock()


def call_take(cache, key: str, *, limit: int, window: float) -> float | None:
    """Count one call under key if fewer than limit came in the last window seconds:
    None when it is let in, else the seconds until it would be."""
    if isinstance(cache, RedisCache):
        full_key = cache.make_and_validate_key(key)
        # Django's own connection pool to the server that holds the key (a private name,
        # as Django's RedisCache offers no public one; the tests run against it).
        client = cache._cache.get_client(full_key, write=True)
        args = (full_key, int(window * 1_000_000), limit, uuid.uuid4().hex)
        try:
            wait = client.evalsha(SLIDING_WINDOW_SHA, 1, *args)
        except redis.exceptions.NoScriptError:  # first use since Redis started
            wait = client.eval(SLIDING_WINDOW, 1, *args)
        return None if wait < 0 else wait / 1_000_000
    with _local_calls:
        now = time.time()
        calls = [when for when in cache.get(key, []) if when > now - window]
        if len(calls) >= limit:
            return window - (now - calls[0])
        cache.set(key, [*calls, now], window)
        return None


class _SlidingWindowThrottle:
    """DRF's rate throttle, its semantics kept (at most N calls in any window of the
    rate's length, refusals not counted, the wait until the oldest call leaves the window)
    but counted atomically: DRF reads, changes and writes back each client's history, so
    parallel calls each saw room for one more. Rates are read from settings per request
    (DRF reads them once, at import); a scope without a rate is not throttled."""

    cache_format = "throttle-calls:%(scope)s:%(ident)s"  # not DRF's lists under its keys

    def get_rate(self):
        return settings.API_THROTTLE_RATES.get(self.scope)

    def allow_request(self, request, view) -> bool:
        if self.rate is None:
            return True
        key = self.get_cache_key(request, view)
        if key is None:
            return True
        self._wait = call_take(
            caches["default"], key, limit=self.num_requests, window=self.duration
        )
        return self._wait is None

    def wait(self) -> float | None:
        return self._wait


class AnonThrottle(_SlidingWindowThrottle, throttling.AnonRateThrottle):
    """Per client address, for calls without a user (every call when accounts are off)."""


class UserThrottle(_SlidingWindowThrottle, throttling.UserRateThrottle):
    """Per user, for authenticated calls only (anonymous ones have AnonThrottle)."""

    def get_cache_key(self, request, view):
        if not (request.user and request.user.is_authenticated):
            return None
        return super().get_cache_key(request, view)


def command_owner(username: str | None):
    """The owner a management command acts for, from its --user option: none when
    accounts are off and no user is named; required when accounts are required."""
    if username is None:
        if accounts_required():
            raise CommandError("API_AUTH=required: name whose this is with --user USERNAME")
        return None
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise CommandError(f"No user named {username!r} (manage.py create_token makes one)")
    return user


def presented_token(request) -> AuthToken | None:
    """The API token a request came with; None for a session (or no user at all)."""
    return request.auth if isinstance(request.auth, AuthToken) else None


def token_create(
    *, user, expires_in: timedelta | None = None, by: AuthToken | None = None
) -> tuple[AuthToken, str]:
    """A new API token of a user, and its key: shown this once, stored only hashed. Made
    `by` a token (not a session or a command), it may not outlive that token: a leaked
    short-lived key must not turn itself into a lasting one (403 otherwise)."""
    if by is not None and by.expiry is not None:
        now = timezone.now()
        if expires_in is None or now + expires_in > by.expiry:
            hours = max(0, int((by.expiry - now) / timedelta(hours=1)))
            wanted = "one that never expires" if expires_in is None else "one that expires later"
            left = f"ask for at most {hours} hours" if hours else "it has less than an hour left"
            raise exceptions.PermissionDenied(
                f"This token expires at {by.expiry:%Y-%m-%d %H:%M:%S} UTC and cannot make "
                f"{wanted}: {left}, or sign in to the page to make a longer-lived token."
            )
    token, key = AuthToken.objects.create(user, expiry=expires_in)
    if by is not None and by.expiry is not None and token.expiry > by.expiry:
        token.expiry = by.expiry  # knox's clock read a moment after ours
        token.save(update_fields=["expiry"])
    return token, key


def user_get_or_create(*, username: str):
    """The user of that name, made (with no usable password) if missing; and whether it
    was made. Refuses (CommandError) a name Django's own forms would refuse."""
    User = get_user_model()
    try:
        User._meta.get_field("username").run_validators(username)
    except ValidationError as error:
        raise CommandError(f"{username!r} is not a valid user name: {error.messages[0]}") from None
    user, created = User.objects.get_or_create(username=username)
    if created:
        user.set_unusable_password()  # `manage.py changepassword` lets them sign in
        user.save(update_fields=["password"])
    return user, created


def token_revoke(*, user, token_key: str, by: AuthToken | None = None) -> None:
    """Revoke one of the user's tokens; any other key is a 404, whoever has it. A token
    (`by`) may revoke only itself: managing the others takes a signed-in session."""
    if by is not None and token_key != by.token_key:
        raise exceptions.PermissionDenied(
            "A token may revoke only itself (its own token_key): sign in to the page to "
            "revoke your other tokens."
        )
    deleted, _ = AuthToken.objects.filter(user=user, token_key=token_key).delete()
    if not deleted:
        raise exceptions.NotFound(f"You have no token {token_key}")
