"""The pure argument builders of jobs/pipelines.py, read as FFmpeg will."""

from pathlib import Path

from videos.engine import pipelines
from videos.engine.pipelines import OutputPlan, PartSound

VORBIS_PLAN = OutputPlan(
    extension="webm",
    video_encoder="libvpx",
    pix_fmt="yuv420p",
    width=320,
    height=240,
    frame_rate="25/1",
    audio_encoder="libvorbis",
    sample_rate=48000,
    channels=2,
    high_quality=True,
)


def concat(**sound) -> list[str]:
    return pipelines.concat_args(
        list_file=Path("/job/parts.ffconcat"),
        demuxers={"matroska"},
        extension="webm",
        has_audio=True,
        output=Path("/job/out.webm"),
        **sound,
    )


def test_concat_copies_picture_and_sound_through_the_concat_demuxer():
    args = concat()

    assert args.count("-i") == 1
    assert args[args.index("-map") + 1 :: 2][:2] == ["0:v:0", "0:a:0"]
    assert args[args.index("-c") + 1] == "copy"
    assert "-filter_complex" not in args


def test_a_vorbis_concat_copies_the_picture_and_encodes_each_parts_sound_to_its_span():
    # given two parts the concat demuxer lays out for 4 s and 2.65 s
    sounds = [
        PartSound(path=Path("/job/part0.webm"), demuxer="matroska", duration=4.0),
        PartSound(path=Path("/job/part1.webm"), demuxer="matroska", duration=2.65),
    ]

    # when
    args = concat(sounds=sounds, sound_plan=VORBIS_PLAN)

    # then the list gives the picture, each part again gives its own sound
    inputs = [args[index + 1] for index, arg in enumerate(args) if arg == "-i"]
    assert inputs == ["/job/parts.ffconcat", "file:/job/part0.webm", "file:/job/part1.webm"]
    graph = args[args.index("-filter_complex") + 1]
    assert "[1:a:0]apad" in graph and "atrim=end=4.000000" in graph
    assert "[2:a:0]apad" in graph and "atrim=end=2.650000" in graph
    assert "concat=a=1:n=2:v=0" in graph
    maps = [args[index + 1] for index, arg in enumerate(args) if arg == "-map"]
    assert maps[0] == "0:v:0" and len(maps) == 2 and maps[1].startswith("[")
    # the picture copied, the sound encoded once as a Vorbis trim's is
    assert args[args.index("-c:v") + 1] == "copy" and "-c" not in args
    assert args[args.index("-c:a") + 1] == "libvorbis"
    assert args[args.index("-b:a") + 1] == "192k"
    assert args[args.index("-ar") + 1] == "48000"
