"""The timeline editor, driven in a real Chromium as a person would: by mouse and by
keyboard alone, from marking ranges to playing the rendered result, whose frames are
checked by content against the marked frames of the sources."""

import subprocess
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from conftest import make_media, upload
from jobs.models import Job
from videoproc.models import Draft
from videoproc.tests.test_browser import (
    ARTIFACTS,
    JOB_TIMEOUT,
    card,
    open_page,
    serious_violations,
)

pytestmark = [pytest.mark.django_db, pytest.mark.browser, pytest.mark.slow]

RATE = 25
SMALL = (64, 48)  # frames are compared at this size, in grey


def frames(path: Path) -> list[bytes]:
    """Every frame of a video, small and grey: enough to tell testsrc2's frames apart."""
    width, height = SMALL
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-vf", f"scale={width}:{height},format=gray"]
        + ["-f", "rawvideo", "-"],
        capture_output=True,
        check=True,
    ).stdout
    size = width * height
    return [raw[i : i + size] for i in range(0, len(raw), size)]


def distance(a: bytes, b: bytes) -> float:
    return sum(abs(x - y) for x, y in zip(a, b, strict=True)) / len(a)


def assert_same_frames(result: list[bytes], expected: list[bytes]) -> None:
    """Frame by frame, each result frame is its expected source frame (re-encoding at the
    cuts changes pixels a little) and not a neighbour of it."""
    assert len(result) == len(expected)
    for index, (got, want) in enumerate(zip(result, expected, strict=True)):
        neighbours = [f for f in expected[max(0, index - 1) : index + 2] if f is not want]
        near = distance(got, want)
        assert near < 4, f"frame {index} differs from its source frame by {near:.1f}"
        for other in neighbours:
            assert near < distance(got, other), f"frame {index} looks like a neighbour"


def slider_time(page: Page, name: str) -> float:
    return float(page.get_by_role("slider", name=name).get_attribute("aria-valuenow"))


def frame_of(seconds: float) -> int:
    return round(seconds * RATE)


def timeline_ready(page: Page) -> None:
    """The filmstrip and waveform are in: the track is not rebuilt under a handle."""
    expect(page.locator("#timeline")).to_have_attribute("aria-busy", "false", timeout=20_000)
    expect(page.get_by_role("slider", name="In")).to_be_visible()


def open_video(page: Page, name: str) -> None:
    card(page, name).get_by_role("button", name=f"Play {name}").click()
    timeline_ready(page)
    page.wait_for_function("document.querySelector('#player').readyState >= 1")


def drag_handle(page: Page, name: str, seconds: float, duration: float) -> None:
    """Drag a handle with the mouse to where the track shows `seconds`."""
    track = page.locator("#waveform").bounding_box()
    handle = page.get_by_role("slider", name=name).bounding_box()
    page.mouse.move(handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2)
    page.mouse.down()
    target = track["x"] + track["width"] * seconds / duration
    page.mouse.move(target, handle["y"] + handle["height"] / 2, steps=8)
    page.mouse.up()


def segments(page: Page):
    return page.locator("#segments .segment-button")


def play_result_and_check(page: Page, sources: dict[int, list[bytes]], tmp_path) -> None:
    """Render, without any Execute press; the result opens in the player and its frames
    are the segments' frames."""
    expect(page.locator("#queue .job")).not_to_have_count(0)
    job = Job.objects.filter(kind="edit").latest("id")
    wanted = [
        sources[s["video_id"]][frame_of(s["start_ms"] / 1000) : frame_of(s["end_ms"] / 1000)]
        for s in job.params["segments"]
    ]
    expect(page.locator(f'#queue .job[data-job-id="{job.id}"]')).to_have_attribute(
        "data-status", "succeeded", timeout=JOB_TIMEOUT
    )
    job.refresh_from_db()
    result = job.output_video
    page.get_by_role("button", name=f"Play result #{result.id}").click()
    page.wait_for_function("document.querySelector('#player').readyState >= 1")
    assert page.locator("#player").evaluate("v => v.currentSrc").endswith(result.file.name)
    assert_same_frames(frames(Path(result.file.path)), [f for part in wanted for f in part])


