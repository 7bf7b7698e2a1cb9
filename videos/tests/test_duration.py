"""An upload is stored with the duration its packets span, whatever its header claims, and
refused when that is more than we accept."""

import pytest

from conftest import make_media, upload
from videos.engine.tests.lying import claim_duration, make_sparse
from videos.models import Video

pytestmark = pytest.mark.django_db


def test_an_upload_whose_header_claims_ten_hours_for_two_seconds_is_stored_as_two(api, tmp_path):
    liar = claim_duration(make_media(tmp_path / "liar.mkv"), 10 * 3600)
    response = upload(api, liar)
    assert response.status_code == 200, response.json()
    assert Video.objects.get().duration == pytest.approx(2.0, abs=0.05)


def test_a_tiny_upload_whose_packets_span_ten_hours_is_stored_as_ten_hours(api, tmp_path):
    # given a few KB that really last ten hours, though the header claims 2 s
    sparse = claim_duration(make_sparse(tmp_path / "sparse.mkv", seconds=10 * 3600), 2)
    assert sparse.stat().st_size < 64 * 1024
    # when it is uploaded, then it is stored as lasting ten hours
    response = upload(api, sparse)
    assert response.status_code == 200, response.json()
    video = Video.objects.get()
    assert video.duration == pytest.approx(10 * 3600, abs=60)
    assert api.get(f"/video/view/info?video_id={video.pk}").json()["duration"] == pytest.approx(
        10 * 3600, abs=60
    )


def test_an_upload_whose_packets_span_more_than_24_h_is_refused(api, tmp_path):
    sparse = claim_duration(make_sparse(tmp_path / "sparse.mkv", seconds=25 * 3600, every=120), 2)
    response = upload(api, sparse)
    assert response.status_code == 415
    assert "sparse.mkv" in response.json()["detail"]
    assert "lasts 90000 s, more than 86400 s" in response.json()["detail"]
    assert not Video.objects.exists()


def test_the_work_budget_counts_what_the_packets_span(api, tmp_path, settings):
    # given ten hours of a frame a minute (600 frames of 320x240: 46 M pixels), whose header
    # claims 2 s (0.03 frames: 2560 pixels), and a budget of 1 M pixels
    settings.MAX_WORK_PIXELS = 10**6
    sparse = claim_duration(make_sparse(tmp_path / "sparse.mkv", seconds=10 * 3600), 2)
    # when it is uploaded, then it is refused for its ten hours
    response = upload(api, sparse)
    assert response.status_code == 415
    assert "for 36000 s" in response.json()["detail"]
    assert "MAX_WORK_PIXELS" in response.json()["detail"]
