"""A person's whole path through the page, in a real Chromium."""

import base64
import re
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.conf import settings
from playwright.sync_api import Page, expect
from rest_framework.test import APIClient
from standardwebhooks import Webhook

from conftest import ffprobe, make_media, upload
from jobs.models import Job
from videoproc import webhooks
from videoproc.tests.test_webhooks import Receiver, eventually
from videos.models import Video

pytestmark = [pytest.mark.django_db, pytest.mark.browser]

ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts"
RENDERING = re.compile(r"^Rendering… \(job \d+; ")
DONE = re.compile(r"^Done: job \d+ made #\d+ ")
JOB_TIMEOUT = 60_000  # ms: two tiny jobs on a busy two-core machine


def open_page(page: Page, live_server, code: str = "alice") -> None:
    """Open the page and answer its one question: the requester code."""
    page.goto(live_server.url)
    page.get_by_label("Requester code").fill(code)
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#code-label")).to_have_text(code)


def card(page: Page, name: str):
    return page.locator("#library .card").filter(has_text=name)


def seek(page: Page, seconds: float) -> None:
    page.wait_for_function("document.querySelector('#player').readyState >= 1")
    page.locator("#player").evaluate("(video, t) => { video.currentTime = t; }", seconds)


def unnamed_controls(page: Page) -> list[str]:
    """The controls a person can reach that have no name a screen reader can say."""
    return page.evaluate(
        """() => [...document.querySelectorAll('input, select, textarea, button, a[href]')]
            .filter((el) => el.type !== 'hidden')
            .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                && !el.getAttribute('aria-labelledby') && !el.textContent.trim() && !el.title)
            .map((el) => el.outerHTML)"""
    )


def drop_file(page: Page, path: Path) -> None:
    """Drop a file on the drop zone, as a person dragging it from their desktop."""
    transfer = page.evaluate_handle(
        """([name, data]) => {
            const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name));
            return transfer;
        }""",
        [path.name, base64.b64encode(path.read_bytes()).decode()],
    )
    page.dispatch_event("#dropzone", "drop", {"dataTransfer": transfer})


def render_encode(page: Page, resolution: str) -> None:
    """Render an H.264 MP4 of the video in the player at this size, from the Advanced
    fields, once the presets are shown (the first is chosen as they come)."""
    expect(page.locator("#encode-preset-list input").first).to_be_checked()
    page.locator("#encode-advanced summary").click()
    page.get_by_label("Video codec").select_option("libx264")
    page.get_by_label("Audio codec").select_option("aac")
    page.get_by_label("Resolution (W:H)").fill(resolution)
    page.get_by_label("Container").select_option("mp4")
    page.locator("#encode-submit").click()


def test_upload_concat_render_play_and_download(page: Page, live_server, tmp_path):
    first = make_media(tmp_path / "first.mp4", duration=2)
    second = make_media(tmp_path / "second.mp4", duration=1)
    open_page(page, live_server)

    # upload both by the picker: each has its own bar, which finishes
    page.locator("#file-input").set_input_files([first, second])
    uploads = page.locator("#upload-list li")
    expect(uploads).to_have_count(2)
    for item in uploads.all():
        expect(item).to_contain_text("Uploaded as video #")
        expect(item.locator("progress")).to_have_js_property("value", 100)

    # the library shows them with their posters and probed metadata
    for name in ("first.mp4", "second.mp4"):
        expect(card(page, name).locator("img")).to_have_js_property("naturalWidth", 320)
        expect(card(page, name)).to_contain_text("h264 / aac")
        expect(card(page, name)).to_contain_text("320×240 · 25 fps")

    # concat first + second, rendered in one step: queued and run
    card(page, "first.mp4").get_by_role("button", name="Add to concat").click()
    card(page, "second.mp4").get_by_role("button", name="Add to concat").click()
    expect(page.locator("#concat-list li")).to_have_count(2)
    page.locator("#concat-submit").click()
    job_card = page.locator("#queue .job")
    expect(job_card).to_have_attribute("data-status", "succeeded", timeout=JOB_TIMEOUT)
    concat_job = Job.objects.get(kind="concat")
    concat = concat_job.output_video
    expect(job_card.locator(".job-state")).to_have_text(re.compile(r"^Done in \d+:\d\d$"))
    expect(page.locator("#concat-form .form-status")).to_have_text(
        f"Done: job {concat_job.id} made #{concat.id} {concat.original_name}, now in the player."
    )
    expect(page.get_by_role("button", name="Run all waiting jobs")).to_be_hidden()

    # the result opened in the idle player: three seconds, seekable
    first_id, second_id = concat.concat_info["video_ids"]
    expect(page.locator("#player-caption")).to_contain_text(f"#{concat.id} ")
    page.wait_for_function("document.querySelector('#player').readyState >= 1")
    assert page.locator("#player").evaluate("v => v.duration") == pytest.approx(3.0, abs=0.1)
    seek(page, 2.5)
    page.wait_for_function("!document.querySelector('#player').seeking")

    # download it: the very file, a real video
    result_card = page.locator(f'#library .card[data-video-id="{concat.id}"]')
    expect(result_card).to_contain_text(
        f"Concat of #{first_id} + #{second_id} · job {concat_job.id}"
    )
    with page.expect_download() as download:
        result_card.get_by_role("link", name="Download").click()
    saved = tmp_path / "downloaded.mp4"
    download.value.save_as(saved)
    assert float(ffprobe(saved)["format"]["duration"]) == pytest.approx(3.0, abs=0.1)
    assert Video.objects.filter(kind=Video.Kind.RESULT).count() == 1

    # a look at the page, on a laptop and on a phone
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "library-laptop.png", full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=ARTIFACTS / "library-phone.png", full_page=True)


