"""A video lasts what its packets span, not what its header claims: probe reads the first
packets and, past a seek to the last keyframe, the end of the file."""

import subprocess

import pytest

from conftest import ffprobe, make_media
from videos.engine import media
from videos.engine.media import MAX_DURATION, ProbeError, probe

from .lying import claim_duration, make_sparse

# extension, video encoder, audio encoder, picture size
HONEST = [
    ("mp4", "libx264", "aac", "320x240"),
    ("mov", "libx264", "aac", "320x240"),
    ("3gp", "h263", "aac", "176x144"),
    ("mkv", "libx264", "aac", "320x240"),
    ("webm", "libvpx-vp9", "libopus", "320x240"),
    ("avi", "mpeg4", "libmp3lame", "320x240"),
    ("mpeg", "mpeg2video", "mp2", "320x240"),
    ("flv", "flv", "libmp3lame", "320x240"),
    ("wmv", "wmv2", "wmav2", "320x240"),
]
CODECS = {case[0]: case[1:] for case in HONEST}


def clip(tmp_path, extension: str, **options):
    """A lavfi clip with the codecs typical of the container (2 s, 25 fps, unless told)."""
    video, audio, size = CODECS[extension]
    options = {"video": video, "audio": audio, "size": size, **options}
    return make_media(tmp_path / f"clip.{extension}", **options)


@pytest.fixture
def scans(monkeypatch) -> list:
    """Every packet read probe makes by an ffprobe run of its own (beyond the first and
    last packets its first run reads), as (read_intervals, what it found)."""
    done, scan = [], media._packet_times

    def spy(path, demuxer, lengths, deadline, read_intervals):
        found = scan(path, demuxer, lengths, deadline, read_intervals)
        done.append((read_intervals, found))
        return found

    monkeypatch.setattr(media, "_packet_times", spy)
    return done


@pytest.fixture
def packet_counts(monkeypatch) -> list:
    """How many packets each reading of packets went through."""
    done, times_of = [], media._times_of

    def spy(packets, lengths):
        found = times_of(packets, lengths)
        done.append(found.packets)
        return found

    monkeypatch.setattr(media, "_times_of", spy)
    return done


@pytest.fixture
def measured(monkeypatch) -> list:
    """The spans probe measures from packets, whether it keeps them or the header's."""
    done, measure = [], media._duration_from_packets

    def spy(path, timed, read):
        done.append(measure(path, timed, read))
        return done[-1]

    monkeypatch.setattr(media, "_duration_from_packets", spy)
    return done


@pytest.mark.parametrize("extension", CODECS)
def test_an_honest_file_keeps_its_duration(tmp_path, extension, measured):
    # given 2 s at 25 fps with sound, in each container
    path = clip(tmp_path, extension)
    claimed = float(ffprobe(path)["format"]["duration"])
    # when it is probed
    found = probe(path)
    # then its packets span what was made and what its header says, within a frame (40 ms)
    # and the audio encoder's delay of one packet (wmav2's: 46 ms)
    [span] = measured
    assert span == pytest.approx(2.0, abs=0.05)
    assert span == pytest.approx(claimed, abs=0.05)
    # and the header's duration, which knows where the sound ends, is kept
    assert found.duration == claimed


@pytest.mark.parametrize(
    "extension,claim",
    [("mkv", 10 * 3600), ("webm", 10 * 3600), ("mp4", 10 * 3600), ("mkv", 100 * 3600)],
    ids=["mkv-10h", "webm-10h", "mp4-10h", "mkv-100h"],
)
def test_a_header_claiming_hours_for_two_seconds_is_not_believed(tmp_path, extension, claim):
    # given 2 s whose header claims hours (even more than we accept)
    path = claim_duration(clip(tmp_path, extension), claim)
    assert float(ffprobe(path)["format"]["duration"]) == claim
    # when it is probed, then it lasts 2 s
    assert probe(path).duration == pytest.approx(2.0, abs=0.05)


