"""A smart cut's FFmpeg runs: the head, the tail and the poster come from one run (one
per pass of a two-pass encoder), the re-encoded sound from one beside it, the join from
none (it is in-process), and the result is what separate runs made: every frame, the ends
the source's by content, the poster the frame where the result shows it, the sound in its
place."""

import array
import dataclasses
import math
import subprocess
import types
from pathlib import Path

import pytest

from videos.engine import cutscan, media, pipelines, smartcut, thumbnails

RATE, GOP = 30, 12  # a keyframe every 0.4 s
START, END = 0.55, 3.3  # inside the GOPs at 0.4-0.8 s and 3.2-3.6 s: a head and a tail


def make_source(path: Path, video: list[str], audio: str, *, sound_from: float = 0) -> Path:
    """4 s of a picture that changes every frame and a tone on for 0.1 s of every 0.2 s,
    from `sound_from` s."""
    subprocess.run(
        [
            *("ffmpeg", "-v", "error", "-y", "-f", "lavfi"),
            *("-i", f"testsrc2=s=320x240:r={RATE}:d=4", "-itsoffset", str(sound_from)),
            *("-f", "lavfi", "-i"),
            "aevalsrc=0.5*sin(2*PI*440*t)*lt(mod(t\\,0.2)\\,0.1):s=48000:d=4",
            *("-pix_fmt", "yuv420p", *video, "-g", str(GOP), "-c:a", audio, str(path)),
        ],
        check=True,
    )
    return path


class Runner:
    """Runs each step, keeping its arguments and its share of the progress."""

    def __init__(self):
        self.steps: list[tuple[list[str], tuple[float, float]]] = []

    def run(self, args: list[str], duration: float, span: tuple[float, float] = (0, 1)) -> None:
        self.steps.append((args, span))
        media.run_ffmpeg(args, duration=duration)

    def should_cancel(self) -> bool:
        return False


def cut(
    source: Path, workdir: Path, monkeypatch, start: float = START
) -> tuple[Runner, list[list[str]], Path]:
    """Cut `start`-END of `source` smartly; the runner, every FFmpeg process started for
    the cut's files (the steps' and any other: not the capability checks), and the
    result."""
    found = media.probe(source)
    facts = types.SimpleNamespace(**dataclasses.asdict(found), extension=source.suffix[1:])
    started: list[list[str]] = []
    popen = subprocess.Popen

    def counting(args, *rest, **options):
        # (FFmpeg is started through the confining wrappers: media.confined)
        if any(Path(arg).name == "ffmpeg" for arg in args) and str(workdir) in " ".join(args):
            started.append(list(args))
        return popen(args, *rest, **options)

    monkeypatch.setattr(subprocess, "Popen", counting)
    runner, output = Runner(), workdir / f"result{source.suffix}"
    result = smartcut.smart_cut(
        source=source,
        demuxer=found.demuxer,
        start=start,
        end=END,
        output_plan=pipelines.trim_plan(facts),
        rotation=0,
        workdir=workdir,
        output=output,
        runner=runner,
        poster=workdir / "poster.jpg",
        facts=found.stream_facts,
    )
    monkeypatch.undo()
    assert result.method == "smart"
    return runner, started, output


def frames(path: Path, filters: str = "") -> list[bytes]:
    """Each frame of a file (or an image), small and gray, in the order shown, after
    `filters` ("...,")."""
    raw = subprocess.run(
        [
            *("ffmpeg", "-v", "error", "-i", str(path), "-fps_mode", "passthrough"),
            *("-vf", f"{filters}scale=64:48,format=gray", "-f", "rawvideo", "-"),
        ],
        capture_output=True,
        check=True,
    ).stdout
    return [raw[index : index + 64 * 48] for index in range(0, len(raw), 64 * 48)]


def difference(a: bytes, b: bytes) -> float:
    return sum(abs(x - y) for x, y in zip(a, b, strict=True)) / len(a)