def test_a_refused_upload_shows_the_reason(page: Page, live_server, tmp_path):
    fake = tmp_path / "notes.mp4"
    fake.write_text("not a video at all")
    open_page(page, live_server)

    drop_file(page, fake)

    item = page.locator("#upload-list li")
    expect(item).to_contain_text("Refused: 'notes.mp4' is not a playable mp4 video")
    expect(page.locator("#library-empty")).to_be_visible()
    assert not Video.objects.exists()


def test_the_page_uploads_by_tus_and_retries_a_dropped_connection(
    page: Page, live_server, tmp_path
):
    # given a connection that drops under the first chunk the page sends
    clip = make_media(tmp_path / "resumable.mp4", duration=2)
    sent = []
    page.on("request", lambda request: sent.append((request.method, urlsplit(request.url).path)))
    dropped = []

    def drop_once(route):
        if route.request.method == "PATCH" and not dropped:
            dropped.append(route.request.url)
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route("**/video/uploads/*", drop_once)
    open_page(page, live_server)

    # when a file is chosen
    page.locator("#file-input").set_input_files([clip])

    # then it went by tus, was sent again after the drop, and became the same video
    item = page.locator("#upload-list li")
    expect(item).to_contain_text("Uploaded as video #")
    expect(item.locator("progress")).to_have_js_property("value", 100)
    expect(item.get_by_role("button", name="Pause")).to_have_count(0)
    assert dropped
    methods = [method for method, path in sent if path.startswith("/video/uploads/")]
    assert methods[0] == "POST" and methods.count("PATCH") >= 2
    assert ("POST", "/video/upload") not in sent
    video = Video.objects.get()
    assert video.original_name == "resumable.mp4"
    assert video.file.read() == clip.read_bytes()
    expect(card(page, "resumable.mp4")).to_contain_text("h264 / aac")


def test_without_tus_the_page_uploads_plainly(page: Page, live_server, tmp_path):
    # given a page whose tus client did not load
    page.route("**/vendor/tus/tus.min.js", lambda route: route.abort())
    sent = []
    page.on("request", lambda request: sent.append((request.method, urlsplit(request.url).path)))
    open_page(page, live_server)

    # when a file is chosen, then it goes up in one plain request
    page.locator("#file-input").set_input_files([make_media(tmp_path / "plain.mp4")])
    expect(page.locator("#upload-list li")).to_contain_text("Uploaded as video #")
    assert ("POST", "/video/upload") in sent
    assert not [path for _, path in sent if path.startswith("/video/uploads")]


def test_a_tus_upload_is_paused_and_resumed(page: Page, live_server, tmp_path):
    # given an upload slowed to a crawl (Chromium's network throttling)
    clip = make_media(tmp_path / "slow.mp4", duration=6, size="640x360")
    open_page(page, live_server)
    session = page.context.new_cdp_session(page)
    session.send("Network.enable")
    slow = {"offline": False, "latency": 0, "downloadThroughput": -1}
    session.send("Network.emulateNetworkConditions", {**slow, "uploadThroughput": 50_000})
    page.locator("#file-input").set_input_files([clip])
    item = page.locator("#upload-list li")

    # when it is paused
    item.get_by_role("button", name="Pause").click()

    # then it stops, says so, and resumes where the server is once asked
    expect(item).to_contain_text("Paused")
    expect(item.get_by_role("button", name="Resume")).to_be_visible()
    assert not Video.objects.exists()
    session.send("Network.emulateNetworkConditions", {**slow, "uploadThroughput": -1})
    item.get_by_role("button", name="Resume").click()
    expect(item).to_contain_text("Uploaded as video #")
    assert Video.objects.get().file.read() == clip.read_bytes()


def test_incompatible_videos_are_marked_before_a_concat(page: Page, live_server, api, tmp_path):
    small = make_media(tmp_path / "small.mp4", duration=1)
    large = make_media(tmp_path / "large.mp4", size="640x360", duration=1)
    small_id, large_id = (video["id"] for video in upload(api, small, large).json())
    open_page(page, live_server)

    card(page, "small.mp4").get_by_role("button", name="Add to concat").click()

    large_card = card(page, "large.mp4")
    expect(large_card).to_contain_text(
        f"Cannot join: video {large_id} differs from video {small_id} in resolution"
    )
    expect(large_card.get_by_role("button", name="Add to concat")).to_be_disabled()
    expect(page.locator("#concat-submit")).to_be_disabled()


def test_the_requester_code_is_asked_once(page: Page, live_server):
    open_page(page, live_server, code="bob")

    page.reload()

    expect(page.locator("#code-dialog")).not_to_be_visible()
    expect(page.locator("#code-label")).to_have_text("bob")


def queue_trim(api, video_id: int) -> int:
    """Queue a trim of the first second as a script would: the job's id."""
    queued = api.post(
        "/video/process/trim",
        {"request_code": "alice", "video_id": video_id, "trim_start": "0", "trim_end": "1s"},
        format="json",
    )
    assert queued.status_code == 200, queued.content
    return queued.json()["job_id"]


