"""Smart cut, the copy byte for byte: the copied packets of a result are the source's,
hashed raw (no normalisation), under the source's own codec configuration record; the
re-encoded head and tail bring their parameter sets in-band, under ids of their own, and
a strict decoder finds nothing wrong, played through or sought into."""

import hashlib
import subprocess
from pathlib import Path

import av
import pytest

from conftest import ffprobe, upload
from jobs.models import Job

from .test_execute import difference, execute, frame_count, gray_frame, output_path
from .test_smartcut import (
    CUT,
    GOP,
    PAIRS,
    RATE,
    X264,
    X265,
    make_source,
    source_frame_times,
    strict_decode_errors,
    trim,
)

# (name, extension, video options, audio encoder, the result's MP4 sample entry)
CASES = [
    ("h264-mp4", "mp4", X264, "aac", "avc3"),
    ("h264-mov", "mov", X264, "aac", "avc3"),
    ("h264-mkv", "mkv", X264, "aac", None),
    ("h264-3gp", "3gp", X264, "aac", "avc1"),
    ("h264-flv", "flv", X264, "aac", None),
    (
        "h264-b-pyramid-mp4",
        "mp4",
        [*X264, "-x264-params", "bframes=3:b-pyramid=normal"],
        "aac",
        "avc3",
    ),
    ("hevc-mp4", "mp4", [*X265, "-tag:v", "hvc1"], "aac", "hev1"),
    ("hevc-mov", "mov", [*X265, "-tag:v", "hvc1"], "aac", "hev1"),
    ("hevc-mkv", "mkv", X265, "aac", None),
    *(pair[:4] + (None,) for pair in PAIRS if pair[0].split("-")[0] not in ("h264", "hevc")),
]
PARAMETER_SETS = {"h264", "hevc"}


def raw_packets(path: Path) -> tuple[list[tuple[float | None, bool, str]], bytes]:
    """(show time from the first picture, or None where the container does not say;
    keyframe; md5 of the packet's bytes as stored) of each video packet in decode order,
    and the stream's codec configuration record."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        found = [
            (
                None if stamp is None else float(stamp * video.time_base),
                packet.is_keyframe,
                hashlib.md5(bytes(packet)).hexdigest(),
            )
            for packet in container.demux(video)
            if packet.size
            # an AVI stamps decode times alone (without B-frames, the show times)
            for stamp in [packet.pts if packet.pts is not None else packet.dts]
        ]
        record = bytes(video.codec_context.extradata or b"")
    first = min(time for time, _, _ in found if time is not None)
    return [(None if t is None else t - first, key, digest) for t, key, digest in found], record


def copied_span(packets: list[tuple[float | None, bool, str]], first: int, stop: int):
    """The digests of the packets a copy of the GOPs from keyframe `first` to keyframe
    `stop` (by count) holds, in decode order: an open GOP's leading pictures, shown
    before their keyframe, are left out at both ends (they are re-encoded)."""
    keys = [index for index, (_, key, _) in enumerate(packets) if key]
    start = packets[keys[first]][0]
    return [
        digest
        for shown, _, digest in packets[keys[first] : keys[stop]]
        if shown is None or shown >= start - 0.005
    ]


def sought_decode_errors(path: Path, seconds: float) -> str:
    """What a strict decoder says when it starts from a seek to `seconds`."""
    return subprocess.run(
        ["ffmpeg", "-v", "error", "-xerror", "-ss", str(seconds), "-i", str(path)]
        + ["-f", "null", "-"],
        capture_output=True,
        text=True,
    ).stderr


def hvcc_arrays(record: bytes) -> list[tuple[bool, int]]:
    """An hvcC's NAL unit arrays: (array_completeness, where its header byte is)."""
    arrays, position = [], 23
    for _ in range(record[22]):
        arrays.append((bool(record[position] & 0x80), position))
        count = int.from_bytes(record[position + 1 : position + 3], "big")
        position += 3
        for _ in range(count):
            position += 2 + int.from_bytes(record[position : position + 2], "big")
    return arrays


def with_complete_arrays(record: bytes, flags: list[tuple[bool, int]]) -> bytes:
    """The record with its arrays' completeness flags set as `flags` (another's) says."""
    changed = bytearray(record)
    for (complete, _), (_, position) in zip(flags, hvcc_arrays(record), strict=True):
        changed[position] = changed[position] & 0x7F | (0x80 if complete else 0)
    return bytes(changed)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("name", [case[0] for case in CASES])
