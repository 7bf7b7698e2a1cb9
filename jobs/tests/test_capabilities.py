import os
import stat
import tempfile

import pytest

from conftest import make_media, upload
from jobs.models import Job
from jobs.tests.test_execute import execute, queue
from videos.engine import capabilities, pipelines
from videos.engine.capabilities import (
    Trial,
    parse_encoder_caps,
    parse_encoders,
    trial_args,
    trial_for,
)
from videos.engine.media import FFmpegInterrupted

LISTING = """Encoders:
 V..... = Video
 ------
 V....D libx264              libx264 H.264 / AVC / MPEG-4 AVC / MPEG-4 part 10 (codec h264)
 V....D h264_vaapi           H.264/AVC (VAAPI) (codec h264)
 A..X.D opus                 Opus (codec opus)
 A....D aac                  AAC (Advanced Audio Coding)
 S..... srt                  SubRip subtitle (codec subrip)
"""

H264_MP4 = {"c:v": "libx264", "pix_fmt": "yuv420p", "f": "mp4"}


@pytest.fixture(autouse=True)
def fresh_trials():
    capabilities.trial_mux.cache_clear()
    yield
    capabilities.trial_mux.cache_clear()


def _output(**overrides) -> dict:
    output = dict(
        options=H264_MP4,
        video_encoder="libx264",
        width=1920,
        height=1080,
        frame_rate="30",
        audio=False,
        sample_rate=None,
        channels=None,
    )
    return {**output, **overrides}


def _trial(**overrides) -> Trial:
    return trial_for(**_output(**overrides))


def test_parse_encoders_reads_kind_codec_and_experimental_flag():
    found = parse_encoders(LISTING)
    assert set(found) == {"libx264", "h264_vaapi", "opus", "aac"}
    assert found["libx264"].codec == "h264" and found["libx264"].kind == "video"
    assert found["opus"].experimental and found["opus"].kind == "audio"
    assert found["aac"].codec == "aac"  # no "(codec ...)": the encoder's own name
    assert not capabilities.dependable(found["h264_vaapi"])
    assert not capabilities.dependable(found["opus"])


def test_parse_encoder_caps_lists_formats_rates_and_frame_rates():
    caps = parse_encoder_caps(
        "Encoder mpeg2video [MPEG-2 video]:\n"
        "    Supported framerates: 24000/1001 24 25\n"
        "    Supported pixel formats: yuv420p yuv422p\n"
    )
    assert caps.pix_fmts == ("yuv420p", "yuv422p")
    assert caps.frame_rates == ("24000/1001", "24", "25")
    assert caps.sample_rates == ()
    assert parse_encoder_caps("Supported sample rates: 44100 48000").sample_rates == (44100, 48000)


def test_one_trial_answers_for_every_size_and_frame_rate_alike():
    assert _trial() == _trial(width=640, height=360, frame_rate="30000/1001")
    assert _trial() == _trial(width=1280, height=1080, frame_rate="24")
    small = _trial()
    assert (small.width, small.height, small.frame_rate) == (64, 72, "25")


def test_a_trial_keeps_what_decides_the_answer():
    assert _trial(width=1921) != _trial()  # odd sides: 4:2:0 refuses them
    assert (_trial(width=7680, height=4320).width, _trial(height=4320).height) == (7680, 4320)
    assert _trial(frame_rate="240000/1001").frame_rate == "240000/1001"  # beyond 16 bits
    assert _trial(options={**H264_MP4, "f": "matroska"}) != _trial()
    assert _trial(audio=True, sample_rate=44100, channels=1) != _trial(audio=True)


def test_a_trial_keeps_the_frame_rate_of_an_encoder_that_lists_its_rates():
    mpeg2 = {"c:v": "mpeg2video", "f": "mpeg"}
    assert _trial(options=mpeg2, video_encoder="mpeg2video", frame_rate="7").frame_rate == "7"


def test_trial_args_write_two_small_frames_of_the_options_into_the_output(tmp_path):
    args = trial_args(_trial(audio=True), tmp_path / "trial")
    assert args[args.index("-frames:v") + 1] == "2"
    assert "color=c=gray:s=64x72:r=25" in args
    assert "anullsrc=r=48000:cl=stereo" in args
    assert args[args.index("-c:v") + 1] == "libx264" and str(tmp_path / "trial") in args


def test_trial_mux_writes_in_scratch(settings, monkeypatch):
    used, temporary_directory = [], tempfile.TemporaryDirectory

    def recording_temporary_directory(**options):
        directory = temporary_directory(**options)
        used.append(directory.name)
        return directory

    monkeypatch.setattr(capabilities.tempfile, "TemporaryDirectory", recording_temporary_directory)
    assert capabilities.trial_mux(_trial()) is None
    assert used and all(os.path.dirname(name) == str(settings.SCRATCH_DIR) for name in used)


