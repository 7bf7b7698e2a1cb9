"""The pure argument builders of videos/engine/pipelines.py, judged by what FFmpeg makes
of them: the joined file's packets and durations, not the strings of the command."""

import hashlib
import subprocess
from pathlib import Path

import av
import pytest

from videos.engine import pipelines
from videos.engine.pipelines import OutputPlan, PartSound

VORBIS_PLAN = OutputPlan(
    extension="webm",
    video_encoder="libvpx",
    pix_fmt="yuv420p",
    width=160,
    height=90,
    frame_rate="25/1",
    audio_encoder="libvorbis",
    sample_rate=48000,
    channels=2,
    high_quality=True,
)
# (seconds of picture, seconds of sound): the second part's sound ends early
SPANS = [(4.0, 4.0), (2.64, 2.0)]


@pytest.fixture(scope="module")
def parts(tmp_path_factory) -> list[Path]:
    """Two 160x90 VP8 + Vorbis parts, each picture changing every frame."""
    folder = tmp_path_factory.mktemp("parts")
    made = []
    for index, (picture, sound) in enumerate(SPANS):
        path = folder / f"part{index}.webm"
        subprocess.run(
            ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y"]
            + ["-f", "lavfi", "-i", f"testsrc2=size=160x90:rate=25:duration={picture}"]
            + ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={sound}"]
            + ["-c:v", "libvpx", "-b:v", "200k", "-c:a", "libvorbis", "-ac", "2", str(path)],
            check=True,
        )
        made.append(path)
    (folder / "parts.ffconcat").write_text(pipelines.concat_list([p.name for p in made]))
    return made


def join(parts: list[Path], output: Path, **sound) -> None:
    args = pipelines.concat_args(
        list_file=parts[0].parent / "parts.ffconcat",
        demuxers={"matroska"},
        extension="webm",
        has_audio=True,
        output=output,
        **sound,
    )
    subprocess.run(args, check=True, capture_output=True)


def packets(path: Path, kind: str) -> list[str]:
    with av.open(str(path)) as container:
        stream = getattr(container.streams, kind)[0]
        return [
            hashlib.sha256(bytes(packet)).hexdigest()
            for packet in container.demux(stream)
            if packet.size
        ]


def sound_seconds(path: Path) -> float:
    with av.open(str(path)) as container:
        return sum(frame.samples for frame in container.decode(audio=0)) / 48000


def test_concat_copies_picture_and_sound_through_the_concat_demuxer(parts, tmp_path):
    output = tmp_path / "joined.webm"

    join(parts, output)

    assert packets(output, "video") == packets(parts[0], "video") + packets(parts[1], "video")
    assert packets(output, "audio") == packets(parts[0], "audio") + packets(parts[1], "audio")


def test_a_vorbis_concat_copies_the_picture_and_encodes_each_parts_sound_to_its_span(
    parts, tmp_path
):
    # given two parts the concat demuxer lays out for 4 s and 2.64 s, the second's sound
    # 0.64 s short of its picture
    sounds = [
        PartSound(path=path, demuxer="matroska", duration=picture)
        for path, (picture, _) in zip(parts, SPANS, strict=True)
    ]
    output = tmp_path / "joined.webm"

    # when
    join(parts, output, sounds=sounds, sound_plan=VORBIS_PLAN)

    # then the picture is copied packet for packet, and the sound, encoded once as Vorbis
    # at 48 kHz, is padded to the pictures' whole span, so every seam stays in sync
    assert packets(output, "video") == packets(parts[0], "video") + packets(parts[1], "video")
    with av.open(str(output)) as container:
        sound = container.streams.audio[0]
        assert (sound.codec_context.name, sound.rate) == ("vorbis", 48000)
    assert sound_seconds(output) == pytest.approx(4.0 + 2.64, abs=0.03)
