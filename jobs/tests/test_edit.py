"""Edit jobs: segments of several videos as one, frame-exact at every seam, the sound in
step with the picture, unlike sources only when normalised."""

import subprocess
from fractions import Fraction
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.urls import reverse

from conftest import ffprobe, make_media, upload
from jobs.models import Job
from jobs.tests.test_execute import difference, execute, frame_count, gray_frame, output_path
from jobs.tests.test_normalize import decode_errors, loudest_db, stored_path

pytestmark = pytest.mark.django_db(transaction=True)


def edit(api, segments, code="x", **body):
    return api.post(
        "/video/process/edit",
        {"request_code": code, "segments": segments, **body},
        format="json",
    )


def negated_silent_clip(path: Path, duration: float = 4) -> Path:
    """Like make_media's clip (same codecs, size, rate), but another picture and no sound
    to speak of: a silent AAC track."""
    subprocess.run(
        [
            "ffmpeg",
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=s=320x240:r=25:d={duration},negate",
            "-f",
            "lavfi",
            "-i",
            f"anullsrc=r=44100:cl=mono:d={duration}",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-g",
            "25",
            "-c:a",
            "aac",
            "-shortest",
            str(path),
        ],
        check=True,
    )
    return path


@pytest.fixture
def two_sources(api, tmp_path) -> tuple[Path, Path, dict, dict]:
    """4 s each at 25 fps, a keyframe every second: a tone, and a negated silent one."""
    toned = make_media(tmp_path / "toned.mp4", duration=4, extra=["-g", "25"])
    silent = negated_silent_clip(tmp_path / "silent.mp4")
    first, second = upload(api, toned, silent).json()
    return toned, silent, first, second


def assert_is_frame(result: Path, index: int, source: Path, source_index: int) -> None:
    """The result's frame `index` is the source's frame `source_index`, not a neighbour."""
    frame = gray_frame(result, index)
    here = difference(frame, gray_frame(source, source_index))
    assert here < 3, f"frame {index} is not source frame {source_index} ({here:.1f})"
    for neighbour in (source_index - 1, source_index + 1):
        assert difference(frame, gray_frame(source, neighbour)) > here


def slice_hashes(path: Path, start: float = 0, end: float = 1e9) -> list[str]:
    """MD5s of the picture's packets shown from start to before end, as stream-copied,
    without the units a join may put around them (parameter sets, delimiters)."""
    listing = subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-i",
            str(path),
            "-map",
            "0:v:0",
            "-c",
            "copy",
            "-bsf:v",
            "filter_units=remove_types=7|8|9",
            "-f",
            "framemd5",
            "-",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    time_base = Fraction(next(line for line in listing if line.startswith("#tb 0:")).split()[-1])
    packets = [line.split(",") for line in listing if not line.startswith("#")]
    return [row[-1].strip() for row in packets if start <= int(row[2]) * time_base < end]


def test_three_segments_from_two_sources(api, two_sources, media_root):
    toned, silent, first, second = two_sources
    # when 0.52-2.6 s of the first, 1-2.2 s of the second and 2.4-3 s of the first are edited
    response = edit(
        api,
        [
            {"video_id": first["id"], "start": "520", "end": "2.6s"},
            {"video_id": second["id"], "start": "00:01", "end": "2200"},
            {"video_id": first["id"], "start": "2400ms", "end": "3000"},
        ],
    )
    assert response.status_code == 200, response.json()
    assert response.json()["message"] == "Edit job added to queue"
    assert execute(api).status_code == 200

    # then it holds frames 13-64 of the first, 25-54 of the second, 60-74 of the first
    job = Job.objects.get(pk=response.json()["job_id"])
    result = output_path(job.id, media_root)
    assert frame_count(result) == 52 + 30 + 15
    for index, source, source_index in [
        (0, toned, 13),
        (51, toned, 64),
        (52, silent, 25),
        (81, silent, 54),
        (82, toned, 60),
        (96, toned, 74),
    ]:
        assert_is_frame(result, index, source, source_index)
    assert decode_errors(result) == ""
    # and the sound follows the picture: the tone, silence from 2.08 s, the tone from 3.28 s
    assert loudest_db(result, 0.05, 2.02) > -20
    assert loudest_db(result, 2.14, 3.22) < -80
    assert loudest_db(result, 3.34, 3.85) > -20
    video, audio = ffprobe(result)["streams"]
    assert float(audio["duration"]) == pytest.approx(float(video["duration"]), abs=0.03)
    # and the whole second between the cut points of the first two segments was copied:
    # its slices are the sources' own, byte for byte
    copied = set(slice_hashes(result))
    for source in (toned, silent):
        body = slice_hashes(source, 1, 2)
        assert len(body) == 25 and set(body) <= copied
    # and the record keeps the contract's shape, its segments in concat_info
    record = api.get("/video/view/all").json()[-1]
    assert record["trim_info"] is None and record["encode_info"] is None
    assert record["concat_info"]["video_ids"] == [first["id"], second["id"], first["id"]]
    segments = record["concat_info"]["segments"]
    assert [(s["video_id"], s["start"], s["end"]) for s in segments] == [
        (first["id"], 520, 2600),
        (second["id"], 1000, 2200),
        (first["id"], 2400, 3000),
    ]
    assert [s["method"] for s in segments[:2]] == ["smart", "smart"]


