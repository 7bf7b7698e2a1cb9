"""Webhooks against a real HTTP receiver on 127.0.0.1: every delivery verified with the
`standardwebhooks` library, retried until answered, never lost, never sent to this
machine's network unless allowed."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone
from standardwebhooks import Webhook

from conftest import make_media, upload
from jobs.models import Job
from videoproc import webhooks
from videoproc.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from videoproc.tasks import deliver_webhook
from videos.models import Video

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]
FAST = [0.2] * 8  # seconds between tries: eight retries within two seconds


class Receiver:
    """An HTTP server on 127.0.0.1 that records each POST and answers the statuses in
    `answers` first, then 200."""

    def __init__(self, port: int = 0):
        self.port = port
        self.received: list[tuple[dict, bytes]] = []
        self.answers: list[int] = []
        self.endless = False
        self.server = None

    def start(self) -> "Receiver":
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                status = receiver.answers.pop(0) if receiver.answers else 200
                self.send_response(status)
                if status == 302:
                    self.send_header("Location", "/elsewhere")
                if receiver.endless:  # an answer that never ends
                    self.end_headers()
                    try:
                        for _ in range(10_000):
                            self.wfile.write(b"x" * 65536)
                    except OSError:
                        return
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def events(self, secret: str) -> list[dict]:
        """Every body received, each verified with the Standard Webhooks library."""
        return [Webhook(secret).verify(body, headers) for headers, body in self.received]


@pytest.fixture(autouse=True)
def one_sender_per_test():
    """No sender thread outlives its test (it would look into the next one's database)."""
    yield
    webhooks.stop()


@pytest.fixture
def fast(settings):
    settings.WEBHOOK_ALLOW_PRIVATE = True
    settings.WEBHOOK_RETRY_SCHEDULE = FAST
    settings.WEBHOOK_SWEEP_INTERVAL = 0.2
    settings.WEBHOOK_TIMEOUT = 2


@pytest.fixture
def receiver():
    receiver = Receiver().start()
    yield receiver
    receiver.stop()


def eventually(check, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
    return result


def register(api, url: str, **fields) -> dict:
    response = api.post("/webhooks", {"url": url, **fields}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def emit(subject: str = "video:1", type: str = webhooks.VIDEO_CREATED, **data):
    webhooks.event_emit(type=type, subject=subject, owner_id=None, data=data)


def test_the_events_of_upload_trim_execute_arrive_verified_and_in_order(api, fast, receiver, clip):
    # given
    endpoint = register(api, receiver.url)
    assert endpoint["secret"].startswith("whsec_")
    # when
    video = upload(api, clip).json()[0]
    body = {"request_code": "w", "video_id": video["id"], "trim_start": "0", "trim_end": "1000"}
    job_id = api.post("/video/process/trim", body, format="json").json()["job_id"]
    executed = api.post("/video/process/execute", {"request_code": "w"}, format="json")
    assert executed.status_code == 200
    # then
    eventually(lambda: len(receiver.received) >= 4)
    events = receiver.events(endpoint["secret"])
    assert [event["type"] for event in events] == [
        "video.created",
        "job.queued",
        "job.started",
        "job.succeeded",
    ]
    assert events[0]["data"]["id"] == video["id"]
    assert {event["data"]["id"] for event in events[1:]} == {job_id}
    succeeded = events[-1]["data"]
    assert succeeded["status"] == "succeeded"
    assert succeeded["output_video"]["id"] == succeeded["output_video_id"]
    assert succeeded["output_video"]["processed_file_path"].startswith("./storage/")
    ids = [headers["webhook-id"] for headers, _ in receiver.received]
    assert len(set(ids)) == 4
    eventually(lambda: not WebhookDelivery.objects.filter(status="pending").exists())
    log = api.get(f"/webhooks/{endpoint['id']}/deliveries").json()
    assert [(row["status"], row["attempts"], row["response_status"]) for row in log] == [
        ("delivered", 1, 200)
    ] * 4


def test_a_failed_job_and_a_cancelled_one_are_told_with_the_reason(api, fast, receiver, clip):
    endpoint = register(api, receiver.url, event_types=["job.failed", "job.cancelled"])
    video = upload(api, clip).json()[0]
    body = {"request_code": "f", "video_id": video["id"], "trim_start": "0", "trim_end": "1000"}
    cancelled = api.post("/video/process/trim", body, format="json").json()["job_id"]
    failing = api.post("/video/process/trim", body, format="json").json()["job_id"]
    # when: one is cancelled, the other's input file is lost before it runs
    assert api.post(f"/video/process/jobs/{cancelled}/cancel").status_code == 200
    default_storage.delete(Video.objects.get(pk=video["id"]).file.name)
    api.post("/video/process/execute", {"request_code": "f"}, format="json")
    # then: only the types it asked for, each with its reason
    eventually(lambda: len(receiver.received) >= 2)
    events = receiver.events(endpoint["secret"])
    assert [(event["type"], event["data"]["id"]) for event in events] == [
        ("job.cancelled", cancelled),
        ("job.failed", failing),
    ]
    assert events[0]["data"]["error"] == "cancelled before it ran"
    assert events[1]["data"]["error"] == Job.objects.get(pk=failing).error != ""


def test_a_receiver_answering_500_twice_gets_the_event_on_the_third_try(fast, receiver):
    # given
    receiver.answers = [500, 500]
    endpoint = webhooks.endpoint_create(url=receiver.url, event_types=[])
    # when
    emit(name="a")
    # then
    delivery = WebhookDelivery.objects.get()
    eventually(lambda: WebhookDelivery.objects.get().status == "delivered")
    delivery.refresh_from_db()
    assert (delivery.attempts, delivery.response_status) == (3, 200)
    events = receiver.events(endpoint.secret)
    assert [event["data"] for event in events] == [{"name": "a"}] * 3
    assert len({headers["webhook-id"] for headers, _ in receiver.received}) == 1
    endpoint.refresh_from_db()
    assert endpoint.failing_since is None  # it answered in the end


def test_a_receiver_down_for_a_while_gets_every_event_once_it_is_back(settings, fast):
    # given: an endpoint whose server is down, tried every 0.2 s for 4 s
    settings.WEBHOOK_RETRY_SCHEDULE = [0.2] * 20
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    receiver = Receiver(port)
    endpoint = webhooks.endpoint_create(url=receiver.url, event_types=[])
    # when: events happen while it is down
    for step in ("job.queued", "job.started", "job.succeeded"):
        emit(subject="job:7", type=step)
    emit(subject="video:3")
    eventually(lambda: WebhookDelivery.objects.filter(attempts__gte=3).exists())
    assert WebhookDelivery.objects.filter(status="pending").count() == 4
    receiver.start()
    try:
        # then
        eventually(lambda: not WebhookDelivery.objects.filter(status="pending").exists())
        events = receiver.events(endpoint.secret)
    finally:
        receiver.stop()
    assert sorted(event["type"] for event in events) == sorted(
        ["job.queued", "job.started", "job.succeeded", "video.created"]
    )
    job_events = [event["type"] for event in events if event["type"].startswith("job.")]
    assert job_events == ["job.queued", "job.started", "job.succeeded"]  # in order
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"delivered"}


def test_a_process_killed_between_the_change_and_its_delivery_loses_nothing(tmp_path, receiver):
    # given: a database and media of the processes' own
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "MEDIA_ROOT": str(tmp_path / "media"),
        "SCRATCH_DIR": str(tmp_path / "scratch"),
        "WEBHOOK_ALLOW_PRIVATE": "true",
        "TIMELINE_AUTO": "false",
        "API_AUTH": "off",
        "CELERY_BROKER_URL": "",
    }
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], env=env, check=True, cwd=ROOT)
    clip = make_media(tmp_path / "clip.mp4")
    # when: a process uploads, trims and executes, and is killed the moment the job's
    # success is committed, before anything can send it
    script = f"""
import os, signal, django
django.setup()
from rest_framework.test import APIClient
from videoproc import webhooks
from videoproc.models import WebhookDelivery
wake = webhooks.deliveries_wake
def wake_or_die(ids):
    if WebhookDelivery.objects.filter(pk__in=ids, event__type="job.succeeded").exists():
        os.kill(os.getpid(), signal.SIGKILL)
    wake(ids)
webhooks.deliveries_wake = wake_or_die
api = APIClient()
secret = api.post("/webhooks", {{"url": "{receiver.url}"}}, format="json").json()["secret"]
print(secret, flush=True)
with open("{clip}", "rb") as handle:
    video = api.put("/video/upload", {{"files": [handle]}}, format="multipart").json()[0]
body = {{"request_code": "k", "video_id": video["id"], "trim_start": "0", "trim_end": "1000"}}
api.post("/video/process/trim", body, format="json")
api.post("/video/process/execute", {{"request_code": "k"}}, format="json")
"""
    killed = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    secret = killed.stdout.split()[0]
    before = [event["type"] for event in receiver.events(secret)]
    assert "job.succeeded" not in before
    # then: the next process to look sends what was left
    subprocess.run([*manage, "deliver_webhooks"], env=env, check=True, cwd=ROOT)
    events = receiver.events(secret)
    types = [event["type"] for event in events]
    assert set(types) == {"video.created", "job.queued", "job.started", "job.succeeded"}
    assert types[-1] == "job.succeeded"


