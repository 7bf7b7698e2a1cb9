"""ffprobe runs under the memory cap of an FFmpeg run, and a decoder refuses to allocate a
picture past what we accept before probing decodes it."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from videos.engine.media import ProbeError, probe

from .lying import make_png_bomb

PROJECT = Path(__file__).resolve().parents[3]

# In a fresh interpreter (its children are only this probe's): probe under a cap, and
# how much memory the busiest ffprobe held.
SCRIPT = """
import json, resource, sys
from videos.engine import media, tools
tools.configure(memory_limit_mb=int(sys.argv[2]) or None)
try:
    media.probe(sys.argv[1])
except media.ProbeError:
    pass
print(json.dumps(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024))
"""


def peak_probing_mb(path: Path, limit_mb: int) -> int:
    completed = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(path), str(limit_mb)],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(completed.stdout)


def test_ffprobe_holds_no_more_memory_than_the_cap(tmp_path):
    # given pictures declaring 8000x8000 (within what probing decodes: 192 MB each)
    big = make_png_bomb(tmp_path / "big.mkv", 8000, 8000)
    # when probed without a cap and with 400 MB of address space (ffprobe maps 260 MB of
    # libraries before it reads anything), then the cap keeps the picture out
    assert peak_probing_mb(big, 0) > 200
    assert peak_probing_mb(big, 400) < 100


def test_a_picture_past_the_largest_accepted_is_not_decoded_to_be_refused(tmp_path):
    bomb = make_png_bomb(tmp_path / "bomb.mkv", 16000, 16000)
    with pytest.raises(ProbeError, match="larger than 8192x8192"):
        probe(bomb)
    assert peak_probing_mb(bomb, 0) < 100  # not the 780 MB its first picture would take
