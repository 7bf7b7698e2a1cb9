"""Timeline data made from real media: keyframes as ffprobe sees them, a storyboard
whose cues cover the clip and point inside their sprites, peaks that follow the sound."""

import json
import re
import subprocess
from pathlib import Path

import pytest

from conftest import ffprobe, make_media
from videos.engine import timeline
from videos.engine.media import probe

CUE_RE = re.compile(
    r"^(\d\d):(\d\d):(\d\d)\.(\d{3}) --> (\d\d):(\d\d):(\d\d)\.(\d{3})\n"
    r"(?P<sprite>[^#\n]+)#xywh=(?P<x>\d+),(?P<y>\d+),(?P<w>\d+),(?P<h>\d+)$",
    re.M,
)


def _seconds(parts) -> float:
    hours, minutes, seconds, millis = map(int, parts)
    return hours * 3600 + minutes * 60 + seconds + millis / 1000


def _make(source: Path, workdir: Path) -> timeline.Made:
    found = probe(source)
    return timeline.make(
        source=source,
        demuxer=found.demuxer,
        duration=found.duration,
        width=found.width,
        height=found.height,
        sample_aspect_ratio=found.sample_aspect_ratio,
        rotation=found.rotation,
        has_audio=found.audio_codec is not None,
        workdir=workdir,
    )


def _ffprobe_keyframes(path: Path) -> list[float]:
    completed = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries"]
        + ["packet=pts_time,flags", "-of", "json", str(path)],
        capture_output=True,
        check=True,
    )
    packets = json.loads(completed.stdout)["packets"]
    return sorted(float(p["pts_time"]) for p in packets if "K" in p["flags"])


def test_keyframes_are_ffprobes(tmp_path):
    clip = make_media(tmp_path / "gop.mp4", duration=6.2, extra=["-g", "25", "-sc_threshold", "0"])
    made = _make(clip, tmp_path)
    expected = _ffprobe_keyframes(clip)
    assert len(expected) == 7
    assert made.keyframes == pytest.approx(expected, abs=0.0005)


@pytest.mark.parametrize(
    ("size", "duration"), [("320x240", 13.4), ("240x320", 3.0), ("256x144", 250.0)]
)
def test_storyboard_covers_the_clip_and_points_inside_its_sprites(tmp_path, size, duration):
    clip = make_media(
        tmp_path / "clip.mp4",
        size=size,
        rate="5",
        duration=duration,
        audio=None,
        extra=["-g", "50"],
    )
    made = _make(clip, tmp_path)
    sizes = {}
    for sprite in made.sprites:
        stream = ffprobe(sprite)["streams"][0]
        sizes[sprite.name] = (stream["width"], stream["height"])
    text = made.storyboard.read_text()
    assert text.startswith("WEBVTT\n")
    cues = list(CUE_RE.finditer(text))
    assert len(cues) == made.plan.count == len(text.split("\n\n")) - 1
    probed = probe(clip).duration
    assert _seconds(cues[0].groups()[:4]) == 0
    for earlier, later in zip(cues, cues[1:], strict=False):
        assert earlier.groups()[4:8] == later.groups()[:4]  # back to back
    assert _seconds(cues[-1].groups()[4:8]) == pytest.approx(probed, abs=0.001)
    for cue in cues:
        width, height = sizes[cue["sprite"]]
        x, y, w, h = (int(cue[key]) for key in "xywh")
        assert w > 0 and h > 0 and x + w <= width and y + h <= height
    assert {cue["sprite"] for cue in cues} == set(sizes)
    thumb_w, thumb_h = made.plan.width, made.plan.height
    assert max(thumb_w, thumb_h) == timeline.THUMB_EDGE
    assert (thumb_w > thumb_h) == (size == "320x240" or size == "256x144")
    assert made.waveform is None


def test_peaks_are_silent_where_the_sound_is(tmp_path):
    clip = tmp_path / "quiet.mp4"
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y"]
        + ["-f", "lavfi", "-i", "testsrc2=s=160x120:r=10:d=3"]
        + ["-f", "lavfi", "-i", "sine=f=300:r=48000:d=3"]
        + ["-af", "volume=enable='between(t,1,2)':volume=0"]
        + ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", str(clip)],
        check=True,
    )
    made = _make(clip, tmp_path)
    peaks = json.loads(made.waveform.read_text())
    assert {key: peaks[key] for key in peaks if key != "data"} == {
        "version": 2,
        "channels": 1,
        "sample_rate": timeline.PEAKS_SAMPLE_RATE,
        "samples_per_pixel": timeline.SAMPLES_PER_PIXEL,
        "bits": 8,
        "length": len(peaks["data"]) // 2,
    }
    per_second = timeline.PEAKS_SAMPLE_RATE / timeline.SAMPLES_PER_PIXEL
    assert peaks["length"] == pytest.approx(3 * per_second, abs=per_second * 0.1)
    pairs = list(zip(peaks["data"][::2], peaks["data"][1::2], strict=True))
    assert all(-128 <= low <= high <= 127 for low, high in pairs)

    def loudest(start: float, end: float) -> int:
        return max(
            high - low for low, high in pairs[int(start * per_second) : int(end * per_second)]
        )

    assert loudest(1.1, 1.9) <= 2  # silent
    assert loudest(0.1, 0.9) > 20 and loudest(2.1, 2.9) > 20  # lavfi sine: 1/8 of full scale
