"""Webhooks: events written in the transaction of the change they report (an outbox),
signed per Standard Webhooks and delivered at least once (docs/api.md#webhooks).

An event becomes one delivery row per endpoint that wants it, in the caller's
transaction: if the change commits, so does its delivery; a crash after the commit
leaves the row due, and whoever looks next sends it. Senders claim a due delivery with
a filtered update that sets a lease (on PostgreSQL after SKIP LOCKED; SQLite has no row
locks, and the update's row count decides), so two processes never send it at once,
and a killed sender's claim runs out and the delivery is tried again: the receiver may
see one event twice, with the same `webhook-id`. One endpoint gets the events of one
subject (a job, a video) in order: a delivery waits while an earlier one of its subject
to that endpoint is still open.

Who sends: with a broker, a Celery task per delivery sent after commit (videoproc/
tasks.py), retried by the schedule; without, a thread of each web process. The thread
runs with a broker too, sweeping up deliveries a lost message left waiting.

Endpoints must not reach this machine's network: a URL whose host resolves to a
loopback, private, link-local (cloud metadata) or otherwise non-public address is
refused unless WEBHOOK_ALLOW_PRIVATE, when it is registered and again at each try, and
the try connects to the address that was checked (no second lookup to rebind)."""

import base64
import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import urllib3
from celery import current_app
from django.conf import settings
from django.db import connections, transaction
from django.db.models import Exists, Min, OuterRef, Q
from django.utils import timezone
from kombu.exceptions import OperationalError
from rest_framework import status as http

from videoproc.access import accounts_required, scoped
from videoproc.errors import ServiceError
from videoproc.models import WebhookDelivery, WebhookEndpoint, WebhookEvent

logger = logging.getLogger(__name__)

VIDEO_CREATED = "video.created"
JOB_QUEUED = "job.queued"
JOB_STARTED = "job.started"
JOB_SUCCEEDED = "job.succeeded"
JOB_FAILED = "job.failed"
JOB_CANCELLED = "job.cancelled"
EVENT_TYPES = (VIDEO_CREATED, JOB_QUEUED, JOB_STARTED, JOB_SUCCEEDED, JOB_FAILED, JOB_CANCELLED)

Status = WebhookDelivery.Status
SECRET_PREFIX = "whsec_"
DELIVER_TASK = "videoproc.tasks.deliver_webhook"
USER_AGENT = "videoproc-webhooks/1"
CLAIM_BATCH = 20  # deliveries one pass of a sender claims at most
# With a broker the thread takes only deliveries due this long: the workers' work.
SWEEP_GRACE = timedelta(seconds=60)
# A Celery retry further off than this is left to the sweep: Redis would hand an
# unacknowledged message with a far countdown to another worker after its visibility
# timeout, and the sweep finds the delivery due anyway.
TASK_MAX_COUNTDOWN = 600


# The outbox


def event_emit(*, type: str, subject: str, owner_id: int | None, data: dict) -> WebhookEvent | None:
    """Record an event and its deliveries in the caller's transaction, to be sent once it
    commits; nothing when no endpoint wants it."""
    endpoints = [
        endpoint
        for endpoint in _listeners(owner_id)
        if not endpoint.event_types or type in endpoint.event_types
    ]
    if not endpoints:
        return None
    now = timezone.now()
    with transaction.atomic():
        event = WebhookEvent.objects.create(
            message_id=f"msg_{uuid.uuid4().hex}",
            type=type,
            owner_id=owner_id,
            subject=subject,
            payload={"type": type, "timestamp": _iso(now), "data": data},
        )
        deliveries = WebhookDelivery.objects.bulk_create(
            WebhookDelivery(event=event, endpoint=endpoint, subject=subject, next_try_at=now)
            for endpoint in endpoints
        )
        ids = [delivery.id for delivery in deliveries]
        transaction.on_commit(lambda: deliveries_wake(ids))
    return event


