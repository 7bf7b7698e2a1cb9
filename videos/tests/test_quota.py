"""The storage quota (USER_STORAGE_QUOTA) under concurrency, and uploads refused from their
declared length before their body is read: over a real socket, against Django's live
server, gunicorn, and nginx in front of it."""

import dataclasses
import http.client
import json
import select
import socket
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from django.middleware.csrf import CSRF_SECRET_LENGTH
from django.test import Client
from django.utils.crypto import get_random_string
from knox.models import AuthToken

from conftest import make_media, upload
from jobs.models import Job
from jobs.tests.integration import (
    WORKER_START_TIMEOUT,
    free_port,
    kill_group,
    shared_env,
    wait_for,
)
from videoproc.errors import ServiceError
from videoproc.settings import BASE_DIR
from videoproc.tests.test_proxy import start_stack
from videos import services
from videos.models import Video

pytestmark = pytest.mark.django_db

MiB = 1024 * 1024
GiB = 1024 * MiB


def media_files(media_root: Path) -> list[Path]:
    return sorted(path for path in media_root.rglob("*") if path.is_file())


def assert_files_are_the_rows(media_root: Path) -> None:
    """Every stored file belongs to a row and every row's files are there: no strays."""
    named = set()
    for file_name, thumbnail in Video.objects.values_list("file", "thumbnail"):
        named |= {file_name, thumbnail} - {""}
    assert {str(path.relative_to(media_root)) for path in media_files(media_root)} == named


# ---- the quota taken in the transaction that stores ----


def another_upload(owner, probed) -> Video:
    """The row another request of the owner's commits (its file is not this test's)."""
    return Video.objects.create(owner=owner, file="origin/other.mp4", **dataclasses.asdict(probed))


def test_an_upload_stored_meanwhile_is_counted_and_the_later_one_refused_whole(
    alice, clip, settings, media_root, monkeypatch
):
    # given a quota with room for two clips, and alice's upload of two
    settings.USER_STORAGE_QUOTA = 2 * clip.stat().st_size + 1000
    real_store = services.video_files_store
    others: list[Video] = []

    def store_while_another_upload_lands(**kwargs):
        if not others:  # past the early check: another request of hers commits a clip
            others.append(another_upload(alice.user, kwargs["probed"]))
        return real_store(**kwargs)

    monkeypatch.setattr(services, "video_files_store", store_while_another_upload_lands)
    # when both are checked, then stored
    response = upload(alice, clip, clip)

    # then the quota, taken again when the rows are made, refuses the upload whole
    assert response.status_code == 413
    assert "quota" in response.json()["detail"]
    assert list(Video.objects.all()) == others
    assert media_files(media_root) == []


def test_an_import_stored_meanwhile_is_counted_too(alice, clip, settings, media_root, monkeypatch):
    settings.USER_STORAGE_QUOTA = clip.stat().st_size + 1000
    real_store = services.video_files_store

    def store_while_an_upload_lands(**kwargs):
        another_upload(alice.user, kwargs["probed"])
        return real_store(**kwargs)

    monkeypatch.setattr(services, "video_files_store", store_while_an_upload_lands)
    with pytest.raises(ServiceError) as refused:
        services.video_import(path=clip, owner=alice.user)

    assert refused.value.status_code == 413
    assert Video.objects.count() == 1
    assert media_files(media_root) == []


def test_a_job_result_is_stored_past_the_quota_and_then_uploads_are_refused(alice, clip, settings):
    # given a quota the clip fills (and jobs run in the execute request, not by a worker)
    settings.USER_STORAGE_QUOTA = clip.stat().st_size + 1000
    settings.CELERY_BROKER_URL = ""
    uploaded = upload(alice, clip).json()[0]["id"]
    trim = {"request_code": "q", "video_id": uploaded, "trim_start": "0", "trim_end": "1s"}
    assert alice.post("/video/process/trim", trim, format="json").status_code == 200

    # when its trim runs: results are not refused by the quota
    assert alice.post("/video/process/execute", {"request_code": "q"}, format="json").json()
    assert Job.objects.get().status == Job.Status.SUCCEEDED
    assert sum(Video.objects.values_list("size", flat=True)) > settings.USER_STORAGE_QUOTA

    # then the next upload is
    assert upload(alice, clip).status_code == 413