def test_the_queue_asks_again_with_its_etag_and_a_304_keeps_the_cards(
    page: Page, live_server, api, tmp_path
):
    # given a job not started, queued by a script
    (video,) = upload(api, make_media(tmp_path / "wait.mp4")).json()
    queue_trim(api, video["id"])

    # when the page shows it, then asks again
    with page.expect_response(lambda answer: "/page/jobs?" in answer.url) as first:
        open_page(page, live_server)
    etag = first.value.headers["etag"]
    with page.expect_response(lambda answer: "/page/jobs?" in answer.url) as again:
        pass

    # then it sent the ETag, heard that nothing changed, and still shows the job
    assert again.value.request.headers["if-none-match"] == etag
    assert again.value.status == 304
    expect(page.locator("#queue .job .job-state")).to_have_text("Not started")


def test_without_page_jobs_the_queue_reads_the_api_job_list(page: Page, live_server, api, tmp_path):
    # given a server without /page/jobs, a cancelled job and one not started
    page.route("**/page/jobs?*", lambda route: route.fulfill(status=404, json={"detail": "x"}))
    (video,) = upload(api, make_media(tmp_path / "old.mp4")).json()
    cancelled = queue_trim(api, video["id"])
    assert api.post(f"/video/process/jobs/{cancelled}/cancel").status_code == 200
    waiting = queue_trim(api, video["id"])
    open_page(page, live_server)

    # the cancelled one says so, in grey, not as a failure
    cancelled_card = page.locator(f'#queue .job[data-job-id="{cancelled}"]')
    expect(cancelled_card.locator(".job-state")).to_have_text("Cancelled")
    expect(cancelled_card.locator(".job-state")).to_have_css("color", "rgb(93, 102, 120)")
    expect(cancelled_card.get_by_role("button", name=f"Retry job {cancelled}")).to_be_visible()

    # the other runs when asked, and its time is reckoned from the job's timestamps
    waiting_card = page.locator(f'#queue .job[data-job-id="{waiting}"]')
    expect(waiting_card.locator(".job-state")).to_have_text("Not started")
    page.get_by_role("button", name="Run all waiting jobs").click()
    expect(waiting_card.locator(".job-state")).to_have_text(
        re.compile(r"^Done in \d+:\d\d$"), timeout=JOB_TIMEOUT
    )
    expect(page.get_by_role("button", name="Run all waiting jobs")).to_be_hidden()


def page_job(job_id: int, status: str, **fields) -> dict:
    """A job as /page/jobs gives it: an encode of video 1, with the given fields."""
    return {
        "id": job_id,
        "request_code": "alice",
        "kind": "encode",
        "status": status,
        "params": {
            "video_id": 1,
            "video_codec": "libx264",
            "audio_codec": "aac",
            "resolution": "640:360",
            "frame_rate": 30,
            "container": "mp4",
        },
        "outcome": {},
        "progress": 0,
        "place_in_line": None,
        "cost": None,
        "error": None,
        "output_video_id": None,
        "created_at": "2026-01-05T10:00:00Z",
        "queued_at": None,
        "started_at": None,
        "finished_at": None,
        "elapsed_seconds": None,
        "eta_seconds": None,
        **fields,
    }


def test_job_cards_say_where_each_job_is(page: Page, live_server):
    # given jobs in every state, as /page/jobs tells them
    jobs = [
        page_job(1, "failed", error="The encoder ran out of memory", elapsed_seconds=3),
        page_job(2, "cancelled"),
        page_job(3, "succeeded", output_video_id=9, progress=100, elapsed_seconds=11.2),
        page_job(4, "running", progress=62, elapsed_seconds=65, eta_seconds=40),
        page_job(5, "queued", place_in_line=1),
        page_job(6, "queued", place_in_line=2),
        page_job(7, "pending"),
    ]
    answer = {"now": "2026-01-05T10:05:00Z", "jobs": jobs}

    def answer_jobs(route):
        if route.request.headers.get("if-none-match") == '"v1"':
            route.fulfill(status=304, headers={"ETag": '"v1"'})  # nothing changed since
        else:
            route.fulfill(json=answer, headers={"ETag": '"v1"'})

    page.route("**/page/jobs?*", answer_jobs)

    # when the page shows them
    open_page(page, live_server)

    # then each card says it in words, newest first
    expect(page.locator("#queue .job .job-state")).to_have_text(
        [
            "Not started",
            "Waiting — 2nd in line",
            "Waiting — next in line",
            re.compile(r"^1:0[56] elapsed · about 0:(40|39) left$"),
            "Done in 0:12",
            "Cancelled",
            "Failed",
        ]
    )
    running = page.locator('#queue .job[data-job-id="4"]')
    expect(running.get_by_role("progressbar", name="Progress of job 4")).to_have_attribute(
        "value", "62"
    )
    expect(page.locator('#queue .job[data-job-id="1"] .job-error')).to_have_text(
        "The encoder ran out of memory"
    )
    expect(page.get_by_role("button", name="Play result #9")).to_be_visible()
    # and a running one counts on while the answer is "nothing changed"
    expect(running.locator(".job-state")).to_have_text(re.compile(r"^1:0[78] elapsed"))