def test_a_sender_killed_holding_a_delivery_leaves_it_to_the_next_once_its_lease_ends(
    fast, receiver, monkeypatch
):
    # given: a sender claimed the delivery and died before sending it
    monkeypatch.setattr(webhooks, "deliveries_wake", lambda ids: None)  # no thread
    endpoint = webhooks.endpoint_create(url=receiver.url, event_types=[])
    emit()
    delivery = WebhookDelivery.objects.get()
    assert webhooks.delivery_claim(delivery.id, lease=0.5) is not None
    # when: another sender looks at once, then after the lease
    assert webhooks.delivery_claim(delivery.id) is None  # held: never sent twice at once
    assert webhooks.deliveries_send_due() == 0
    time.sleep(0.6)
    assert webhooks.deliveries_send_due() == 1
    # then
    delivery.refresh_from_db()
    assert delivery.status == "delivered"
    assert len(receiver.events(endpoint.secret)) == 1


def test_a_private_address_is_refused_without_the_setting(api, settings):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    for url in [
        "http://127.0.0.1:8000/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://0.0.0.0/",
        "ftp://example.com/hook",
    ]:
        response = api.post("/webhooks", {"url": url}, format="json")
        assert response.status_code == 400, url
        assert response.json()["detail"], url
    assert not WebhookEndpoint.objects.exists()


