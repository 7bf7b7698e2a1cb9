"""Smart cut results played in Chromium: a result whose copied packets are the source's
and whose re-encoded head and tail carry their parameter sets in-band (avc3 in MP4)
plays, and shows the right pictures when sought into the head, the copy and the tail,
in any order."""

import base64
import os
import subprocess
from contextlib import contextmanager
from pathlib import Path

import pytest

from conftest import upload
from jobs.models import Job

from .test_execute import difference, execute, output_path
from .test_smartcut import CUT, X264, make_source, trim, video_times

CHROMIUM = Path("/usr/bin/chromium")
PAGE = """<!doctype html><video id="v" muted preload="auto"></video>
<canvas id="c" width="64" height="48"></canvas>"""
# The file as a blob: same origin, so the canvas may read the pictures back.
LOAD = """([data, type]) => {
  const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
  document.getElementById('v').src = URL.createObjectURL(new Blob([bytes], {type}));
}"""
# Seek to a time, wait for the picture, and return it as 64x48 luma (BT.601 from RGB).
SHOW = """async (t) => {
  const v = document.getElementById('v');
  if (v.readyState < 2) {
    await new Promise((ok) => v.addEventListener('loadeddata', ok, {once: true}));
  }
  // drawn once the seek's frame is presented: 'seeked' alone may come first on a busy machine
  const presented = new Promise((ok) => v.requestVideoFrameCallback(ok));
  v.currentTime = t;
  await new Promise((ok) => v.addEventListener('seeked', ok, {once: true}));
  await presented;
  const c = document.getElementById('c').getContext('2d');
  c.drawImage(v, 0, 0, 64, 48);
  const d = c.getImageData(0, 0, 64, 48).data;
  const gray = [];
  for (let i = 0; i < d.length; i += 4) {
    gray.push(Math.round(0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2]));
  }
  return {error: v.error ? v.error.code : null, gray};
}"""
PLAY = """async () => {
  const v = document.getElementById('v');
  v.currentTime = 0;
  await new Promise((ok) => v.addEventListener('seeked', ok, {once: true}));
  v.playbackRate = 4;
  await v.play();
  await new Promise((ok, fail) => { v.onended = ok; v.onerror = fail; });
  const quality = v.getVideoPlaybackQuality();
  return {error: v.error ? v.error.code : null, corrupted: quality.corruptedVideoFrames,
          total: quality.totalVideoFrames};
}"""


def rgb_luma(path: Path, index: int) -> bytes:
    """Frame `index` as FFmpeg decodes it, 64x48, luma from RGB as the page computes it."""
    rgb = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-vf"]
        + [f"select=eq(n\\,{index}),scale=64:48,format=rgb24", "-frames:v", "1"]
        + ["-f", "rawvideo", "-"],
        capture_output=True,
        check=True,
    ).stdout
    return bytes(
        round(0.299 * rgb[i] + 0.587 * rgb[i + 1] + 0.114 * rgb[i + 2])
        for i in range(0, len(rgb), 3)
    )


@pytest.mark.slow
@contextmanager
def video_page(video: Path, mime: str):
    """A page of Debian's Chromium with `video` loaded in its player (PAGE, LOAD); under
    CI a missing Chromium fails the test rather than skipping it."""
    if not CHROMIUM.exists():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"Chromium is not at {CHROMIUM}")
        pytest.skip(f"Chromium is not at {CHROMIUM}")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page()
            page.set_content(PAGE)
            page.evaluate(LOAD, [base64.b64encode(video.read_bytes()).decode(), mime])
            yield page
        finally:
            browser.close()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("extension", ["mp4", "mkv"])
def test_chromium_plays_and_seeks_a_smart_cut(api, tmp_path, media_root, extension):
    # given a smart cut of H.264 (head and tail re-encoded, the middle copied)
    source = make_source(tmp_path / f"source.{extension}", X264, "aac")
    video = upload(api, source).json()[0]
    job_id = trim(api, video["id"], *CUT)
    assert execute(api).status_code == 200
    job = Job.objects.get(pk=job_id)
    assert job.outcome["trim_method"] == "smart", job.outcome
    result = output_path(job_id, media_root)
    mime = {"mp4": "video/mp4", "mkv": "video/x-matroska"}[extension]
    times = video_times(result)
    frame = times[1] - times[0]

    # when Chromium seeks into the tail, back into the copy, the head, and the tail again
    # (the copy starts 0.25 s in and the tail 2.65 s in), then plays it through
    with video_page(result, mime) as page:
        shown = {}
        for index in (75, 30, 3, 50, 80, 10):
            shown[index] = page.evaluate(SHOW, times[index] - times[0] + frame / 2)
        played = page.evaluate(PLAY)

    # then each picture is the result's frame there, as FFmpeg decodes it, and playing it
    # through shows no error and no corrupted frame
    for index, picture in shown.items():
        assert picture["error"] is None
        assert difference(bytes(picture["gray"]), rgb_luma(result, index)) < 6, index
    assert (played["error"], played["corrupted"]) == (None, 0)
