"""Benchmark: the page's first paint with 500 videos in the library.

    .venv/bin/python bench/first_paint.py [--videos 500] [--runs 5]
    (also part of `make bench`; `bench/run.py --only page` runs just this)

Serves the app with gunicorn as `make run` does (its own SQLite database and media root
in bench/work/), with N videos in the library: one real clip imported, then N - 1 rows
sharing its file and poster (the page shows a page of cards, each with its poster). Opens
/ in Debian's Chromium through Playwright (as videoproc/tests/conftest.py launches it),
each run in a fresh browser context (no cache), after one untimed load that warms the
server. Reports first-contentful-paint, and the time until the library's first page of
cards (`#library .card`) is in the page and painted, from the navigation's start.
Prints a Markdown table for bench/RESULTS.md.
"""

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / "work"
DATABASE = WORK / "first_paint.sqlite3"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"]
TARGET_MS = 1000

# Runs before the page's own scripts: notes when the first library card is in the page,
# and when the frame that shows it has been painted (the next frame's callback).
WATCH_CARDS = """
window.__bench = {};
new MutationObserver((_, observer) => {
  if (!document.querySelector("#library .card")) return;
  observer.disconnect();
  window.__bench.cards = performance.now();
  window.__bench.count = document.querySelectorAll("#library .card").length;
  requestAnimationFrame(() => setTimeout(() => { window.__bench.painted = performance.now(); }));
}).observe(document, { childList: true, subtree: true });
"""

# What a load measured, in ms from the navigation's start.
TIMINGS = """() => {
  const library = performance.getEntriesByType("resource")
    .find((entry) => entry.name.includes("/page/library"));
  return {
    html: performance.getEntriesByType("navigation")[0].responseEnd,
    fcp: performance.getEntriesByName("first-contentful-paint")[0].startTime,
    asked: library.startTime,
    answered: library.responseEnd,
    cards: window.__bench.cards,
    painted: window.__bench.painted,
    count: window.__bench.count,
  };
}"""


def setup_django(media_root: Path) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "videoproc.settings"
    os.environ["MEDIA_ROOT"] = str(media_root)
    os.environ["DATABASE_URL"] = f"sqlite:///{DATABASE}"
    os.environ["API_AUTH"] = "off"  # the page as the contract's open server shows it
    os.environ["TIMELINE_AUTO"] = "false"
    os.environ.pop("CELERY_BROKER_URL", None)
    sys.path.insert(0, str(ROOT))
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def fill_library(count: int) -> None:
    """One clip imported as an upload would be, then count - 1 rows like it."""
    from videos.models import Video
    from videos.services import video_import

    clip = WORK / "first_paint_clip.mp4"
    if not clip.exists():
        subprocess.run(
            ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=640x360:r=30:d=4"]
            + ["-f", "lavfi", "-i", "sine=f=440:d=4", "-c:v", "libx264", "-pix_fmt", "yuv420p"]
            + ["-c:a", "aac", str(clip)],
            check=True,
            stdin=subprocess.DEVNULL,
        )
    first = video_import(path=clip)
    fields = {
        field.name: getattr(first, field.name)
        for field in Video._meta.concrete_fields
        if field.name not in {"id", "created_at"}
    }
    Video.objects.bulk_create(
        Video(**{**fields, "original_name": f"clip {number:03}.mp4"})
        for number in range(2, count + 1)
    )


def free_port() -> int:
    with socket.socket() as probe_socket:
        probe_socket.bind(("127.0.0.1", 0))
        return probe_socket.getsockname()[1]


def serve(port: int) -> subprocess.Popen:
    """gunicorn as `make serve` starts it (fewer threads: nothing else is calling)."""
    server = subprocess.Popen(
        [str(ROOT / ".venv/bin/gunicorn"), "videoproc.wsgi:application"]
        + ["--bind", f"127.0.0.1:{port}", "--workers", "2", "--worker-class", "gthread"]
        + ["--threads", "8", "--timeout", "0"],
        cwd=ROOT,
        env=os.environ.copy(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return server
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.terminate()
                raise RuntimeError("gunicorn did not start") from None
            time.sleep(0.2)


def load(browser, url: str) -> dict:
    """One load of the page in a fresh context: its timings in ms from navigation start."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = context.new_page()
        page.add_init_script(WATCH_CARDS)
        page.goto(url)
        page.wait_for_function("window.__bench.painted !== undefined", timeout=30000)
        page.wait_for_function(
            "performance.getEntriesByName('first-contentful-paint').length > 0", timeout=30000
        )
        return page.evaluate(TIMINGS)
    finally:
        context.close()


def measure(videos: int, runs: int) -> tuple[dict, list[dict]]:
    from playwright.sync_api import sync_playwright

    port = free_port()
    server = serve(port)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                url = f"http://127.0.0.1:{port}/"
                warm_up = load(browser, url)
                return warm_up, [load(browser, url) for _ in range(runs)]
            finally:
                browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)


def report(videos: int, warm_up: dict, timings: list[dict]) -> str:
    def median(key: str) -> float:
        return statistics.median(timing[key] for timing in timings)

    def worst(key: str) -> float:
        return max(timing[key] for timing in timings)

    met = "met" if worst("painted") < TARGET_MS else "NOT met"
    lines = [
        f"Date: {time.strftime('%Y-%m-%d %H:%M')}  \nLoad average (1 min) at the end: "
        f"{os.getloadavg()[0]:.1f}\n",
        f"| page / with {videos} videos, {len(timings)} loads | median (ms) | worst (ms) |",
        "| --- | ---: | ---: |",
        f"| HTML received | {median('html'):.0f} | {worst('html'):.0f} |",
        f"| first-contentful-paint | {median('fcp'):.0f} | {worst('fcp'):.0f} |",
        f"| the library asked for (`/page/library` sent) | {median('asked'):.0f} | "
        f"{worst('asked'):.0f} |",
        f"| the library's answer received | {median('answered'):.0f} | {worst('answered'):.0f} |",
        f"| first page of cards in the page (`#library .card`) | {median('cards'):.0f} | "
        f"{worst('cards'):.0f} |",
        f"| first page of cards painted | {median('painted'):.0f} | {worst('painted'):.0f} |",
        "",
        f"Cards on the first page: {timings[0]['count']}. Target: cards painted under "
        f"{TARGET_MS} ms: {met} (worst load). The untimed first load after the server "
        f"started: FCP {warm_up['fcp']:.0f} ms, cards painted {warm_up['painted']:.0f} ms.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=500, help="videos in the library")
    parser.add_argument("--runs", type=int, default=5, help="timed loads")
    arguments = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    DATABASE.unlink(missing_ok=True)
    media_root = Path(tempfile.mkdtemp(prefix="media-page-", dir=WORK))
    try:
        setup_django(media_root)
        fill_library(arguments.videos)
        warm_up, timings = measure(arguments.videos, arguments.runs)
    finally:
        shutil.rmtree(media_root, ignore_errors=True)
        DATABASE.unlink(missing_ok=True)
    print(report(arguments.videos, warm_up, timings))


if __name__ == "__main__":
    main()