# ---- refused from the declared length, before the body is read ----


def upload_slowly(
    url: str,
    headers: dict[str, str] | None = None,
    *,
    declared: int = GiB,
    method: str = "PUT",
    pace: tuple[int, float] = (32 * 1024, 0.05),
    give_up_after: int = 4 * MiB,
) -> "Answer":
    """Send an upload's request line and headers declaring `declared` bytes, then its body
    slowly (pace: so many bytes every so many seconds) until an answer comes: the
    answer, and how many body bytes had been sent by then."""
    address = urlsplit(url)
    boundary = "slowly"
    head = [
        f"{method} /video/upload HTTP/1.1",
        f"Host: {address.netloc}",
        f"Content-Type: multipart/form-data; boundary={boundary}",
        f"Content-Length: {declared}",
        *(f"{name}: {value}" for name, value in (headers or {}).items()),
    ]

    def body() -> Iterator[bytes]:
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; '
            'filename="big.mp4"\r\nContent-Type: video/mp4\r\n\r\n'
        ).encode()
        while True:
            yield bytes(pace[0])

    with socket.create_connection((address.hostname, address.port), timeout=10) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        sent = 0
        for piece in body():
            if select.select([sock], [], [], pace[1])[0]:
                break  # an answer (or the connection closed)
            if sent >= give_up_after:
                pytest.fail(f"{sent} bytes of the body were sent and no answer came")
            sock.sendall(piece)
            sent += len(piece)
        answer = http.client.HTTPResponse(sock)
        answer.begin()
        content = answer.read()
    return Answer(answer.status, json_or_text(content), answer.headers, sent)


@dataclasses.dataclass
class Answer:
    status: int
    json: dict
    headers: http.client.HTTPMessage
    sent: int  # body bytes sent before it came


def json_or_text(content: bytes) -> dict:
    try:
        return json.loads(content)
    except ValueError:
        return {"text": content.decode(errors="replace")}


@pytest.fixture
def alice_key(alice) -> str:
    return alice._credentials["HTTP_AUTHORIZATION"].split()[1]


@pytest.mark.django_db(transaction=True)
def test_a_gibibyte_past_the_quota_is_refused_before_a_mebibyte_is_sent(
    live_server, alice, alice_key, settings, media_root
):
    settings.USER_STORAGE_QUOTA = 1_000_000
    answer = upload_slowly(live_server.url, {"Authorization": f"Token {alice_key}"})
    assert answer.status == 413, answer
    assert "quota" in answer.json["detail"]
    assert answer.sent < MiB
    assert media_files(media_root) == [] and not Video.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_session_upload_past_the_quota_is_refused_before_its_body_too(
    live_server, alice, settings, media_root
):
    # given alice signed in on the page, whose uploads POST with the CSRF token in a header
    settings.USER_STORAGE_QUOTA = 1_000_000
    browser = Client()
    browser.force_login(alice.user)
    csrf = get_random_string(CSRF_SECRET_LENGTH)
    cookies = (
        f"{settings.SESSION_COOKIE_NAME}={browser.cookies[settings.SESSION_COOKIE_NAME].value}"
    )
    headers = {"Cookie": f"{cookies}; csrftoken={csrf}", "X-CSRFToken": csrf}
    # when she uploads a gibibyte: refused before the CSRF check could read the body
    answer = upload_slowly(live_server.url, headers, method="POST")
    assert answer.status == 413, answer
    assert "quota" in answer.json["detail"]
    assert answer.sent < MiB
    # and a forged one (no token) is refused as such, before its body as well
    del headers["X-CSRFToken"]
    answer = upload_slowly(live_server.url, headers, method="POST")
    assert answer.status == 403 and "CSRF" in answer.json["detail"]
    assert answer.sent < MiB


