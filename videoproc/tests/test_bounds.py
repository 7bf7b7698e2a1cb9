"""Odd values that once answered 500: each is now a 4xx {"detail"} before any work."""

import pytest

from jobs.models import Job

pytestmark = pytest.mark.django_db

HUGE = "9" * 30  # beyond any 64-bit id
ENDLESS = "9" * 5000  # beyond what int() converts from text


def assert_refused(response, status_code: int = 400):
    assert response.status_code == status_code, response.content
    assert isinstance(response.json()["detail"], str)
    assert not Job.objects.exists()


@pytest.mark.parametrize(
    "path",
    [
        f"/video/view/all?skip={HUGE}",
        f"/video/view/all?skip={ENDLESS}",
        f"/video/view/all?limit={ENDLESS}",
        f"/video/process/jobs?skip={HUGE}",
        f"/video/view/info?video_id={HUGE}",
        f"/video/download?video_id={HUGE}",
        f"/page/concat-candidates?video_id={HUGE}",
    ],
)
def test_huge_numbers_in_a_query_are_400(api, path):
    assert_refused(api.get(path))


@pytest.mark.parametrize("job_id", [HUGE, ENDLESS])
@pytest.mark.parametrize("action", ["", "/cancel", "/retry"])
def test_a_job_id_beyond_any_row_is_404(api, action, job_id):
    method = api.get if not action else api.post
    assert_refused(method(f"/video/process/jobs/{job_id}{action}"), 404)


@pytest.mark.parametrize(
    "body",
    [
        {"video_id": 10**30, "trim_start": "0", "trim_end": "1"},
        {"video_id": 1, "trim_start": ENDLESS, "trim_end": "1"},
        {"video_id": 1, "trim_start": "0", "trim_end": f"{ENDLESS}:00:00"},
        {"video_id": 1, "trim_start": "0", "trim_end": f"{HUGE}s"},
        {"video_id": 1, "trim_start": "0", "trim_end": 10**300},
    ],
)
def test_huge_numbers_in_a_trim_are_400(api, body):
    assert_refused(api.post("/video/process/trim", {"request_code": "x", **body}, format="json"))


@pytest.mark.parametrize(
    "body",
    [
        {"resolution": f"{ENDLESS}:2"},
        {"resolution": "640:480", "video_codec": "x" * 10_000},
        {"resolution": "640:480", "frame_rate": ENDLESS},
        {"video_ids": [1, 10**30]},
    ],
)
def test_huge_values_in_an_encode_or_concat_are_400(api, body):
    path = "concat" if "video_ids" in body else "encoding"
    payload = {"request_code": "x", "video_id": 1, **body}
    assert_refused(api.post(f"/video/process/{path}", payload, format="json"))


@pytest.mark.parametrize(
    "raw",
    [
        "[" * 100_000 + "]" * 100_000,  # deeper than Python's recursion limit
        '{"request_code": ' + "[" * 100 + "]" * 100 + "}",  # parses, but too deep
        '{"request_code": "x", "video_id": 1, "frame_rate": 1' + "0" * 400 + "}",
        '{"request_code": "x", "video_id": 1, "frame_rate": 1e400}',
        '{"request_code": "x", "video_id": 1, "frame_rate": NaN}',
        '{"request_code": "x", "video_id": 1' + "0" * 30 + "}",
    ],
)
def test_hostile_json_bodies_are_400(api, raw):
    assert_refused(api.generic("POST", "/video/process/encoding", raw, "application/json"))


@pytest.mark.django_db(transaction=True)
def test_a_trim_between_two_frames_is_refused_at_queue_time(api, uploaded):
    # given a 25 fps clip, whose frames are 40 ms apart
    trim = {"request_code": "x", "video_id": uploaded["id"], "trim_start": "10"}
    # when a trim holds no frame, then it is a 400 (it was a failed job, and a 500)
    assert_refused(api.post("/video/process/trim", {**trim, "trim_end": "11"}, format="json"))
    # and one frame long, it runs
    queued = api.post("/video/process/trim", {**trim, "trim_end": "50"}, format="json")
    assert queued.status_code == 200
    executed = api.post("/video/process/execute", {"request_code": "x"}, format="json")
    assert executed.status_code == 200


def test_an_edit_segment_between_two_frames_is_refused_at_queue_time(api, uploaded):
    segments = [
        {"video_id": uploaded["id"], "start": "0", "end": "500"},
        {"video_id": uploaded["id"], "start": "10", "end": "11"},
    ]
    response = api.post(
        "/video/process/edit", {"request_code": "x", "segments": segments}, format="json"
    )
    assert_refused(response)
    assert "Segment 2" in response.json()["detail"]
