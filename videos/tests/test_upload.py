"""PUT/POST /video/upload: all or nothing, probed, named safely; every refusal a 415."""

import os
import threading
from pathlib import Path

import pytest
from django.conf import settings

from conftest import make_media, upload
from videos.engine.media import ProbeError, probe
from videos.models import Video

pytestmark = pytest.mark.django_db

RECORD_KEYS = {
    "id",
    "original_file_path",
    "processed_file_path",
    "trim_info",
    "concat_info",
    "encode_info",
}


def stored_files(media_root: Path) -> list[Path]:
    return (
        sorted(p for p in (media_root / "origin").glob("*"))
        if (media_root / "origin").exists()
        else []
    )


def assert_nothing_stored(media_root: Path):
    assert Video.objects.count() == 0
    assert stored_files(media_root) == []
    assert list(settings.SCRATCH_DIR.iterdir()) == []


def test_put_two_files_stores_both_with_probed_metadata(api, clip, tmp_path, media_root):
    # given two real videos
    other = make_media(tmp_path / "other.mkv", video="libx265", size="640x360", rate="30")

    # when they are uploaded in one request
    response = upload(api, clip, other)

    # then both are stored, in upload order, as the contract's records
    assert response.status_code == 200
    records = response.json()
    assert [set(record) for record in records] == [RECORD_KEYS, RECORD_KEYS]
    assert records[0]["original_file_path"].startswith("./storage/origin/clip_")
    assert records[1]["original_file_path"].endswith(".mkv")
    assert all(r["processed_file_path"] is None and r["trim_info"] is None for r in records)
    for record in records:
        assert (media_root / record["original_file_path"][len("./storage/") :]).is_file()
    second = Video.objects.get(pk=records[1]["id"])
    assert (second.video_codec, second.width, second.height, second.fps) == ("hevc", 640, 360, 30)
    assert second.audio_codec == "aac" and second.audio_sample_rate == 44100
    assert second.duration == pytest.approx(2.0, abs=0.1)
    assert second.size == other.stat().st_size


def test_post_is_accepted_too(api, clip):
    response = upload(api, clip, method="post")
    assert response.status_code == 200
    assert len(response.json()) == 1


def test_same_name_twice_gets_two_paths(api, clip):
    first, second = upload(api, clip, clip).json()
    assert first["original_file_path"] != second["original_file_path"]


def test_file_name_is_made_safe(api, clip, tmp_path, media_root):
    odd = tmp_path / "my holiday; rm -rf ~ (final).MP4"
    odd.write_bytes(clip.read_bytes())
    record = upload(api, odd).json()[0]
    name = record["original_file_path"].rsplit("/", 1)[1]
    assert name.startswith("my_holiday_rm_-rf_final_") and name.endswith(".mp4")
    assert (media_root / "origin" / name).is_file()


def test_no_files_is_400(api, media_root):
    response = api.put("/video/upload", {}, format="multipart")
    assert response.status_code == 400
    assert "files" in response.json()["detail"]
    assert_nothing_stored(media_root)


def _refused(api, media_root, *paths: Path) -> str:
    response = upload(api, *paths)
    assert response.status_code == 415, response.json()
    assert_nothing_stored(media_root)
    return response.json()["detail"]


def test_wrong_extension_is_415(api, clip, tmp_path, media_root):
    renamed = tmp_path / "clip.txt"
    renamed.write_bytes(clip.read_bytes())
    assert "clip.txt" in _refused(api, media_root, renamed)


def test_text_renamed_mp4_is_415(api, tmp_path, media_root):
    text = tmp_path / "notes.mp4"
    text.write_text("just some notes, not a video\n" * 50)
    assert "notes.mp4" in _refused(api, media_root, text)