@pytest.mark.parametrize("extension", ["mkv", "mp4"])
@pytest.mark.parametrize("claim", [None, 2], ids=["its-header-honest", "its-header-claiming-2s"])
def test_a_tiny_file_whose_packets_span_ten_hours_lasts_ten_hours(tmp_path, extension, claim):
    # given a few KB: a still frame a minute for ten hours, its header honest or claiming 2 s
    path = make_sparse(tmp_path / f"sparse.{extension}", seconds=10 * 3600)
    if claim:
        claim_duration(path, claim)
    assert path.stat().st_size < 64 * 1024
    # when it is probed, then it lasts ten hours
    assert probe(path).duration == pytest.approx(10 * 3600, abs=60)


def test_a_file_whose_seek_to_the_end_finds_nothing_is_read_whole(tmp_path, scans):
    # given H.264 in FLV (no keyframe index: a seek past the end lands after the last
    # packet), whose header claims ten hours for 5 s
    path = make_media(tmp_path / "clip.flv", duration=5)
    claim_duration(path, 10 * 3600)
    assert float(ffprobe(path)["format"]["duration"]) == 10 * 3600
    # when it is probed, then every packet is read, and it lasts 5 s
    assert probe(path).duration == pytest.approx(5.0, abs=0.1)
    assert [read_intervals for read_intervals, _ in scans] == [None]


def test_packets_spanning_more_than_the_limit_are_refused_whatever_the_header_claims(tmp_path):
    # given a frame every 2 minutes for 25 h, whose header claims 2 s
    path = claim_duration(make_sparse(tmp_path / "long.mkv", seconds=25 * 3600, every=120), 2)
    # when it is probed, then it is refused for what it really lasts
    with pytest.raises(ProbeError, match=f"lasts 90000 s, more than {MAX_DURATION} s"):
        probe(path)


def test_a_file_cut_short_lasts_what_it_holds(tmp_path):
    # given the first half of a 20 s file, whose header still says 20 s
    whole = clip(tmp_path, "mkv", duration=20)
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    assert float(ffprobe(cut)["format"]["duration"]) == pytest.approx(20, abs=0.1)
    # when it is probed, then it lasts about 10 s
    assert 8 < probe(cut).duration < 12


def test_a_copy_cut_with_a_long_pre_roll_keeps_its_duration(tmp_path, scans):
    # given 30 s copied from 9.9 s into a file with a keyframe every 10 s: an edit list
    # hides the 9.9 s of frames before it, which fill the file's first packets
    source = clip(tmp_path, "mp4", duration=40, extra=["-g", "250"])
    cut = tmp_path / "cut.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-ss", "9.9", "-i", source, "-t", "30", "-c", "copy", cut],
        check=True,
    )
    # when it is probed, then it lasts the 30 s shown, not the 40 s packed
    assert probe(cut).duration == pytest.approx(30.1, abs=0.05)
    # (where the hidden frames end, FFmpeg's start time says: no need to read every packet,
    # nor any but those the probe's one run read)
    assert scans == []


def test_a_long_file_is_measured_from_its_first_and_last_packets_only(
    tmp_path, scans, packet_counts
):
    # given two minutes with a keyframe every 2 s: 3000 pictures and 5168 sound packets
    path = clip(tmp_path, "mkv", size="160x120", duration=120, extra=["-g", "50"])
    # when it is probed
    assert probe(path).duration == pytest.approx(120, abs=0.05)
    # then a few hundred packets, read by the probe's one ffprobe run, measured it
    [packets] = packet_counts
    assert scans == [] and packets < 500


def test_every_packet_is_read_when_the_seek_to_the_end_fails(tmp_path, scans, monkeypatch):
    # given a file whose seek to its end fails, in the probe's run and in one of its own
    path = claim_duration(clip(tmp_path, "mkv", duration=5), 10 * 3600)
    run_probe, scan = media._run_probe, media._packet_times
    failed = subprocess.CompletedProcess([], 1, b"", b"")
    monkeypatch.setattr(
        media, "_run_probe", lambda args: failed if "-read_intervals" in args else run_probe(args)
    )
    monkeypatch.setattr(
        media, "_packet_times", lambda *args: None if args[-1] else scan(*args), raising=True
    )
    # when it is probed, then every packet is read, and it lasts 5 s
    assert probe(path).duration == pytest.approx(5.0, abs=0.05)
    assert [read_intervals for read_intervals, _ in scans] == [None]