def test_the_concat_builder_offers_normalize_where_it_blocks(
    page: Page, live_server, api, tmp_path
):
    small, wide = upload(
        api, make_media(tmp_path / "small.mp4"), make_media(tmp_path / "wide.mp4", size="640x360")
    ).json()
    open_page(page, live_server)
    card(page, "small.mp4").get_by_role("button", name="Add to concat").click()
    add_wide = card(page, "wide.mp4").get_by_role("button", name="Add to concat")
    expect(card(page, "wide.mp4")).to_contain_text("Cannot join: ")
    expect(add_wide).to_be_disabled()

    page.get_by_label("Normalize: re-encode the videos that differ from the first").check()
    expect(card(page, "wide.mp4")).to_contain_text("Will be re-encoded: ")
    add_wide.click()
    page.locator("#concat-submit").click()

    expect(page.locator("#concat-form .form-status")).to_have_text(DONE, timeout=JOB_TIMEOUT)
    job = Job.objects.get(kind="concat")
    assert job.params == {"video_ids": [small["id"], wide["id"]], "normalize": True}


CANVAS_FRAME = """async ([url, time]) => {
    const video = document.createElement("video");
    video.muted = true;
    video.src = url;
    await new Promise((loaded, failed) => {
        video.onloadeddata = loaded;
        video.onerror = () => failed(new Error(video.error && video.error.message));
    });
    video.currentTime = time;
    await new Promise((seeked) => { video.onseeked = seeked; });
    const canvas = document.createElement("canvas");
    canvas.width = 64;
    canvas.height = 48;
    const context = canvas.getContext("2d");
    context.drawImage(video, 0, 0, 64, 48);
    const rgba = context.getImageData(0, 0, 64, 48).data;
    const luma = [];
    for (let i = 0; i < rgba.length; i += 4) {
        luma.push(0.299 * rgba[i] + 0.587 * rgba[i + 1] + 0.114 * rgba[i + 2]);
    }
    return luma;
}"""


def ffmpeg_luma(path: Path, index: int) -> list[float]:
    rgb = subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-i",
            str(path),
            "-vf",
            f"select=eq(n\\,{index}),scale=64:48,format=rgb24",
            "-frames:v",
            "1",
            "-f",
            "rawvideo",
            "-",
        ],
        capture_output=True,
        check=True,
    ).stdout
    return [0.299 * r + 0.587 * g + 0.114 * b for r, g, b in zip(*[iter(rgb)] * 3, strict=True)]


def test_chromium_plays_every_part_of_a_normalised_join(page: Page, live_server, api, tmp_path):
    # given a join of a copied clip and two re-encoded ones (their own parameter sets)
    clips = upload(
        api,
        make_media(tmp_path / "first.mp4", size="640x360"),
        make_media(
            tmp_path / "wide.mp4", size="1280x720", rate="30", audio=None, extra=["-vf", "negate"]
        ),
        make_media(tmp_path / "small.mp4", size="320x240", extra=["-profile:v", "baseline"]),
    ).json()
    queued = api.post(
        "/video/process/concat",
        {"request_code": "alice", "normalize": True, "video_ids": [clip["id"] for clip in clips]},
        format="json",
    )
    assert queued.status_code == 200, queued.json()
    assert (
        api.post("/video/process/execute", {"request_code": "alice"}, format="json").status_code
        == 200
    )
    result = Video.objects.get(produced_by=queued.json()["job_id"])
    page.goto(live_server.url + "/api/docs")

    # then Chromium decodes a frame of each part as FFmpeg does
    url = live_server.url + "/" + result.api_path[2:]
    stored = Path(settings.MEDIA_ROOT) / result.file.name

    def difference(a, b) -> float:
        return sum(abs(x - y) for x, y in zip(a, b, strict=True)) / len(a)

    frames = {index: ffmpeg_luma(stored, index) for index in (25, 75, 125)}
    for index, expected in frames.items():
        shown = page.evaluate(CANVAS_FRAME, [url, (index + 0.5) / 25])
        here = difference(shown, expected)
        assert here < 12
        # (and a frame of another part would not pass for it)
        others = [difference(shown, other) for other in frames.values() if other is not expected]
        assert min(others) > 3 * here


def test_with_accounts_a_person_signs_in_works_on_their_own_and_manages_tokens(
    page: Page, live_server, user_api, tmp_path
):
    # given bob's video, and alice with a password
    bob = user_api("bob")
    upload(bob, make_media(tmp_path / "bobs.mp4", duration=1))
    alice = user_api("alice").user

    # the page sends her to sign in, then back
    page.goto(live_server.url)
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/$"))
    page.get_by_label("User name").fill("alice")
    page.get_by_label("Password").fill("pw-alice")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#account-name")).to_have_text("alice")
    page.get_by_label("Requester code").fill("user")
    page.get_by_role("button", name="Save").click()
    assert unnamed_controls(page) == []  # the account controls and tokens panel too

    # she uploads (with her session and CSRF token); her library is hers alone, and its
    # poster and player come through signed links
    page.locator("#file-input").set_input_files([make_media(tmp_path / "mine.mp4", duration=2)])
    expect(page.locator("#upload-list li")).to_contain_text("Uploaded as video #")
    expect(page.locator("#library .card")).to_have_count(1)
    expect(card(page, "mine.mp4").locator("img")).to_have_js_property("naturalWidth", 320)
    card(page, "mine.mp4").get_by_role("button", name="Play mine.mp4").click()
    page.wait_for_function("document.querySelector('#player').readyState >= 1")

    # she renders an encode: it is hers, and so is its result
    render_encode(page, "160:120")
    expect(page.locator("#queue .job")).to_have_attribute(
        "data-status", "succeeded", timeout=JOB_TIMEOUT
    )
    assert Job.objects.get().output_video.owner == alice

    # she makes a token that works for scripts, then revokes it
    page.get_by_role("button", name="Create token").click()
    expect(page.locator("#token-new")).to_be_visible()
    key = page.locator("#token-key").inner_text()
    script = APIClient()
    script.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert [v["id"] for v in script.get("/video/view/all").json()] == list(
        Video.objects.filter(owner=alice).values_list("id", flat=True)
    )
    page.get_by_role("button", name=f"Revoke {key[:15]}").click()
    expect(page.locator("#tokens-status")).to_have_text(f"Token {key[:15]} revoked.")
    assert script.get("/video/view/all").status_code == 401

    # signing out ends the session
    page.get_by_role("button", name="Sign out").click()
    page.goto(live_server.url)
    expect(page).to_have_url(re.compile(r"/accounts/login/"))