@pytest.mark.django_db(transaction=True)
def test_a_gibibyte_past_the_upload_limit_is_refused_before_a_mebibyte_is_sent(
    live_server, settings, media_root
):
    settings.MAX_UPLOAD_SIZE = 100 * MiB
    answer = upload_slowly(live_server.url)
    assert answer.status == 413, answer
    assert "limit" in answer.json["detail"]
    assert answer.sent < MiB


def test_an_upload_that_fits_is_not_refused_for_its_multipart_framing(alice, clip, settings):
    # given exactly the room for the clip (its upload's body is some hundred bytes more)
    settings.USER_STORAGE_QUOTA = clip.stat().st_size
    assert upload(alice, clip).status_code == 200
    # and nothing more
    assert upload(alice, clip).status_code == 413


def test_the_admission_nginx_asks_answers_from_the_headers(api, alice, settings):
    # (deploy/site.conf.in: nginx passes on only 2xx, 401 and 403 from it)
    settings.USER_STORAGE_QUOTA = 1_000_000
    ask = "/video/upload/admission"
    assert alice.get(ask, headers={"X-Upload-Length": "900000"}).status_code == 204
    refused = alice.get(ask, headers={"X-Upload-Length": str(GiB)})
    assert refused.status_code == 403
    assert refused["X-Refusal-Status"] == "413"
    assert "quota" in json.loads(refused["X-Refusal"])["detail"]
    anonymous = api.get(ask, headers={"X-Upload-Length": "1"})
    assert anonymous.status_code == 401 and anonymous["X-Refusal-Status"] == "401"
    assert json.loads(anonymous["X-Refusal"]) == anonymous.json()
    # with accounts off only MAX_UPLOAD_SIZE counts (which nginx checks first itself)
    settings.API_AUTH = "off"
    assert api.get(ask, headers={"X-Upload-Length": str(GiB)}).status_code == 204
    settings.MAX_UPLOAD_SIZE = GiB - 1
    assert api.get(ask, headers={"X-Upload-Length": str(GiB)})["X-Refusal-Status"] == "413"


# ---- under a real server: gunicorn (two processes), PostgreSQL, nginx ----