def draft_saved(*, segments: int) -> None:
    """Wait until the server holds the draft with that many segments: the page saves it
    once edits settle."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        draft = Draft.objects.filter(request_code="alice").first()
        if draft and len(draft.data.get("segments", [])) == segments:
            return
        time.sleep(0.1)
    raise AssertionError(f"no draft with {segments} segments was saved")


@pytest.fixture
def two_videos(api, tmp_path):
    paths = [make_media(tmp_path / name, duration=2) for name in ("one.mp4", "two.mp4")]
    videos = upload(api, *paths).json()
    return {video["id"]: frames(path) for video, path in zip(videos, paths, strict=True)}


def test_a_whole_edit_by_mouse(page: Page, live_server, two_videos, tmp_path):
    first, second = two_videos
    open_page(page, live_server)

    # mark 0.2-1.0 s on the first video with the handles and add it
    open_video(page, "one.mp4")
    drag_handle(page, "Out", 1.0, 2.0)
    drag_handle(page, "In", 0.2, 2.0)
    assert slider_time(page, "In") == pytest.approx(0.2, abs=0.09)
    assert slider_time(page, "Out") == pytest.approx(1.0, abs=0.09)
    for name in ("In", "Out"):  # on a frame's start
        value = slider_time(page, name)
        assert value * RATE == pytest.approx(round(value * RATE), abs=1e-3)
    page.get_by_role("button", name="Add to segments").click()
    expect(segments(page)).to_have_count(1)

    # and 0.4-1.6 s on the second
    open_video(page, "two.mp4")
    drag_handle(page, "In", 0.4, 2.0)
    drag_handle(page, "Out", 1.6, 2.0)
    page.get_by_role("button", name="Add to segments").click()
    expect(segments(page)).to_have_count(2)

    # drag the second segment before the first
    source = segments(page).nth(1).bounding_box()
    target = segments(page).nth(0).bounding_box()
    page.mouse.move(source["x"] + 10, source["y"] + source["height"] / 2)
    page.mouse.down()
    page.mouse.move(target["x"] + 5, target["y"] + target["height"] / 2, steps=12)
    page.mouse.up()
    expect(segments(page).first).to_contain_text(f"#{second}")

    # split the first (now the second video's) at the playhead, then undo the split
    segments(page).first.click()
    page.locator("#player").evaluate("v => { v.currentTime = 1.02; }")
    page.get_by_role("button", name="Split").click()
    expect(segments(page)).to_have_count(3)
    expect(segments(page).nth(1)).to_contain_text("00:00:01.000 – 00:00:01.600")
    page.get_by_role("button", name="Undo").click()
    expect(segments(page)).to_have_count(2)
    page.get_by_role("button", name="Redo").click()  # redo, then delete a part and undo
    expect(segments(page)).to_have_count(3)
    page.get_by_role("button", name="Delete", exact=True).click()
    expect(segments(page)).to_have_count(2)
    for _ in range(2):
        page.get_by_role("button", name="Undo").click()
    expect(segments(page)).to_have_count(2)
    expect(segments(page).first).to_contain_text("00:00:00.400 – 00:00:01.600")

    # a reload finds the draft, and so does another browser
    draft_saved(segments=2)
    page.reload()
    expect(segments(page)).to_have_count(2)
    expect(segments(page).first).to_contain_text(f"#{second}")
    expect(segments(page).nth(1)).to_contain_text(f"#{first}")
    other = page.context.browser.new_context().new_page()
    open_page(other, live_server)
    expect(segments(other)).to_have_count(2)
    expect(segments(other).first).to_contain_text(f"#{second}")
    other.context.close()

    # preview plays the list through both videos, then stops
    open_video(page, "one.mp4")
    page.locator("#player").evaluate("v => { v.muted = true; }")
    preview = page.get_by_role("button", name="Preview")
    preview.click()
    expect(preview).to_have_attribute("aria-pressed", "true")
    expect(preview).to_have_attribute("aria-pressed", "false", timeout=15_000)

    page.get_by_role("button", name="Render", exact=True).click()
    play_result_and_check(page, two_videos, tmp_path)


def test_a_whole_edit_by_keyboard_alone(page: Page, live_server, two_videos, tmp_path):
    first, second = two_videos
    open_page(page, live_server)

    def play(name: str) -> None:
        card(page, name).get_by_role("button", name=f"Play {name}").focus()
        page.keyboard.press("Enter")
        timeline_ready(page)

    # the handles are sliders: arrows step a frame, Shift+arrows a second
    play("one.mp4")
    page.get_by_role("slider", name="In").focus()
    for key in ["ArrowRight"] * 5:
        page.keyboard.press(key)
    expect(page.get_by_role("slider", name="In")).to_have_attribute(
        "aria-valuetext", "00:00:00.200"
    )
    page.get_by_role("slider", name="Out").focus()
    page.keyboard.press("Shift+ArrowLeft")
    expect(page.get_by_role("slider", name="Out")).to_have_attribute(
        "aria-valuetext", "00:00:01.000"
    )
    page.keyboard.press("a")
    expect(segments(page)).to_have_count(1)

    # the second video: I and O at the playhead, moved by frames
    play("two.mp4")
    for key in ["."] * 10 + ["i"] + ["."] * 20 + ["o", "a"]:
        page.keyboard.press(key)
    expect(segments(page)).to_have_count(2)
    expect(segments(page).nth(1)).to_contain_text("00:00:00.400 – 00:00:01.240")

    # reorder by keys, split at the playhead, undo the split
    segments(page).nth(1).focus()
    page.keyboard.press("Enter")
    page.keyboard.press("Alt+ArrowLeft")
    expect(segments(page).first).to_contain_text(f"#{second}")
    for key in ["."] * 5 + ["s"]:
        page.keyboard.press(key)
    expect(segments(page)).to_have_count(3)
    page.keyboard.press("Control+z")
    expect(segments(page)).to_have_count(2)

    # reload: the draft is there
    draft_saved(segments=2)
    page.reload()
    expect(segments(page)).to_have_count(2)
    expect(segments(page).first).to_contain_text(f"#{second}")

    # preview and render by keys
    play("one.mp4")
    page.locator("#player").evaluate("v => { v.muted = true; }")
    page.get_by_role("button", name="Preview").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="Preview")).to_have_attribute(
        "aria-pressed", "false", timeout=15_000
    )
    page.get_by_role("button", name="Render", exact=True).focus()
    page.keyboard.press("Enter")
    play_result_and_check(page, two_videos, tmp_path)


@pytest.fixture
def talk(api, tmp_path):
    """Half a minute with a keyframe every 2 s and sound that swells and fades."""
    path = tmp_path / "talk.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=640x360:r=25:d=30"]
        + ["-f", "lavfi", "-i", "aevalsrc=0.9*sin(2*PI*330*t)*sin(PI*t/5)^2:d=30"]
        + ["-c:v", "libx264", "-g", "50", "-pix_fmt", "yuv420p", "-c:a", "aac", str(path)],
        check=True,
    )
    upload(api, path)


@pytest.mark.parametrize("width", [1280, 390])
def test_the_editor_as_people_see_it(page: Page, live_server, talk, width):
    """The page with an edit under way, at a desktop's and a phone's width: player and
    timeline first, nothing wider than the screen, nothing axe-core calls serious. The
    pictures go to test-artifacts/ (docs/page-1280.png and docs/page-390.png are copies)."""
    page.set_viewport_size({"width": width, "height": 900 if width > 600 else 844})
    open_page(page, live_server)
    open_video(page, "talk.mp4")

    def keys(slider: str, *pressed: str) -> None:
        page.get_by_role("slider", name=slider).focus()
        for key in pressed:
            page.keyboard.press(key)

    keys("Out", *["Shift+ArrowLeft"] * 12)
    keys("In", *["Shift+ArrowRight"] * 4, *["ArrowRight"] * 5, "a")
    keys("Out", *["Shift+ArrowRight"] * 9)
    keys("In", *["Shift+ArrowRight"] * 18, "a")
    expect(segments(page)).to_have_count(2)
    expect(page.get_by_role("slider", name="In")).to_have_attribute(
        "aria-valuetext", "00:00:22.200"
    )
    segments(page).first.click()
    expect(page.get_by_role("slider", name="Out")).to_have_attribute(
        "aria-valuetext", "00:00:27.000"
    )
    expect(page.locator("#editor-plan")).to_contain_text(
        "copies 2.0 s, re-encodes 2.8 s", timeout=10_000
    )

    assert page.evaluate("document.documentElement.scrollWidth") <= width
    player = page.locator("#player").bounding_box()
    timeline = page.get_by_role("region", name="Timeline").bounding_box()
    library = page.locator("#library-title").bounding_box()
    assert player["y"] < timeline["y"] < library["y"]
    found = serious_violations(page)
    assert found == [], "\n".join(found)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"page-{width}.png", full_page=width > 600)


def test_the_timeline_works_by_touch(browser, live_server, two_videos):
    """On a phone: the Out handle is dragged by a finger, and a tap on the track scrubs."""
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True
    )
    page = context.new_page()
    open_page(page, live_server)
    open_video(page, "one.mp4")
    touch = context.new_cdp_session(page)

    def drag(x: float, y: float, to_x: float) -> None:
        touch.send(
            "Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x, "y": y}]}
        )
        page.wait_for_timeout(200)  # a finger rests before it drags: not a scroll
        for step in range(1, 9):
            point = {"x": x + (to_x - x) * step / 8, "y": y}
            touch.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [point]})
        touch.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})

    track = page.locator("#waveform").bounding_box()
    handle = page.get_by_role("slider", name="Out").bounding_box()
    drag(
        handle["x"] + handle["width"] / 2,
        handle["y"] + handle["height"] / 2,
        track["x"] + track["width"] * 0.6,
    )
    assert slider_time(page, "Out") == pytest.approx(1.2, abs=0.12)

    page.tap("#waveform", position={"x": track["width"] * 0.25, "y": 10})
    page.wait_for_function("Math.abs(document.querySelector('#player').currentTime - 0.5) < 0.1")
    context.close()


def test_handles_snap_to_keyframes_when_asked(page: Page, live_server, talk):
    open_page(page, live_server)
    open_video(page, "talk.mp4")

    page.get_by_label("Snap to keyframes").check()
    drag_handle(page, "In", 5.3, 30.0)
    drag_handle(page, "Out", 12.6, 30.0)

    # a keyframe every 2 s: the handles land on the nearest, and a smart cut copies it all
    assert (slider_time(page, "In"), slider_time(page, "Out")) == (6.0, 12.0)
    expect(page.locator("#editor-plan")).to_contain_text("copies 6.0 s, re-encodes 0.0 s")