@pytest.mark.parametrize(
    ("name", "codecs"),
    [("phone.mp4", ("libx264", "aac")), ("screen.webm", ("libvpx-vp9", "libopus"))],
)
def test_a_smart_trim_plays_to_its_end(page: Page, live_server, api, tmp_path, name, codecs):
    # given a video with a keyframe every 0.4 s, and a smart trim of it with both cuts
    # inside a GOP, queued by a script
    video, audio = codecs
    source = make_media(
        tmp_path / name,
        video=video,
        audio=audio,
        rate="30",
        duration=3,
        extra=["-g", "12", "-b:v", "400k"],
    )
    (uploaded,) = upload(api, source).json()
    queued = api.post(
        "/video/process/trim",
        {
            "request_code": "alice",
            "video_id": uploaded["id"],
            "trim_start": "550",
            "trim_end": "2.3s",
            "mode": "smart",
        },
        format="json",
    )
    assert queued.status_code == 200, queued.content

    # when the page runs it
    open_page(page, live_server)
    job_card = page.locator("#queue .job")
    expect(job_card.locator(".job-state")).to_have_text("Not started")
    page.get_by_role("button", name="Run all waiting jobs").click()
    expect(job_card).to_have_attribute("data-status", "succeeded", timeout=JOB_TIMEOUT)
    trim = Job.objects.get(kind="trim")
    assert (trim.params["mode"], trim.outcome["trim_method"]) == ("smart", "smart")

    # then its card says so, and Chromium plays it from its first frame to its last
    result = trim.output_video
    expect(page.locator(f'#library .card[data-video-id="{result.id}"]')).to_contain_text(
        "smart cut"
    )
    page.get_by_role("button", name=f"Play result #{result.id}").click()
    page.wait_for_function("document.querySelector('#player').readyState >= 1")
    ended_at = page.locator("#player").evaluate(
        """(video) => new Promise((resolve, reject) => {
            video.onended = () => resolve(video.currentTime);
            video.onerror = () => reject(new Error(video.error.message || video.error.code));
            video.muted = true;
            video.playbackRate = 2;
            video.currentTime = 0;
            video.play().catch(reject);
        })"""
    )
    duration = page.locator("#player").evaluate("v => v.duration")
    assert ended_at == pytest.approx(duration, abs=0.05)
    assert duration == pytest.approx(1.75, abs=0.1)


def test_the_library_is_searched_renamed_and_pruned(page: Page, live_server, api, tmp_path):
    # given three videos, one of them needed by a pending trim
    beach, city, busy = upload(
        api,
        make_media(tmp_path / "beach.mp4", duration=1),
        make_media(tmp_path / "city.mp4", duration=2),
        make_media(tmp_path / "busy.mp4", duration=1),
    ).json()
    queued = api.post(
        "/video/process/trim",
        {"request_code": "alice", "video_id": busy["id"], "trim_start": "0", "trim_end": "500"},
        format="json",
    )
    assert queued.status_code == 200, queued.content
    open_page(page, live_server)
    cards = page.locator("#library .card")
    expect(cards).to_have_count(3)
    assert unnamed_controls(page) == []

    # newest first by default; sorted by name on request; searched by name
    expect(cards.locator("h3")).to_have_text([re.compile(n) for n in ("busy", "city", "beach")])
    page.get_by_label("Sort by").select_option("name")
    expect(cards.locator("h3")).to_have_text([re.compile(n) for n in ("beach", "busy", "city")])
    page.get_by_label("Search by name").fill("CIT")
    expect(cards).to_have_count(1)
    expect(cards).to_contain_text("city.mp4")
    page.get_by_label("Search by name").fill("")
    expect(cards).to_have_count(3)

    # renamed: a bad name is refused in the dialog, a good one shows on its card
    card(page, "beach.mp4").get_by_role("button", name="Rename beach.mp4").click()
    page.get_by_label("New name").fill("sea/side")
    page.get_by_role("button", name="Rename", exact=True).click()
    expect(page.locator("#rename-status")).to_contain_text("cannot hold /")
    page.get_by_label("New name").fill("Seaside at dawn")
    page.get_by_role("button", name="Rename", exact=True).click()
    expect(page.locator("#rename-dialog")).not_to_be_visible()
    expect(card(page, "Seaside at dawn.mp4")).to_be_visible()
    assert Video.objects.get(pk=beach["id"]).original_name == "Seaside at dawn.mp4"

    # a look at the library, on a laptop and on a phone
    ARTIFACTS.mkdir(exist_ok=True)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.screenshot(path=ARTIFACTS / "library-manage-laptop.png", full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=ARTIFACTS / "library-manage-phone.png", full_page=True)

    # the video the pending trim needs is kept, with the reason
    page.set_viewport_size({"width": 390, "height": 844})
    card(page, "busy.mp4").get_by_role("button", name="Delete busy.mp4").click()
    expect(page.locator("#delete-what")).to_contain_text("busy.mp4")
    page.screenshot(path=ARTIFACTS / "library-delete-phone.png")
    page.locator("#delete-confirm").click()
    expect(page.locator("#library-status")).to_have_text(
        f"Video {busy['id']} cannot be deleted: pending or running job "
        f"{queued.json()['job_id']} uses it"
    )
    expect(cards).to_have_count(3)
    page.set_viewport_size({"width": 1280, "height": 900})

    # "Keep it" keeps it; Delete deletes it, and its files
    stored = Video.objects.get(pk=city["id"]).file.name
    card(page, "city.mp4").get_by_role("button", name="Delete city.mp4").click()
    page.get_by_role("button", name="Keep it").click()
    expect(cards).to_have_count(3)
    card(page, "city.mp4").get_by_role("button", name="Delete city.mp4").click()
    page.locator("#delete-confirm").click()
    expect(page.locator("#library-status")).to_have_text(f"Video #{city['id']} “city.mp4” deleted.")
    expect(cards).to_have_count(2)
    assert not Video.objects.filter(pk=city["id"]).exists()
    assert not (Path(settings.MEDIA_ROOT) / stored).exists()