@pytest.fixture
def web_with_accounts(services_up, media_root, tmp_path) -> Iterator[Callable[..., str]]:
    """start(**env): gunicorn (2 processes of 4 threads) with API_AUTH=required on this
    test's database and media, as `make run` starts it; its URL. Killed at the end."""
    started: list[subprocess.Popen] = []

    def start(**env: str) -> str:
        port = free_port()
        log = tmp_path / f"web-{port}.log"
        command = [sys.executable, "-m", "gunicorn", "videoproc.wsgi:application"]
        command += ["--bind", f"127.0.0.1:{port}", "--workers", "2"]
        command += ["--worker-class", "gthread", "--threads", "4", "--timeout", "0"]
        process = subprocess.Popen(
            command,
            cwd=BASE_DIR,
            env=shared_env(API_AUTH="required", **env),
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        started.append(process)
        url = f"http://127.0.0.1:{port}"

        def answering() -> bool:
            assert process.poll() is None, f"gunicorn exited:\n{log.read_text()[-3000:]}"
            try:
                return requests.get(f"{url}/video/view/all", timeout=30).status_code == 401
            except requests.RequestException:
                return False

        wait_for(answering, timeout=WORKER_START_TIMEOUT, what="gunicorn to answer")
        return url

    yield start
    for process in started:
        kill_group(process)


def token_of(username: str, django_user_model) -> str:
    user = django_user_model.objects.create_user(username)
    return AuthToken.objects.create(user)[1]


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_twenty_parallel_uploads_store_at_most_the_quota(
    web_with_accounts, django_user_model, settings, media_root, tmp_path
):
    # given a quota with room for 7 of 20 clips, on two gunicorn processes
    clip = make_media(tmp_path / "clip.mp4", duration=1.0)
    size = clip.stat().st_size
    quota = 7 * size + size // 2
    url = web_with_accounts(USER_STORAGE_QUOTA=str(quota), API_THROTTLE_USER="")
    key = token_of("dora", django_user_model)
    start = threading.Barrier(20)
    answers: list[requests.Response] = []

    def client():
        with clip.open("rb") as handle:
            start.wait()
            answers.append(
                requests.put(
                    f"{url}/video/upload",
                    headers={"Authorization": f"Token {key}"},
                    files={"files": ("clip.mp4", handle)},
                    timeout=120,
                )
            )

    # when 20 uploads of it arrive at once
    threads = [threading.Thread(target=client) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # then what is stored is within the quota, 7 clips, and the rest were 413s saying why
    statuses = Counter(response.status_code for response in answers)
    assert statuses == {200: 7, 413: 13}, [(r.status_code, r.text[:200]) for r in answers]
    for refused in (response for response in answers if response.status_code == 413):
        assert "quota" in refused.json()["detail"]
    assert sum(Video.objects.values_list("size", flat=True)) <= quota
    assert Video.objects.count() == 7
    # and no file is left over: not in the media folder, not in scratch
    assert_files_are_the_rows(media_root)
    assert [path for path in settings.SCRATCH_DIR.rglob("*") if path.is_file()] == []


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_gunicorn_refuses_a_gibibyte_past_the_quota_before_a_mebibyte_is_sent(
    web_with_accounts, django_user_model, media_root
):
    url = web_with_accounts(USER_STORAGE_QUOTA="1000000")
    key = token_of("erin", django_user_model)
    answer = upload_slowly(url, {"Authorization": f"Token {key}"})
    assert answer.status == 413, answer
    assert "quota" in answer.json["detail"]
    assert answer.sent < MiB


@pytest.mark.integration
def test_through_nginx_an_upload_is_refused_from_its_headers_before_its_body(tmp_path):
    # given nginx in front of gunicorn (deploy/), accounts required, a 1 MB quota
    clip = make_media(tmp_path / "clip.mp4", duration=1.0)
    env = {"API_AUTH": "required", "USER_STORAGE_QUOTA": "1000000"}
    with start_stack(tmp_path / "stack", MAX_UPLOAD_SIZE=str(2 * GiB), **env) as stack:
        made = subprocess.run(
            [sys.executable, "manage.py", "create_token", "frank"],
            cwd=BASE_DIR,
            env=stack.env,
            capture_output=True,
            text=True,
            check=True,
        )
        token = {"Authorization": f"Token {made.stdout.split()[-1]}"}
        # when a gibibyte past the quota comes: 413 from Django's answer to nginx's question
        answer = upload_slowly(stack.nginx, token)
        assert answer.status == 413, answer
        assert "quota" in answer.json["detail"] and answer.sent < MiB
        # an anonymous one: 401 with the API's shape, at once too
        answer = upload_slowly(stack.nginx)
        assert answer.status == 401, answer
        assert answer.json["detail"] and answer.headers["WWW-Authenticate"] == "Token"
        assert answer.sent < MiB
        # past MAX_UPLOAD_SIZE: nginx's own 413
        answer = upload_slowly(stack.nginx, token, declared=3 * GiB)
        assert answer.status == 413 and "limit" in answer.json["detail"]
        assert answer.sent < MiB
        # and one that fits goes through as before
        with clip.open("rb") as handle:
            stored = requests.put(
                f"{stack.nginx}/video/upload", headers=token, files={"files": handle}, timeout=60
            )
        assert stored.status_code == 200, stored.text
        buffered = (stack.media.parent / "nginx" / "client_body").rglob("*")
        assert [path for path in buffered if path.is_file()] == []