def test_an_address_that_turned_private_is_refused_at_delivery(
    settings, fast, receiver, monkeypatch
):
    # given: allowed when registered (as a name resolving to a public address would be)
    monkeypatch.setattr(webhooks, "deliveries_wake", lambda ids: None)
    webhooks.endpoint_create(url=receiver.url, event_types=[])
    settings.WEBHOOK_ALLOW_PRIVATE = False  # now it resolves somewhere it may not
    emit()
    # when
    webhooks.deliveries_send_due()
    # then
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "pending" and delivery.attempts == 1
    assert "127.0.0.1" in delivery.error
    assert receiver.received == []


def test_no_redirect_is_followed(fast, receiver, monkeypatch):
    monkeypatch.setattr(webhooks, "deliveries_wake", lambda ids: None)
    receiver.answers = [302]
    webhooks.endpoint_create(url=receiver.url, event_types=[])
    emit()
    webhooks.deliveries_send_due()
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.response_status) == ("pending", 302)
    assert "not followed" in delivery.error
    assert len(receiver.received) == 1


def test_an_endless_answer_is_read_only_up_to_the_limit(fast, receiver, monkeypatch):
    monkeypatch.setattr(webhooks, "deliveries_wake", lambda ids: None)
    receiver.endless = True
    webhooks.endpoint_create(url=receiver.url, event_types=[])
    emit()
    started = time.monotonic()
    webhooks.deliveries_send_due()
    assert time.monotonic() - started < 2
    assert WebhookDelivery.objects.get().status == "delivered"


