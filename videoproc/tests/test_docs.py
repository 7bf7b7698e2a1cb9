"""The docs stay usable: the README stays the first five minutes, and no link in it or in
docs/ points at a file or a heading that is not there."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
PAGES = [README, *sorted(DOCS.glob("*.md"))]
README_LIMIT = 12 * 1000  # bytes: a newcomer reads it whole

FENCE_RE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
INLINE_CODE_RE = re.compile(r"(`+).+?\1", re.S)
# [text](target) and ![alt](target); the target may carry a "title" after a space.
LINK_RE = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING_RE = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)
EXTERNAL = ("http://", "https://", "mailto:")


def prose(text: str) -> str:
    """The text without code: links and headings inside code are not links or headings."""
    return INLINE_CODE_RE.sub("", FENCE_RE.sub("", text))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lowercase, punctuation other than - and _ dropped,
    each space a hyphen."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link reads as its text
    text = re.sub(r"<[^>]+>", "", text).lower()
    return "".join(c for c in text if c.isalnum() or c in "-_ ").replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """Every heading's anchor in a page; repeated headings get -1, -2, ... as on GitHub."""
    found, seen = set(), {}
    for heading in HEADING_RE.findall(FENCE_RE.sub("", page.read_text())):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(page: Path) -> list[str]:
    return [t for t in LINK_RE.findall(prose(page.read_text())) if not t.startswith(EXTERNAL)]


def test_slug_follows_github():
    assert slug("Plain gunicorn (`make run`) against slow clients") == (
        "plain-gunicorn-make-run-against-slow-clients"
    )
    assert slug("Hardening: no input makes a 5xx") == "hardening-no-input-makes-a-5xx"
    assert slug("`videos/engine/` — the FFmpeg engine") == "videosengine--the-ffmpeg-engine"
    assert slug("FFMPEG_MAX_RUNS and [slots](x.md)") == "ffmpeg_max_runs-and-slots"


def test_link_finder_skips_code_and_external_links(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        'See [a](a.md#top), ![shot](img/shot.png "title") and [web](https://example.com).\n'
        "`[not](inline.md)`\n```\n[not](fenced.md)\n```\n"
    )
    assert links(page) == ["a.md#top", "img/shot.png"]


def test_readme_is_short():
    size = len(README.read_bytes())
    assert size < README_LIMIT, f"README.md is {size} bytes; move detail into docs/"


def test_the_docs_folder_exists():
    assert (DOCS / "contract.md").exists()
    assert len(PAGES) > 2


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_relative_links_point_at_files_and_headings(page):
    broken = []
    for target in links(page):
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.is_file():
            broken.append(f"{target}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(f"{target}: no heading #{anchor} in {linked.name}")
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)


def production_block(page: Path) -> str:
    [block] = [
        block
        for block in re.findall(r"```sh\n(.*?)```", page.read_text(), re.S)
        if "BEHIND_TLS_PROXY=" in block
    ]
    return block


def test_production_environment_is_the_same_in_readme_and_deployment():
    # videoproc/tests/test_settings.py runs `check --deploy` with the README's block;
    # docs/deployment.md shows it too, and the two must not drift apart.
    assert production_block(README) == production_block(DOCS / "deployment.md")