def test_a_refusal_is_remembered_and_names_the_reason():
    # given H.263, which takes only five sizes
    h263 = _output(options={"c:v": "h263", "f": "avi"}, video_encoder="h263", width=320, height=240)
    # when asked twice for a size it refuses
    first, second = capabilities.mux_refusal(**h263), capabilities.mux_refusal(**h263)
    # then the reason is FFmpeg's, and the second answer came from the cache
    assert "width or height" in first and second == first
    assert capabilities.trial_mux.cache_info().hits >= 2


def test_a_size_refused_on_the_small_frame_is_asked_again_at_its_own_size():
    h263 = _output(options={"c:v": "h263", "f": "avi"}, video_encoder="h263", width=352, height=288)
    assert capabilities.mux_refusal(**h263) is None


def test_a_crash_is_never_remembered_as_cannot(settings, tmp_path):
    # given an FFmpeg that crashes
    crashing = tmp_path / "ffmpeg"
    crashing.write_text("#!/bin/sh\nkill -SEGV $$\n")
    crashing.chmod(crashing.stat().st_mode | stat.S_IEXEC)
    real = settings.FFMPEG_BINARY
    settings.FFMPEG_BINARY = str(crashing)
    # when a trial runs, it raises instead of answering
    with pytest.raises(FFmpegInterrupted, match="Segmentation fault"):
        capabilities.trial_mux(_trial())
    # then once FFmpeg works again, the same trial succeeds
    settings.FFMPEG_BINARY = real
    assert capabilities.trial_mux(_trial()) is None


def test_a_timeout_is_never_remembered_as_cannot(monkeypatch):
    monkeypatch.setattr(capabilities, "TRIAL_TIMEOUT", 0.01)
    with pytest.raises(FFmpegInterrupted, match="stopped after"):
        capabilities.trial_mux(_trial())
    monkeypatch.undo()
    assert capabilities.trial_mux(_trial()) is None


@pytest.mark.django_db
def test_an_encode_at_a_new_frame_rate_and_size_reuses_the_trial(uploaded):
    from videos.models import Video

    video = Video.objects.get(pk=uploaded["id"])
    params = {"video_codec": "libx264", "audio_codec": "aac", "container": "mp4"}
    pipelines.encode_plan(
        video=video, params={**params, "resolution": "1280:720", "frame_rate": 30}
    )
    before = capabilities.trial_mux.cache_info().misses
    plan = pipelines.encode_plan(
        video=video, params={**params, "resolution": "640:480", "frame_rate": 29.97}
    )
    assert capabilities.trial_mux.cache_info().misses == before
    assert (plan.width, plan.height, plan.frame_rate) == (640, 480, "2997/100")


def _forget_in_this_process():
    """What a new process starts with: nothing remembered in memory."""
    for remembered in (capabilities.encoders, capabilities.encoder_caps, capabilities.trial_mux):
        remembered.cache_clear()


def _ask_nothing_of_ffmpeg(monkeypatch):
    monkeypatch.setattr(capabilities, "run_ffmpeg", lambda *_, **__: pytest.fail("a trial ran"))
    monkeypatch.setattr(capabilities, "_ask_ffmpeg", lambda *_: pytest.fail("FFmpeg was asked"))


def test_answers_outlive_the_process_that_asked(monkeypatch):
    # given a trial FFmpeg passed and one it refused, asked by a process since gone
    _forget_in_this_process()
    h263 = _output(options={"c:v": "h263", "f": "avi"}, video_encoder="h263", width=320, height=240)
    assert capabilities.trial_mux(_trial()) is None
    refusal = capabilities.mux_refusal(**h263)
    _forget_in_this_process()
    # when they are asked again, FFmpeg not asked
    _ask_nothing_of_ffmpeg(monkeypatch)
    # then the answers are the same: kept on disk for this FFmpeg
    assert capabilities.trial_mux(_trial()) is None
    assert capabilities.mux_refusal(**h263) == refusal


@pytest.mark.django_db(transaction=True)
def test_a_smart_trim_after_a_restart_asks_ffmpeg_nothing_before_it_cuts(
    api, tmp_path, monkeypatch
):
    # given a trim of a clip made by a process since gone, the first to ask FFmpeg
    _forget_in_this_process()
    source = make_media(tmp_path / "clip.mp4", duration=3, extra=["-g", "10"])
    video = upload(api, source).json()[0]
    queue(api, "trim", video_id=video["id"], trim_start="500", trim_end="2500")
    execute(api)
    _forget_in_this_process()
    # when another trim of the same kind is queued and run, FFmpeg asked nothing
    _ask_nothing_of_ffmpeg(monkeypatch)
    job_id = queue(api, "trim", video_id=video["id"], trim_start="700", trim_end="2300")
    execute(api)
    # then it is cut smartly all the same
    job = Job.objects.get(pk=job_id)
    assert (job.status, job.outcome["trim_method"]) == ("succeeded", "smart"), job.error