def test_a_segment_cut_without_the_smart_path_says_why_in_a_sentence(api, clip):
    # given a segment of a clip whose only keyframe is its first frame
    video = upload(api, clip).json()[0]
    response = edit(api, [{"video_id": video["id"], "start": "500", "end": "1500"}])
    assert response.status_code == 200, response.json()
    # when it runs
    assert execute(api).status_code == 200
    # then the segment was re-encoded, and its reason is a sentence, not the cut plan's
    (segment,) = Job.objects.get(pk=response.json()["job_id"]).output_video.concat_info["segments"]
    assert segment["method"] == "reencode"
    assert segment["fallback_reason"] == (
        "The range holds too few keyframes to copy any of it unchanged, "
        "so the whole segment was re-encoded."
    )


def test_unlike_sources_are_joined_when_normalised(api, tmp_path, media_root):
    # given a 320x240@25 clip and a 640x360@30 one
    small = make_media(tmp_path / "small.mp4")
    wide = make_media(tmp_path / "wide.mp4", size="640x360", rate="30", audio=None)
    small_video, wide_video = upload(api, small, wide).json()
    segments = [
        {"video_id": small_video["id"], "start": "0", "end": "1000"},
        {"video_id": wide_video["id"], "start": "500", "end": "1500"},
    ]
    assert "normalize" in edit(api, segments).json()["detail"]

    # when they are edited with normalize
    response = edit(api, segments, normalize=True)
    assert response.status_code == 200, response.json()
    assert execute(api).status_code == 200

    # then the result is at the first's size and rate throughout, silent where the wide was
    job = Job.objects.get(pk=response.json()["job_id"])
    result = output_path(job.id, media_root)
    video, audio = ffprobe(result)["streams"]
    assert (video["width"], video["height"], video["r_frame_rate"]) == (320, 240, "25/1")
    assert frame_count(result) == 50
    assert loudest_db(result, 1.1, 1.9) < -80
    assert decode_errors(result) == ""
    methods = [s["method"] for s in job.output_video.concat_info["segments"]]
    assert methods[1] == "normalized"


@pytest.mark.parametrize(
    "segment,status,reason",
    [
        (
            {"start": "1000", "end": "1000"},
            400,
            "Segment 2's end (00:00:01.000) must come after its start (00:00:01.000).",
        ),
        ({"start": "9s", "end": "10s"}, 400, "Segment 2 starts (00:00:09.000) at or past the end"),
        ({"start": "soon", "end": "10s"}, 400, "start"),
        ({"video_id": 999, "start": "0", "end": "1"}, 404, "No video with id 999"),
        ({"video_id": {"job_id": 999}, "start": "0", "end": "1"}, 400, "Job 999 is not"),
    ],
)
def test_bad_segments_are_refused_and_nothing_is_stored(api, uploaded, segment, status, reason):
    good = {"video_id": uploaded["id"], "start": "0", "end": "500"}
    response = edit(api, [good, {"video_id": uploaded["id"], **segment}])
    assert response.status_code == status
    assert reason in response.json()["detail"]
    assert not Job.objects.exists()


def test_an_edit_needs_a_segment(api):
    response = edit(api, [])
    assert response.status_code == 400
    assert "segments" in response.json()["detail"]


def test_an_edit_may_take_a_pending_jobs_output(api, uploaded, media_root):
    trim = api.post(
        "/video/process/trim",
        {"request_code": "x", "video_id": uploaded["id"], "trim_start": "0", "trim_end": "1000"},
        format="json",
    ).json()["job_id"]
    response = edit(
        api,
        [
            {"video_id": {"job_id": trim}, "start": "200", "end": "600"},
            {"video_id": uploaded["id"], "start": "1000", "end": "1400"},
        ],
    )
    assert response.status_code == 200, response.json()
    assert (
        "past the end of the output of job"
        in edit(api, [{"video_id": {"job_id": trim}, "start": "1000", "end": "2000"}]).json()[
            "detail"
        ]
    )

    assert execute(api).status_code == 200
    assert frame_count(output_path(response.json()["job_id"], media_root)) == 20
    assert stored_path(uploaded, media_root).exists()


def test_admin_shows_an_edit_and_its_segments(admin_client, api, uploaded):
    # given an edit taking a trim's output and a video
    trim = api.post(
        "/video/process/trim",
        {"request_code": "x", "video_id": uploaded["id"], "trim_start": "0", "trim_end": "1000"},
        format="json",
    ).json()["job_id"]
    job_id = edit(
        api,
        [
            {"video_id": {"job_id": trim}, "start": "0", "end": "500"},
            {"video_id": uploaded["id"], "start": "1000", "end": "1500"},
        ],
    ).json()["job_id"]

    # then the list says what it does, and its page lists the segments and its input job
    listing = admin_client.get(reverse("admin:jobs_job_changelist"), {"kind__exact": "edit"})
    assert [job.pk for job in listing.context["cl"].result_list] == [job_id]
    summary = f"output of job {trim} 0–500 ms + video {uploaded['id']} 1000–1500 ms"
    assert summary in listing.content.decode()
    page = admin_client.get(reverse("admin:jobs_job_change", args=[job_id])).content.decode()
    assert f"<tr><td>2</td><td>video {uploaded['id']}</td><td>1000</td><td>1500</td></tr>" in page
    assert f">job {trim}</a> (pending)" in page


def test_execute_jobs_prints_an_edits_segments(api, uploaded):
    job_id = edit(api, [{"video_id": uploaded["id"], "start": "0", "end": "400"}]).json()["job_id"]
    out = StringIO()
    call_command("execute_jobs", "--request-code", "x", stdout=out)
    assert f"job {job_id} (edit) succeeded: video " in out.getvalue()
    assert f"    video {uploaded['id']} 0–400 ms\n" in out.getvalue()