def test_a_rotated_secret_and_the_old_one_both_verify_for_a_while(api, fast, receiver):
    endpoint = register(api, receiver.url)
    rotated = api.post(f"/webhooks/{endpoint['id']}/secret").json()
    assert rotated["secret"] != endpoint["secret"]
    assert rotated["secret_rotating_until"]
    emit()
    eventually(lambda: receiver.received)
    [(headers, body)] = receiver.received
    assert len(headers["webhook-signature"].split()) == 2
    for secret in (endpoint["secret"], rotated["secret"]):
        assert Webhook(secret).verify(body, headers)["type"] == "video.created"
    # once the overlap is over, only the new secret signs
    WebhookEndpoint.objects.update(previous_secret_expires_at=timezone.now())
    event = WebhookEvent.objects.get()
    headers = webhooks.signed_headers(
        endpoint=WebhookEndpoint.objects.get(), message_id="msg_x", body=b"{}"
    )
    assert len(headers["webhook-signature"].split()) == 1
    assert event.payload["type"] == "video.created"


def test_an_endpoint_failing_for_long_is_disabled_with_a_notice_and_keeps_its_events(
    settings, fast, receiver, api, monkeypatch
):
    monkeypatch.setattr(webhooks, "deliveries_wake", lambda ids: None)
    settings.WEBHOOK_DISABLE_AFTER = 60
    receiver.answers = [500, 500]
    endpoint = register(api, receiver.url)
    emit()
    webhooks.deliveries_send_due()
    WebhookEndpoint.objects.update(failing_since=timezone.now() - timedelta(seconds=61))
    WebhookDelivery.objects.update(next_try_at=timezone.now())
    # when
    webhooks.deliveries_send_due()
    # then
    shown = api.get(f"/webhooks/{endpoint['id']}").json()
    assert shown["enabled"] is False
    assert "answered HTTP 500" in shown["disabled_reason"]
    emit(subject="video:2")  # not fanned out to a disabled endpoint
    assert WebhookDelivery.objects.count() == 1
    # when enabled again, what waited goes
    enabled = api.patch(f"/webhooks/{endpoint['id']}", {"enabled": True}, format="json")
    assert enabled.status_code == 200
    webhooks.deliveries_send_due()
    assert WebhookDelivery.objects.get().status == "delivered"


def test_redeliver_sends_the_same_webhook_id_again(api, fast, receiver):
    endpoint = register(api, receiver.url)
    emit()
    eventually(lambda: WebhookDelivery.objects.filter(status="delivered").exists())
    [first] = api.get(f"/webhooks/{endpoint['id']}/deliveries").json()
    # when
    response = api.post(f"/webhooks/{endpoint['id']}/deliveries/{first['id']}/redeliver")
    # then
    assert response.status_code == 201
    eventually(lambda: len(receiver.received) == 2)
    ids = [headers["webhook-id"] for headers, _ in receiver.received]
    assert ids == [first["webhook_id"]] * 2
    missing = api.post(f"/webhooks/{endpoint['id']}/deliveries/999999/redeliver")
    assert missing.status_code == 404 and missing.json()["detail"]


def test_with_accounts_each_user_hears_only_of_their_own(user_api, fast, receiver, clip):
    alice, bob = user_api("alice"), user_api("bob")
    bobs = Receiver().start()
    try:
        mine = register(alice, receiver.url)
        register(bob, bobs.url)
        assert [row["url"] for row in bob.get("/webhooks").json()] == [bobs.url]
        assert bob.get(f"/webhooks/{mine['id']}").status_code == 404
        # when
        assert upload(alice, clip).status_code == 200
        # then
        eventually(lambda: receiver.received)
        assert [event["type"] for event in receiver.events(mine["secret"])] == ["video.created"]
        assert bobs.received == []
    finally:
        bobs.stop()