def test_the_library_pages_through_many_videos(page: Page, live_server, api, tmp_path):
    # given one more video than a page holds
    clip = make_media(tmp_path / "many.mp4", size="64x48", duration=1)
    ids = [upload(api, clip).json()[0]["id"] for _ in range(25)]
    open_page(page, live_server)
    cards = page.locator("#library .card")

    # the newest 24 first, then the oldest one alone on the next page, and back
    expect(cards).to_have_count(24)
    expect(page.locator("#library-range")).to_have_text("1–24 of 25")
    expect(cards.first).to_have_attribute("data-video-id", str(ids[-1]))
    expect(page.get_by_role("button", name="Previous page")).to_be_disabled()
    page.get_by_role("button", name="Next page").click()
    expect(cards).to_have_count(1)
    expect(cards.first).to_have_attribute("data-video-id", str(ids[0]))
    expect(page.locator("#library-range")).to_have_text("25–25 of 25")
    expect(page.get_by_role("button", name="Next page")).to_be_disabled()
    ARTIFACTS.mkdir(exist_ok=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=ARTIFACTS / "library-last-page-phone.png", full_page=True)

    # deleting the last page's only video shows the page before
    cards.first.get_by_role("button", name="Delete many.mp4").click()
    page.locator("#delete-confirm").click()
    expect(cards).to_have_count(24)
    expect(page.locator("#library-pager")).to_be_hidden()


def play_first(page: Page, name: str) -> None:
    card(page, name).get_by_role("button", name=f"Play {name}").click()
    page.wait_for_function("document.querySelector('#player').readyState >= 1")


# Notifications, as a browser where the person has allowed them: each one shown is kept,
# and so is each time the page asks for the permission.
ALLOWED_NOTIFICATIONS = """
window.notificationsShown = [];
window.permissionAsked = 0;
window.Notification = class {
    static permission = "granted";
    static requestPermission() {
        window.permissionAsked += 1;
        return Promise.resolve("granted");
    }
    constructor(title, options) { window.notificationsShown.push({ title, body: options.body }); }
    addEventListener() {}
    close() {}
};
"""


def test_a_render_that_ends_out_of_sight_is_announced(page: Page, live_server, api, tmp_path):
    # given a phone, where the queue is far below the encode form, and notifications allowed
    page.add_init_script(ALLOWED_NOTIFICATIONS)
    page.set_viewport_size({"width": 390, "height": 844})
    upload(api, make_media(tmp_path / "walk.mp4"))
    open_page(page, live_server)
    play_first(page, "walk.mp4")

    # when an encode is rendered and the person stays at the form
    render_encode(page, "160:120")

    # then a notice says it is done, and so does a notification, asked for by nobody
    notice = page.locator("#notices .notice")
    expect(notice).to_have_count(1, timeout=JOB_TIMEOUT)
    result = Job.objects.get(kind="encode").output_video
    expect(notice.locator(".notice-text")).to_have_text(
        f"Render finished: {result.original_name} — "
    )
    expect(page.locator("#notices")).to_have_attribute("aria-live", "polite")
    assert page.evaluate("window.notificationsShown") == [
        {"title": "Render finished", "body": result.original_name}
    ]
    assert page.evaluate("window.permissionAsked") == 0
    page.screenshot(path=ARTIFACTS / "notice-phone.png")

    # and its Play puts the result in the player
    notice.get_by_role("button", name="Play").click()
    expect(page.locator("#player-caption")).to_contain_text(f"#{result.id} {result.original_name}")
    expect(notice).to_have_count(0)