def first_sound(path: Path) -> float:
    """Seconds from a file's first picture to its first loud sample, on its own clock."""
    found = cutscan.scan(path, media.probe(path).demuxer)
    start = min(packet.time for packet in found.packets) + found.stream.start_time
    raw = subprocess.run(
        [
            *("ffmpeg", "-v", "error", "-copyts", "-i", str(path), "-map", "0:a:0"),
            *("-af", f"aresample=first_pts=0,atrim=start={start}", "-ac", "1"),
            *("-f", "s16le", "-"),
        ],
        capture_output=True,
        check=True,
    ).stdout
    samples = array.array("h", raw[: len(raw) // 2 * 2])
    return next(index for index, sample in enumerate(samples) if abs(sample) > 3000) / 48000


MPEG2 = ["-c:v", "mpeg2video", "-bf", "2", "-q:v", "3"]


@pytest.mark.parametrize(
    ("name", "video", "audio", "parts", "passes", "inputs"),
    [
        # head, tail and poster share one decoder (an MPEG-PS seek takes a pre-roll)
        ("mpeg2.mpeg", [*MPEG2, "-f", "mpeg"], "mp2", ["head.ts", "tail.ts"], 1, 1),
        # the poster, in the copy's first GOP, comes from the head's decoder
        ("h264.mkv", ["-c:v", "libx264"], "aac", ["head.ts", "tail.ts"], 1, 2),
        # WMV2 decodes in order (its copy runs to the end: no tail), and FFmpeg's encoder
        # makes its parts in two passes: a run each.
        ("wmv2.wmv", ["-c:v", "wmv2", "-b:v", "800k"], "wmav2", ["head.asf"], 2, 1),
    ],
)
def test_the_parts_and_poster_come_from_one_ffmpeg_run_and_the_sound_from_another(
    tmp_path, monkeypatch, name, video, audio, parts, passes, inputs
):
    # given a clip whose cut re-encodes a head (a tail where the codec reorders frames)
    # and its sound
    source = make_source(tmp_path / name, video, audio)
    workdir = tmp_path / "work"
    workdir.mkdir()

    # when it is cut smartly
    runner, started, result = cut(source, workdir, monkeypatch)

    # then FFmpeg ran once per pass for the parts and the poster, their runs the cut's
    # progress, and once for the sound beside them; nothing ran to join them
    assert len(runner.steps) == passes
    assert len(started) == passes + 1
    encodes = [" ".join(args) for args, _ in runner.steps]
    for made in [*parts, "poster.jpg"]:
        assert str(workdir / made) in encodes[-1]
    assert all(str(workdir / part) in encodes[0] for part in parts)
    assert encodes[-1].split().count("-i") == inputs  # the poster opens no input of its own
    (sound,) = [" ".join(args) for args in started if str(workdir / "sound.mp4") in args]
    assert "poster.jpg" not in sound and all(str(workdir / part) not in sound for part in parts)
    spans = [span for _, span in runner.steps]
    assert spans == [(index / passes, (index + 1) / passes) for index in range(passes)]

    # and the result holds every frame of the span, its ends the source's
    kept = frames(source, f"trim={START}:{END},")
    got = frames(result)
    assert len(got) == len(kept)
    for index in (0, -1):
        assert difference(got[index], kept[index]) < 3

    # and the poster is the frame the result shows a tenth of the way in
    poster = frames(workdir / "poster.jpg")[0]
    at = math.ceil(round(thumbnails.POSITION * len(got), 6))  # where -ss lands
    nearest = min(range(at - 2, at + 3), key=lambda index: difference(poster, got[index]))
    assert nearest == at


def test_sound_that_starts_late_in_a_transport_stream_keeps_its_place(tmp_path, monkeypatch):
    # given an MPEG-TS whose sound starts 0.5 s after its picture (the file starts with
    # the picture)
    video = [*MPEG2, "-f", "mpegts"]
    source = make_source(tmp_path / "late.ts", video, "mp2", sound_from=0.5)
    assert first_sound(source) == pytest.approx(0.5, abs=0.003)
    workdir = tmp_path / "work"
    workdir.mkdir()

    # when it is cut smartly from 0.1 s, its sound re-encoded by the parts' run
    _, _, result = cut(source, workdir, monkeypatch, start=0.1)

    # then the first tone still comes 0.4 s after the first frame
    assert first_sound(result) == pytest.approx(0.4, abs=0.003)