def _listeners(owner_id: int | None):
    """The enabled endpoints that hear of an owner's rows: theirs with accounts; every
    one without (they belong to no one then)."""
    endpoints = WebhookEndpoint.objects.filter(enabled=True)
    if accounts_required():
        return endpoints.filter(owner_id=owner_id) if owner_id else endpoints.none()
    return endpoints


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


# Endpoints


def secret_new() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def endpoint_create(
    *, url: str, event_types: list[str], description: str = "", owner=None
) -> WebhookEndpoint:
    """Register a URL (refused if it reaches a private address); its secret is on the
    returned row, for the caller to show this once."""
    url_check(url)
    return WebhookEndpoint.objects.create(
        url=url,
        event_types=sorted(set(event_types)),
        description=description,
        secret=secret_new(),
        owner=owner,
    )


def endpoint_get(*, endpoint_id: int, owner=None) -> WebhookEndpoint:
    endpoint = scoped(WebhookEndpoint.objects.all(), owner).filter(pk=endpoint_id).first()
    if endpoint is None:
        raise ServiceError(f"No webhook endpoint with id {endpoint_id}", http.HTTP_404_NOT_FOUND)
    return endpoint


def endpoint_update(
    *,
    endpoint: WebhookEndpoint,
    url: str | None = None,
    event_types: list[str] | None = None,
    description: str | None = None,
    enabled: bool | None = None,
) -> WebhookEndpoint:
    """Change what an endpoint receives; enabling a disabled one sends what waited for it."""
    with transaction.atomic():
        if url is not None and url != endpoint.url:
            url_check(url)
            endpoint.url = url
        if event_types is not None:
            endpoint.event_types = sorted(set(event_types))
        if description is not None:
            endpoint.description = description
        if enabled and not endpoint.enabled:
            endpoint.enabled, endpoint.disabled_reason, endpoint.failing_since = True, "", None
            waiting = endpoint.deliveries.filter(status=Status.PENDING)
            ids = list(waiting.values_list("id", flat=True))
            waiting.update(next_try_at=timezone.now())
            transaction.on_commit(lambda: deliveries_wake(ids))
        elif enabled is False:
            endpoint.enabled, endpoint.disabled_reason = False, "disabled by its owner"
        endpoint.save()
    return endpoint