def test_copied_packets_are_the_sources_byte_for_byte(api, tmp_path, media_root, name):
    # given a source with a keyframe every 0.4 s
    _, extension, video_options, audio, sample_entry = next(c for c in CASES if c[0] == name)
    source = make_source(tmp_path / f"{name}.{extension}", video_options, audio)
    video = upload(api, source).json()[0]

    # when 0.55 s .. 3.3 s is trimmed smartly (both cut points inside a GOP)
    job_id = trim(api, video["id"], *CUT)
    assert execute(api).status_code == 200
    job = Job.objects.get(pk=job_id)
    assert job.status == "succeeded", job.error
    assert job.outcome["trim_method"] == "smart", job.outcome
    result = output_path(job_id, media_root)

    # then the packets of the whole GOPs between the cuts (0.8 s .. 3.2 s) are the
    # source's, byte for byte, in the same order and one after another
    ours, our_record = raw_packets(result)
    theirs, their_record = raw_packets(source)
    copied = copied_span(theirs, round(0.8 * RATE / GOP), round(3.2 * RATE / GOP))
    assert len(copied) >= round(2.4 * RATE) - 2  # MPEG-2's open GOPs: 2 leading pictures
    digests = [digest for _, _, digest in ours]
    start = digests.index(copied[0])
    assert digests[start : start + len(copied)] == copied
    # and the result keeps the source's configuration record, byte for byte (an hev1
    # record says its parameter-set arrays are not complete: more sets come in-band)
    if sample_entry == "hev1":
        assert not any(flag for flag, _ in hvcc_arrays(our_record))
        assert with_complete_arrays(our_record, hvcc_arrays(their_record)) == their_record
    else:
        assert our_record == their_record
    # the sample entry says the re-encoded parts carry their parameter sets in-band
    if sample_entry:
        assert ffprobe(result)["streams"][0]["codec_tag_string"] == sample_entry
    # exactly the frames asked for, the first and last the source's
    times = source_frame_times(source)
    kept = [index for index, time in enumerate(times) if 0.55 <= time < 3.3]
    assert frame_count(result) == len(kept)
    for at, index in ((0, kept[0]), (len(kept) - 1, kept[-1])):
        assert difference(gray_frame(result, at), gray_frame(source, index)) < 3
    # and a strict decoder finds nothing wrong, played through or sought into the
    # copy, the tail or back
    assert strict_decode_errors(result) == ""
    if name.split("-")[0] not in PARAMETER_SETS:
        return
    for seconds in (0.5, 1.0, 2.6):
        assert sought_decode_errors(result, seconds) == ""
    # and a decoder that has played the tail and seeks back into the copy (keeping the
    # parameter sets it has seen) shows the copy's pictures as played through
    assert sought_back_pictures_match(result)


def sought_back_pictures_match(path: Path) -> bool:
    """Decode the whole file, then seek back to 1 s (inside the copy) and decode again
    with the same decoder: the pictures must be those of the first pass."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        first_pass = {frame.pts: bytes(frame.planes[0]) for frame in container.decode(video)}
        container.seek(round(1.0 / video.time_base), stream=video, backward=True)
        again = [
            (frame.pts, bytes(frame.planes[0]))
            for _, frame in zip(range(20), container.decode(video), strict=False)
        ]
    return bool(again) and all(first_pass.get(pts) == picture for pts, picture in again)


def video_bytes(path: Path, start: float = 0, end: float = float("inf")) -> int:
    """The bytes of the video packets shown from `start` to before `end`."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        return sum(
            packet.size
            for packet in container.demux(video)
            if packet.size and start - 1e-6 <= float(packet.pts * video.time_base) < end - 1e-6
        )


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("name", "video_options"),
    [("gops", X264), ("one-keyframe", ["-c:v", "libx264", "-g", "1000", "-bf", "2"])],
)
def test_a_smart_trim_weighs_about_what_its_span_did(
    api, tmp_path, media_root, name, video_options
):
    # given a source with a keyframe every 0.4 s, and one with a single keyframe (whose
    # trim falls back to a full re-encode)
    source = make_source(tmp_path / f"{name}.mp4", video_options, "aac")
    video = upload(api, source).json()[0]

    # when 0.55 s .. 3.3 s is trimmed smartly
    job_id = trim(api, video["id"], *CUT)
    assert execute(api).status_code == 200
    job = Job.objects.get(pk=job_id)
    assert job.status == "succeeded", job.error

    # then its picture weighs at most 1.15x the source's for the same frames: the
    # re-encoded frames aim at the source's bitrate, not at a quality above it
    method = {"gops": "smart", "one-keyframe": "reencode"}[name]
    assert job.outcome["trim_method"] == method, job.outcome
    result = output_path(job_id, media_root)
    start = float(ffprobe(source)["format"].get("start_time", 0))
    assert video_bytes(result) <= 1.15 * video_bytes(source, start + 0.55, start + 3.3)