def test_a_job_taking_another_jobs_output_names_that_job(page: Page, live_server, api, tmp_path):
    # given a trim, and an encode of its output, queued by a script
    (video,) = upload(api, make_media(tmp_path / "base.mp4")).json()
    trim = api.post(
        "/video/process/trim",
        {"request_code": "alice", "video_id": video["id"], "trim_start": "0", "trim_end": "1s"},
        format="json",
    ).json()
    encode = api.post(
        "/video/process/encoding",
        {"request_code": "alice", "video_id": {"job_id": trim["job_id"]}, "resolution": "160:120"},
        format="json",
    )
    assert encode.status_code == 200, encode.content

    # when the page shows the queue
    open_page(page, live_server)

    # then the encode's card names the trim's output
    encode_card = page.locator(f'#queue .job[data-job-id="{encode.json()["job_id"]}"]')
    expect(encode_card.locator(".job-what")).to_have_text(
        re.compile(rf"^output of job {trim['job_id']} → libx264/aac, 160:120, 30 fps")
    )
    expect(page.locator("#queue")).not_to_contain_text("object Object")


def test_escape_never_leaves_the_page_without_a_requester(page: Page, live_server, api, tmp_path):
    upload(api, make_media(tmp_path / "esc.mp4"))

    # a first visit: Escape, even twice, and a blank code do not dismiss the question
    page.goto(live_server.url)
    dialog = page.locator("#code-dialog")
    expect(dialog).to_be_visible()
    page.keyboard.press("Escape")
    page.keyboard.press("Escape")
    expect(dialog).to_be_visible()
    page.get_by_label("Requester code").fill("   ")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#code-status")).to_have_text("Give a code: your jobs are queued under it.")
    expect(dialog).to_be_visible()
    page.get_by_label("Requester code").fill("carol")
    page.get_by_role("button", name="Save").click()
    expect(dialog).not_to_be_visible()

    # changing it, then Escape: the code is kept
    page.get_by_role("button", name="Change").click()
    page.get_by_label("Requester code").fill("")
    page.keyboard.press("Escape")
    expect(dialog).not_to_be_visible()
    expect(page.locator("#code-label")).to_have_text("carol")

    # and a render goes under it
    play_first(page, "esc.mp4")
    render_encode(page, "160:120")
    expect(page.locator("#encode-form .form-status")).to_have_text(DONE, timeout=JOB_TIMEOUT)
    assert Job.objects.get().request_code == "carol"


# What a phone shows, top to bottom.
PHONE_ORDER = {
    "player": "#player",
    "editor and tools": "#tools",
    "library": "#library-title",
    "upload": "#upload-title",
    "concat": "#concat-title",
    "queue": "#queue-title",
}

# The page's controls shorter than a finger needs.
SMALL_TOUCH_TARGETS = """() => [...document.querySelectorAll(
        'button, a.button, select, input, summary, label.check, .preset label')]
    .filter((el) => el.getClientRects().length && !el.closest('dialog:not([open])'))
    .filter((el) => !['checkbox', 'radio', 'file'].includes(el.type))
    .filter((el) => el.getBoundingClientRect().height < 40)
    .map((el) => el.outerHTML.slice(0, 100))"""


def page_in_use(page: Page, live_server, api, tmp_path) -> None:
    """The page with two videos, one in the player, its encode done, the other in the
    concat builder."""
    upload(api, make_media(tmp_path / "one.mp4"), make_media(tmp_path / "two.mp4"))
    open_page(page, live_server)
    play_first(page, "one.mp4")
    render_encode(page, "160:120")
    expect(page.locator("#queue .job")).to_have_attribute(
        "data-status", "succeeded", timeout=JOB_TIMEOUT
    )
    card(page, "two.mp4").get_by_role("button", name="Add to concat").click()
    expect(page.locator("#concat-list li")).to_have_count(1)


def test_on_a_phone_the_player_comes_first_and_nothing_overflows(
    page: Page, live_server, api, tmp_path
):
    # given two videos on a phone, one in the player, and a job done
    page.set_viewport_size({"width": 390, "height": 844})
    page_in_use(page, live_server, api, tmp_path)

    # then the player and tools come first, the queue last; nothing is wider than the
    # phone; every control is big enough to touch
    tops = {
        name: page.locator(selector).bounding_box()["y"] for name, selector in PHONE_ORDER.items()
    }
    assert sorted(tops, key=tops.get) == list(PHONE_ORDER)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert page.evaluate(SMALL_TOUCH_TARGETS) == []
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "page-phone.png", full_page=True)


def serious_violations(page: Page) -> list[str]:
    """What axe-core finds of serious or critical impact, one line each."""
    results = Axe().run(page)
    return [
        f"{violation['id']} ({violation['impact']}): {violation['help']}: "
        + ", ".join(str(node["target"]) for node in violation["nodes"])
        for violation in results.response["violations"]
        if violation["impact"] in ("serious", "critical")
    ]


def test_axe_finds_nothing_serious_on_a_laptop_or_a_phone(page: Page, live_server, api, tmp_path):
    # given the page with a video in the player, a job done and a concat started
    page_in_use(page, live_server, api, tmp_path)

    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        found = serious_violations(page)
        assert found == [], f"at {width} px:\n" + "\n".join(found)