def test_the_receiver_in_the_docs_verifies_and_handles_events(fast, monkeypatch):
    # given: the ten-line receiver of docs/api.md, running
    text = (ROOT / "docs" / "api.md").read_text()
    code = text.split("A receiver in ten lines", 1)[1].split("```python\n", 1)[1]
    code = code.split("```", 1)[0]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    endpoint = webhooks.endpoint_create(url=f"http://127.0.0.1:{port}/", event_types=[])
    env = {**os.environ, "WEBHOOK_SECRET": endpoint.secret, "PORT": str(port)}
    receiver = subprocess.Popen(
        [sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    try:
        eventually(lambda: socket.socket().connect_ex(("127.0.0.1", port)) == 0)
        # when
        emit(subject="video:5", id=5)
        # then
        line = receiver.stdout.readline().decode().split()
        assert line[1:] == ["video.created", "5"]
        assert line[0] == WebhookEvent.objects.get().message_id
        eventually(lambda: WebhookDelivery.objects.get().status == "delivered")
        # and a forged one is refused
        forged = webhooks.post(
            url=endpoint.url,
            body=b'{"type": "video.created"}',
            headers={"webhook-id": "msg_x", "webhook-timestamp": "1", "webhook-signature": "v1,x"},
        )
        assert forged.status == 400
    finally:
        receiver.kill()
        receiver.wait()


def test_with_a_broker_a_task_sends_each_delivery_and_the_sweep_takes_a_lost_one(
    settings, fast, receiver, monkeypatch
):
    # given: a broker (its messages caught here)
    settings.CELERY_BROKER_URL = "redis://broker.invalid:6379/0"
    sent = []
    monkeypatch.setattr(
        webhooks.current_app, "send_task", lambda name, args, **options: sent.append((name, args))
    )
    receiver.answers = [500]
    webhooks.endpoint_create(url=receiver.url, event_types=[])
    # when
    emit()
    # then: sent after commit, tried by the task, sent again for its retry
    delivery = WebhookDelivery.objects.get()
    assert sent == [("videoproc.tasks.deliver_webhook", (delivery.id,))]
    deliver_webhook(delivery.id)
    assert sent[-1] == ("videoproc.tasks.deliver_webhook", (delivery.id,))
    time.sleep(0.25)
    deliver_webhook(delivery.id)
    deliver_webhook(delivery.id)  # the same message twice: nothing more is sent
    assert len(receiver.received) == 2
    assert WebhookDelivery.objects.get().status == "delivered"
    # and a delivery whose message was lost is swept up once it is overdue
    monkeypatch.setattr(webhooks, "_send_tasks", lambda ids, **options: None)
    emit(subject="video:2")
    assert webhooks.deliveries_send_due(older_than=webhooks.SWEEP_GRACE) == 0
    WebhookDelivery.objects.filter(status="pending").update(
        next_try_at=timezone.now() - webhooks.SWEEP_GRACE
    )
    assert webhooks.deliveries_send_due(older_than=webhooks.SWEEP_GRACE) == 1
    assert len(receiver.received) == 3


@pytest.mark.integration
def test_with_celery_a_worker_killed_after_the_change_loses_no_event(
    settings, fast, receiver, api, clip, start_worker
):
    # given: deliveries go to a queue of their own, which no worker serves yet
    settings.JOB_QUEUES = {**settings.JOB_QUEUES, "webhook": "webhooks"}
    env = {"WEBHOOK_ALLOW_PRIVATE": "true", "JOB_QUEUE_WEBHOOK": "webhooks"}
    jobs_worker = start_worker("jobs", **env)
    endpoint = register(api, receiver.url)
    video = upload(api, clip).json()[0]
    body = {"request_code": "c", "video_id": video["id"], "trim_start": "0", "trim_end": "1000"}
    job_id = api.post("/video/process/trim", body, format="json").json()["job_id"]
    # when: a worker runs the job, commits its success with the event, and is killed
    executed = api.post("/video/process/execute", {"request_code": "c"}, format="json")
    assert executed.status_code == 200, executed.content
    assert Job.objects.get(pk=job_id).status == "succeeded"
    jobs_worker.kill()
    assert receiver.received == []
    # then: a worker for the deliveries sends every event, the job's in order
    start_worker("webhooks", queues="webhooks", **env)
    eventually(lambda: len(receiver.received) >= 4)
    types = [event["type"] for event in receiver.events(endpoint["secret"])]
    assert sorted(types) == sorted(["video.created", "job.queued", "job.started", "job.succeeded"])
    job_types = [name for name in types if name.startswith("job.")]
    assert job_types == ["job.queued", "job.started", "job.succeeded"]


def test_the_admin_adds_an_endpoint_with_a_secret_and_lists_the_log(
    admin_client, settings, fast, receiver, monkeypatch
):
    monkeypatch.setattr(webhooks, "deliveries_wake", lambda ids: None)
    settings.WEBHOOK_ALLOW_PRIVATE = False
    form = {"url": "http://169.254.169.254/", "event_types": "[]", "enabled": "on"}
    refused = admin_client.post("/admin/videoproc/webhookendpoint/add/", form)
    assert refused.status_code == 200 and b"169.254.169.254, a loopback" in refused.content
    settings.WEBHOOK_ALLOW_PRIVATE = True
    added = admin_client.post(
        "/admin/videoproc/webhookendpoint/add/", {**form, "url": receiver.url}
    )
    assert added.status_code == 302
    assert WebhookEndpoint.objects.get().secret.startswith("whsec_")
    emit()
    webhooks.deliveries_send_due()
    log = admin_client.get("/admin/videoproc/webhookdelivery/")
    assert log.status_code == 200 and b"delivered" in log.content
    delivery = WebhookDelivery.objects.get()
    redeliver = {"action": "redeliver", "_selected_action": [delivery.id]}
    assert admin_client.post("/admin/videoproc/webhookdelivery/", redeliver).status_code == 302
    assert WebhookDelivery.objects.filter(status="pending").count() == 1


def test_old_events_are_pruned_once_their_deliveries_are_over(settings, fast, monkeypatch):
    monkeypatch.setattr(webhooks, "deliveries_wake", lambda ids: None)
    webhooks.endpoint_create(url="http://127.0.0.1:9/", event_types=[])
    emit(subject="video:1")
    emit(subject="video:2")
    WebhookEvent.objects.update(created_at=timezone.now() - timedelta(days=31))
    WebhookDelivery.objects.filter(subject="video:1").update(status="delivered")
    # when
    assert webhooks.events_prune() == 1
    # then: the one still being tried stays
    assert list(WebhookEvent.objects.values_list("subject", flat=True)) == ["video:2"]
    assert WebhookDelivery.objects.count() == 1


def test_a_subject_waiting_for_a_retry_holds_up_no_other(settings, fast, receiver, monkeypatch):
    # given: a job's first event waits for its retry, and many of its events behind it
    monkeypatch.setattr(webhooks, "deliveries_wake", lambda ids: None)
    receiver.answers = [500]
    settings.WEBHOOK_RETRY_SCHEDULE = [60]
    endpoint = webhooks.endpoint_create(url=receiver.url, event_types=[])
    emit(subject="job:1", type="job.queued")
    webhooks.deliveries_send_due()
    for _ in range(webhooks.CLAIM_BATCH + 5):
        emit(subject="job:1", type="job.started")
    emit(subject="video:2")
    # when
    while webhooks.deliveries_send_due():
        pass
    # then: the video's event went; the job's wait, in order, behind its first
    assert [event["type"] for event in receiver.events(endpoint.secret)] == [
        "job.queued",
        "video.created",
    ]
    assert WebhookDelivery.objects.filter(subject="job:1", attempts=0).count() == 25