def endpoint_rotate(*, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """A new secret, returned once; the old one signs too for WEBHOOK_SECRET_OVERLAP
    seconds, so receivers can change over without losing an event."""
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_expires_at = timezone.now() + timedelta(
        seconds=settings.WEBHOOK_SECRET_OVERLAP
    )
    endpoint.secret = secret_new()
    endpoint.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at"])
    return endpoint


def delivery_redeliver(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a delivery's event to its endpoint again, as a new delivery with the same
    `webhook-id` (a receiver that had it sees a duplicate it can drop)."""
    if delivery.status == Status.PENDING:
        raise ServiceError(
            f"Delivery {delivery.id} is still being tried: its next try is due at "
            f"{_iso(delivery.next_try_at or timezone.now())}.",
            http.HTTP_409_CONFLICT,
        )
    with transaction.atomic():
        again = WebhookDelivery.objects.create(
            event_id=delivery.event_id,
            endpoint_id=delivery.endpoint_id,
            subject=delivery.subject,
            next_try_at=timezone.now(),
        )
        transaction.on_commit(lambda: deliveries_wake([again.id]))
    return again


# Where a URL may lead


def url_check(url: str) -> list[str]:
    """The addresses an endpoint's URL reaches now, or a 400 saying why it is refused: not
    http(s), or a host that does not resolve or resolves to a non-public address."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ServiceError("A webhook URL must be http:// or https:// with a host.")
    if parts.username or parts.password:
        raise ServiceError("A webhook URL must not hold a user name or password.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        found = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, ValueError) as error:
        raise ServiceError(f"The webhook URL's host cannot be resolved ({error}).") from None
    addresses = list(dict.fromkeys(info[4][0] for info in found))
    if not settings.WEBHOOK_ALLOW_PRIVATE:
        for address in addresses:
            if not _public(address):
                raise ServiceError(
                    f"The webhook URL's host resolves to {address}, a loopback, private, "
                    "link-local or reserved address: events go only to public addresses "
                    "(WEBHOOK_ALLOW_PRIVATE=true allows others)."
                )
    return addresses


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


# Signing


def signature(*, secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """`v1,` + base64 HMAC-SHA256 of `id.timestamp.body`, keyed by the secret's bytes."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def signed_headers(*, endpoint: WebhookEndpoint, message_id: str, body: bytes) -> dict:
    """The Standard Webhooks headers; during a rotation signed with both secrets."""
    timestamp = int(time.time())
    keys = [endpoint.secret]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret and expires and expires > timezone.now():
        keys.append(endpoint.previous_secret)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(
            signature(secret=key, message_id=message_id, timestamp=timestamp, body=body)
            for key in keys
        ),
    }


def event_body(event: WebhookEvent) -> bytes:
    return json.dumps(event.payload, separators=(",", ":")).encode()


# Sending


@dataclass
class Answer:
    """How one try went: the HTTP status, if one came back, and why it failed, if it did."""

    status: int | None = None
    error: str = ""

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def post(*, url: str, body: bytes, headers: dict) -> Answer:
    """POST the body, to an address checked now and nowhere else, following no redirect,
    within WEBHOOK_TIMEOUT, reading at most WEBHOOK_RESPONSE_LIMIT bytes of the answer."""
    parts = urlsplit(url)
    try:
        address = url_check(url)[0]
    except ServiceError as refusal:
        return Answer(error=refusal.detail)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    timeout = urllib3.Timeout(connect=settings.WEBHOOK_TIMEOUT, read=settings.WEBHOOK_TIMEOUT)
    options = {"timeout": timeout, "retries": False, "maxsize": 1}
    if parts.scheme == "https":  # the certificate is checked against the name, not the address
        pool = urllib3.HTTPSConnectionPool(
            address,
            port,
            server_hostname=parts.hostname,
            assert_hostname=parts.hostname,
            cert_reqs="CERT_REQUIRED",
            **options,
        )
    else:
        pool = urllib3.HTTPConnectionPool(address, port, **options)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host = parts.netloc.rpartition("@")[2]
    try:
        response = pool.urlopen(
            "POST",
            target,
            body=body,
            headers={
                **headers,
                "Host": host,
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
            },
            redirect=False,
            preload_content=False,
        )
        try:
            response.read(settings.WEBHOOK_RESPONSE_LIMIT)
        finally:
            response.release_conn()
    except (urllib3.exceptions.HTTPError, OSError) as error:
        return Answer(error=f"no answer: {error}"[:500])
    finally:
        pool.close()
    answer = Answer(status=response.status)
    if 300 <= response.status < 400:
        answer.error = f"redirected to {response.headers.get('Location', '?')[:200]}: not followed"
    elif not answer.delivered:
        answer.error = f"answered HTTP {response.status}"
    return answer


def delivery_claim(delivery_id: int, *, lease: float | None = None) -> str | None:
    """Take a due delivery for one try; the claim's token, or None if it is not due, is
    held by another sender, or waits for an earlier event of its subject."""
    now = timezone.now()
    token = uuid.uuid4().hex
    claimed = (
        _due(now)
        .filter(pk=delivery_id)
        .update(lease_until=now + timedelta(seconds=lease or _lease()), lease_token=token)
    )
    return token if claimed else None


def _due(now: datetime, *, older_than: timedelta = timedelta(0)):
    """The deliveries a sender may take now: pending, due, held by no live lease, and
    the first still open of their subject to their endpoint."""
    earlier_open = WebhookDelivery.objects.filter(
        endpoint=OuterRef("endpoint"),
        subject=OuterRef("subject"),
        status=Status.PENDING,
        id__lt=OuterRef("id"),
    )
    return (
        WebhookDelivery.objects.filter(
            status=Status.PENDING, next_try_at__lte=now - older_than, endpoint__enabled=True
        )
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .exclude(Exists(earlier_open))
    )


def _lease() -> float:
    """Long enough for one try (connect and read), and a margin."""
    return 2 * settings.WEBHOOK_TIMEOUT + 30


def delivery_attempt(*, delivery_id: int, token: str) -> WebhookDelivery | None:
    """Make one try of a claimed delivery and record it; the row, or None if the claim
    was lost meanwhile (its lease ran out and another sender took it)."""
    delivery = (
        WebhookDelivery.objects.select_related("event", "endpoint")
        .filter(pk=delivery_id, lease_token=token)
        .first()
    )
    if delivery is None:
        return None
    body = event_body(delivery.event)
    headers = signed_headers(
        endpoint=delivery.endpoint, message_id=delivery.event.message_id, body=body
    )
    answer = post(url=delivery.endpoint.url, body=body, headers=headers)
    return _record(delivery, token=token, answer=answer)


def _record(delivery: WebhookDelivery, *, token: str, answer: Answer) -> WebhookDelivery | None:
    now = timezone.now()
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update()
            .filter(pk=delivery.pk, lease_token=token, status=Status.PENDING)
            .first()
        )
        if delivery is None:
            return None
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=delivery.endpoint_id)
        delivery.attempts += 1
        delivery.last_try_at = now
        delivery.response_status = answer.status
        delivery.error = answer.error[:500]
        delivery.lease_until, delivery.lease_token = None, ""
        schedule = settings.WEBHOOK_RETRY_SCHEDULE
        if answer.delivered:
            delivery.status, delivery.delivered_at, delivery.next_try_at = (
                Status.DELIVERED,
                now,
                None,
            )
            if endpoint.failing_since:
                endpoint.failing_since = None
                endpoint.save(update_fields=["failing_since"])
        else:
            if delivery.attempts > len(schedule):
                delivery.status, delivery.next_try_at = Status.FAILED, None
            else:
                delivery.next_try_at = now + timedelta(seconds=schedule[delivery.attempts - 1])
            _endpoint_failed(endpoint, now=now, answer=answer)
        delivery.save()
    return delivery


def _endpoint_failed(endpoint: WebhookEndpoint, *, now: datetime, answer: Answer) -> None:
    """Note an endpoint's failure; disable it, with a notice, once it has failed every try
    for WEBHOOK_DISABLE_AFTER seconds (what waits for it stays, and goes once enabled)."""
    if endpoint.failing_since is None:
        endpoint.failing_since = now
    elif now - endpoint.failing_since > timedelta(seconds=settings.WEBHOOK_DISABLE_AFTER):
        endpoint.enabled = False
        endpoint.disabled_reason = (
            f"Disabled at {_iso(now)}: every try failed since {_iso(endpoint.failing_since)} "
            f"(the last: {answer.error[:200]}). Enable it again once it answers."
        )
        logger.warning(
            "webhook endpoint %s (%s): %s", endpoint.pk, endpoint.url, endpoint.disabled_reason
        )
    endpoint.save(update_fields=["failing_since", "enabled", "disabled_reason"])


def deliveries_send_due(*, older_than: timedelta = timedelta(0), limit: int = CLAIM_BATCH) -> int:
    """One pass of a sender: claim up to `limit` due deliveries, oldest first, and try
    each; how many were tried."""
    due = _due(timezone.now(), older_than=older_than).order_by("id")
    with transaction.atomic():  # PostgreSQL: pass over rows another sender is claiming
        ids = list(
            due.select_for_update(skip_locked=True, of=("self",)).values_list("id", flat=True)[
                :limit
            ]
        )
        claims = [(delivery_id, delivery_claim(delivery_id)) for delivery_id in ids]
    tried = 0
    for delivery_id, token in claims:
        if token is not None:
            delivery_attempt(delivery_id=delivery_id, token=token)
            tried += 1
    return tried


def delivery_send(*, delivery_id: int) -> WebhookDelivery | None:
    """Try one delivery now if it is due and free (a Celery task's work), and send the
    task again for its next try if that is soon; the row after, or None if not tried."""
    token = delivery_claim(delivery_id)
    if token is None:
        return None
    delivery = delivery_attempt(delivery_id=delivery_id, token=token)
    if delivery is not None and delivery.status == Status.PENDING and delivery.next_try_at:
        countdown = (delivery.next_try_at - timezone.now()).total_seconds()
        if countdown <= TASK_MAX_COUNTDOWN:
            _send_tasks([delivery.id], countdown=max(0.0, countdown))
    return delivery


def events_prune() -> int:
    """Delete the events older than WEBHOOK_KEEP_DAYS whose every delivery is over
    (delivered or failed), with their log; how many. An open delivery keeps its event."""
    cutoff = timezone.now() - timedelta(days=settings.WEBHOOK_KEEP_DAYS)
    open_delivery = WebhookDelivery.objects.filter(event=OuterRef("pk"), status=Status.PENDING)
    old = WebhookEvent.objects.filter(created_at__lt=cutoff).exclude(Exists(open_delivery))
    _, by_model = old.delete()
    return by_model.get(WebhookEvent._meta.label, 0)


def next_due() -> datetime | None:
    return WebhookDelivery.objects.filter(status=Status.PENDING, endpoint__enabled=True).aggregate(
        at=Min("next_try_at")
    )["at"]


# Who sends


def distributed() -> bool:
    return bool(settings.CELERY_BROKER_URL)


def deliveries_wake(delivery_ids: list[int]) -> None:
    """After the commit that made deliveries: hand them to Celery, or wake this process's
    thread. A send that fails is no loss: the sweep finds them due."""
    if distributed():
        _send_tasks(delivery_ids)
    else:
        start()
        _wake.set()


def _send_tasks(delivery_ids: list[int], *, countdown: float = 0) -> None:
    queue = settings.JOB_QUEUES.get("webhook", settings.JOB_QUEUE_DEFAULT)
    for delivery_id in delivery_ids:
        try:  # by name: the task module imports this one
            current_app.send_task(
                DELIVER_TASK, args=(delivery_id,), queue=queue, countdown=countdown
            )
        except OperationalError as error:  # the broker is away; the sweep delivers it
            logger.warning("webhook delivery %s not sent to Celery (%s)", delivery_id, error)
            return


_thread_lock = threading.Lock()
_thread: threading.Thread | None = None
_wake = threading.Event()
_stopping = threading.Event()


def start() -> None:
    """Start this process's sender thread, unless it runs already (web processes start it
    at boot: it sends what an earlier process left due)."""
    global _thread
    with _thread_lock:
        if _thread is None or not _thread.is_alive():  # first use, or after a fork
            _thread = threading.Thread(target=_send_forever, name="webhooks", daemon=True)
            _thread.start()


def stop() -> None:
    """Stop this process's sender thread after its pass (tests: none outlives its own)."""
    global _thread
    with _thread_lock:
        if _thread is not None and _thread.is_alive():
            _stopping.set()
            _wake.set()
            _thread.join()
        _thread = None
        _stopping.clear()


PRUNE_INTERVAL = 3600  # seconds between a sender thread's prunes of old events


def _send_forever() -> None:
    pruned_at = 0.0
    while not _stopping.is_set():
        wait = settings.WEBHOOK_SWEEP_INTERVAL
        try:
            if time.monotonic() - pruned_at > PRUNE_INTERVAL:
                events_prune()
                pruned_at = time.monotonic()
            if distributed():  # the workers send; take only what a lost message left
                deliveries_send_due(older_than=SWEEP_GRACE)
            else:
                while deliveries_send_due():
                    pass
                if (due := next_due()) is not None:
                    wait = min(wait, max(0.0, (due - timezone.now()).total_seconds()))
        except Exception:  # a database outage: log it, try again next pass
            logger.exception("webhook delivery pass failed")
        finally:
            connections.close_all()  # this thread's own; a pass reconnects afresh
        _wake.wait(wait)
        _wake.clear()