def test_an_encode_preset_renders_in_one_step(page: Page, live_server, api, tmp_path):
    # given a 720p video long enough for its encode to be seen running, in the player
    source = make_media(
        tmp_path / "talk.mp4",
        size="1280x720",
        rate="30",
        duration=12,
        extra=["-preset", "ultrafast"],
    )
    (video,) = upload(api, source).json()
    presets = api.get(f"/page/presets?video_id={video['id']}").json()
    preset = next(preset for preset in presets if preset["id"] == "web-480p")
    open_page(page, live_server)
    play_first(page, "talk.mp4")

    # when its 480p preset is chosen, with its size shown, and rendered
    choice = page.get_by_role("radio", name=re.compile(f"^{re.escape(preset['label'])}"))
    expect(page.locator(f'label[for="{choice.get_attribute("id")}"]')).to_contain_text(" MB")
    choice.check()
    expect(page.get_by_label("Resolution (W:H)")).to_have_value(preset["params"]["resolution"])
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "presets-laptop.png", full_page=True)
    page.locator("#encode-submit").click()

    # then its card shows it running, with its time, then done
    job_card = page.locator("#queue .job")
    expect(job_card).to_have_attribute("data-status", "running", timeout=JOB_TIMEOUT)
    expect(job_card.locator(".job-state")).to_have_text(re.compile(r"^\d+:\d\d elapsed"))
    page.screenshot(path=ARTIFACTS / "running-laptop.png", full_page=True)
    expect(job_card).to_have_attribute("data-status", "succeeded", timeout=JOB_TIMEOUT)
    job = Job.objects.get(kind="encode")
    assert {name: job.params[name] for name in preset["params"]} == preset["params"]

    # and Play result puts the result in the player: the preset's codecs, size and rate
    result = job.output_video
    job_card.get_by_role("button", name=f"Play result #{result.id}").click()
    expect(page.locator("#player-caption")).to_contain_text(f"#{result.id} {result.original_name}")
    stored = Path(settings.MEDIA_ROOT) / result.file.name
    probed = ffprobe(stored)
    picture = next(stream for stream in probed["streams"] if stream["codec_type"] == "video")
    width, height = map(int, preset["params"]["resolution"].split(":"))
    assert (picture["codec_name"], picture["width"], picture["height"]) == ("h264", width, height)
    assert picture["avg_frame_rate"] == f"{preset['params']['frame_rate']}/1"
    assert stored.suffix == "." + preset["params"]["container"]
    # its size is near the estimate shown (one for ordinary footage, not a test pattern)
    assert preset["estimated_bytes"] / 3 < stored.stat().st_size < preset["estimated_bytes"] * 3


def test_the_webhooks_panel_adds_lists_redelivers_and_deletes(
    page: Page, live_server, api, tmp_path, settings
):
    # given a receiver on this machine, allowed
    settings.WEBHOOK_ALLOW_PRIVATE = True
    receiver = Receiver().start()
    try:
        open_page(page, live_server)
        # when a person adds it for the creation of videos
        page.get_by_label("URL").fill(receiver.url)
        page.get_by_label("video.created").check()
        page.get_by_role("button", name="Add webhook").click()
        # then its secret is shown once, and it is listed
        expect(page.locator("#webhook-new")).to_be_visible()
        secret = page.locator("#webhook-secret").inner_text()
        expect(page.locator("#webhooks li")).to_contain_text("video.created")
        assert unnamed_controls(page) == []
        assert serious_violations(page) == []
        # an upload is told to the receiver, signed with that secret
        upload(api, make_media(tmp_path / "told.mp4", duration=1))
        expect(page.locator("#webhooks li")).to_have_count(1)
        eventually(lambda: receiver.received)
        [event] = receiver.events(secret)
        assert event["type"] == "video.created"
        # the log shows the delivery, and sends it again on request
        page.get_by_role("button", name=f"Deliveries to {receiver.url}").click()
        expect(page.locator("#webhook-deliveries li")).to_contain_text(
            "video.created delivered, 1 try, HTTP 200"
        )
        page.get_by_role("button", name=re.compile(r"^Redeliver video\.created \d+$")).click()
        expect(page.locator("#webhooks-status")).to_have_text("video.created sent again.")
        eventually(lambda: len(receiver.received) == 2)
        assert [e["type"] for e in receiver.events(secret)] == ["video.created"] * 2
        # paused, it hears of nothing; resumed, of what comes next
        page.get_by_role("button", name=f"Pause {receiver.url}").click()
        expect(page.locator("#webhooks li")).to_contain_text("Paused: disabled by its owner")
        upload(api, make_media(tmp_path / "unheard.mp4", duration=1))
        page.get_by_role("button", name=f"Resume {receiver.url}").click()
        expect(page.locator("#webhooks-status")).to_contain_text("resumed")
        [heard] = upload(api, make_media(tmp_path / "heard.mp4", duration=1)).json()
        eventually(lambda: len(receiver.received) == 3)
        assert receiver.events(secret)[-1]["data"]["id"] == heard["id"]
        # a new secret is shown once, and signs what is sent next
        page.get_by_role("button", name=f"New secret for {receiver.url}").click()
        expect(page.locator("#webhooks-status")).to_contain_text("the old one also signs until")
        expect(page.locator("#webhook-secret")).not_to_have_text(secret)
        rotated = page.locator("#webhook-secret").inner_text()
        upload(api, make_media(tmp_path / "rotated.mp4", duration=1))
        eventually(lambda: len(receiver.received) == 4)
        headers, body = receiver.received[-1]
        assert Webhook(rotated).verify(body, headers)["type"] == "video.created"
        # and deleting it stops everything
        page.get_by_role("button", name=f"Delete {receiver.url}").click()
        expect(page.locator("#webhooks-status")).to_have_text(f"Webhook to {receiver.url} deleted.")
        expect(page.locator("#webhooks-empty")).to_be_visible()
    finally:
        receiver.stop()
        webhooks.stop()
