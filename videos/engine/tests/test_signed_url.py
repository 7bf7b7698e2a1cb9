"""Probing through a SignedURL, a link the server made to its own file: read over http
with range requests, still only in our demuxers; a path is never read as a link."""

import http.server
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import make_media
from videos.engine.media import ProbeError, SignedURL, probe


class _RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Files of a folder, one byte range at a time when asked (as S3 answers)."""

    def do_GET(self):
        self.server.requests.append(self.path)
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        asked = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        if asked:
            start = int(asked[1])
            end = int(asked[2]) if asked[2] else len(data) - 1
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
            data = data[start : end + 1]
        else:
            self.send_response(200)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def served(tmp_path) -> Iterator[tuple[str, list[str]]]:
    """tmp_path over http on the loopback: its address, and the paths asked of it."""
    handler = lambda *args: _RangeHandler(*args, directory=str(tmp_path))  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server.requests
    finally:
        server.shutdown()
        server.server_close()


def test_a_signed_url_is_probed_as_its_file_is(tmp_path, served):
    # given a video, and a link to it
    url, requests = served
    path = make_media(tmp_path / "clip.mp4", duration=3)

    # when it is probed through the link
    remote = probe(SignedURL(f"{url}/clip.mp4?X-Amz-Signature=abc"))

    # then it is the same video, read from that link alone
    assert remote == probe(path)
    assert requests and set(requests) == {"/clip.mp4?X-Amz-Signature=abc"}


def test_a_playlist_behind_a_signed_url_is_refused_without_fetching_what_it_names(tmp_path, served):
    # given a playlist named .mp4 behind a link, naming a segment served beside it
    url, requests = served
    make_media(tmp_path / "segment.ts", duration=1)
    (tmp_path / "list.mp4").write_text(
        f"#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\n{url}/segment.ts\n#EXT-X-ENDLIST\n"
    )

    # when it is probed, then it is refused, and the segment never asked for
    with pytest.raises(ProbeError):
        probe(SignedURL(f"{url}/list.mp4"))
    assert "/segment.ts" not in requests


def test_a_path_is_never_read_as_a_link(tmp_path, served):
    # given a video served over http
    url, requests = served
    make_media(tmp_path / "clip.mp4")

    # when its address is given as a path, then it is a missing file, not fetched
    with pytest.raises(ProbeError):
        probe(f"{url}/clip.mp4")
    assert requests == []
    with pytest.raises(ValueError):
        SignedURL("file:///etc/passwd")