def test_a_refusal_names_the_uploaded_file_not_its_scratch_copy(api, tmp_path, media_root):
    # given a text file sent as clip.mp4 (Django keeps it as tmp<random>.upload.mp4)
    text = tmp_path / "clip.mp4"
    text.write_text("just some notes, not a video\n" * 50)
    # when it is refused
    detail = _refused(api, media_root, text)
    # then the detail names the file its user sent, and no file of ours
    assert "clip.mp4" in detail
    assert "tmp" not in detail and ".upload." not in detail


def test_empty_file_is_415(api, tmp_path, media_root):
    empty = tmp_path / "empty.mp4"
    empty.touch()
    detail = _refused(api, media_root, empty)
    assert "empty.mp4" in detail and "empty" in detail


def test_audio_only_is_415(api, tmp_path, media_root):
    audio = tmp_path / "song.mp4"
    make_media(audio, video=None)
    detail = _refused(api, media_root, audio)
    assert "song.mp4" in detail and "no video stream" in detail


def test_content_of_another_container_is_415(api, clip, tmp_path, media_root):
    # an mp4 named .avi is not an avi
    fake_avi = tmp_path / "clip.avi"
    fake_avi.write_bytes(clip.read_bytes())
    assert "clip.avi" in _refused(api, media_root, fake_avi)


def test_mix_of_good_and_bad_stores_nothing(api, clip, tmp_path, media_root):
    bad = tmp_path / "bad.mov"
    bad.write_bytes(b"\x00" * 4096)
    detail = _refused(api, media_root, clip, bad)
    assert "bad.mov" in detail


def test_hls_playlist_named_avi_is_refused_without_reading_what_it_names(api, tmp_path, media_root):
    # given a playlist, named .avi, whose segment is a FIFO: opening it would unblock
    # a writer waiting on the other end, so we learn whether FFmpeg ever followed it
    segment = tmp_path / "segment.ts"
    os.mkfifo(segment)
    followed = threading.Event()

    def wait_for_a_reader():
        with open(segment, "wb"):
            followed.set()

    writer = threading.Thread(target=wait_for_a_reader, daemon=True)
    writer.start()
    playlist = tmp_path / "movie.avi"
    playlist.write_text(
        "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n"
        f"file://{segment}\n#EXTINF:10,\n{segment}\n#EXT-X-ENDLIST\n"
    )

    # when it is uploaded
    detail = _refused(api, media_root, playlist)

    # then it is refused, and FFmpeg never opened the segment
    assert "movie.avi" in detail
    assert not followed.is_set()
    with open(segment, "rb"):  # release the writer
        pass
    writer.join(timeout=5)


@pytest.mark.parametrize(
    "name,content",
    [
        ("list.mp4", b"ffconcat version 1.0\nfile '/etc/hostname'\n"),
        ("still.mkv", bytes.fromhex("89504e470d0a1a0a0000000d49484452")),  # a PNG header
        ("sub.webm", b"WEBVTT\n\n00:00.000 --> 00:01.000\nhello\n"),
    ],
)
def test_indirections_and_non_containers_are_415(api, tmp_path, media_root, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    assert name in _refused(api, media_root, path)


def test_probe_refuses_a_playlist_even_when_called_directly(tmp_path):
    playlist = tmp_path / "list.mp4"
    playlist.write_text("#EXTM3U\n#EXTINF:1,\nother.ts\n#EXT-X-ENDLIST\n")
    with pytest.raises(ProbeError):
        probe(playlist)


def test_probe_limits_are_enforced(api, clip, monkeypatch, media_root):
    monkeypatch.setattr("videos.engine.media.MAX_DURATION", 1)
    assert "more than 1 s" in _refused(api, media_root, clip)
    monkeypatch.setattr("videos.engine.media.MAX_DURATION", 3600)
    monkeypatch.setattr("videos.engine.media.MAX_DIMENSION", 200)
    assert "320x240" in _refused(api, media_root, clip)


def test_oversized_request_is_413(api, clip, settings, media_root):
    settings.MAX_UPLOAD_SIZE = 1000
    response = upload(api, clip)
    assert response.status_code == 413
    assert "limit" in response.json()["detail"]
    assert_nothing_stored(media_root)
