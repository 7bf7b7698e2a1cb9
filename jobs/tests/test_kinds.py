"""A job kind is one module: a new kind needs its module (parameters, serializer, class),
one registry line and its URL, and then queues, chains, runs and is summarised like the
others. The kind here (a remux to Matroska) lives only in this test."""

from dataclasses import dataclass

import pytest
from django.urls import re_path

from conftest import ffprobe
from jobs import kinds
from jobs.kinds.base import Kind, Ref, Result, input_name, output_stem, planned_from
from jobs.models import Job
from jobs.serializers import RequestCodeSerializer, VideoRefField
from jobs.tests.test_execute import decoded_frame_hashes, execute, output_path
from jobs.views import QueueView
from videoproc.urls import urlpatterns as project_urlpatterns
from videos import storage
from videos.engine.tools import tools

pytestmark = pytest.mark.django_db


class RemuxSerializer(RequestCodeSerializer):
    video_id = VideoRefField()


@dataclass(frozen=True)
class RemuxParams:
    video_id: Ref


class Remux(Kind):
    name = "remux"
    label = "Remux"
    Params = RemuxParams
    serializer = RemuxSerializer

    def refs(self, params):
        return [params.video_id]

    def check(self, params, inputs):
        return None

    def predict(self, params, inputs, plan, *, job_id):
        return planned_from(inputs[0], job_id=job_id, extension="mkv")

    def run(self, params, inputs, plan, workdir, monitor):
        (video,) = inputs
        output = workdir / "output.mkv"
        with storage.local_path(video.file.name) as source:
            monitor.run([tools.ffmpeg, "-i", str(source), "-c", "copy", str(output)], 1)
        return Result(output, output_stem(video, "remux"), {}, {"remuxed": True})

    def cost(self, params, inputs, plan):
        return 0.0  # a copy

    def summary(self, params):
        return f"{input_name(params.video_id)} to Matroska"


urlpatterns = [
    re_path(r"^video/process/remux/?$", QueueView.as_view(kind=Remux())),
    *project_urlpatterns,
]


@pytest.fixture
def remux_kind(settings, monkeypatch):
    monkeypatch.setitem(kinds.KINDS, "remux", Remux())  # the registry line
    settings.ROOT_URLCONF = __name__  # the URL


def test_a_new_kind_needs_only_its_module_a_registry_line_and_a_url(
    remux_kind, api, uploaded, media_root
):
    # given a trim, and a remux of its output queued through the new URL
    trim = api.post(
        "/video/process/trim",
        {"request_code": "x", "video_id": uploaded["id"], "trim_start": "0", "trim_end": "1s"},
        format="json",
    ).json()["job_id"]
    answer = api.post(
        "/video/process/remux", {"request_code": "x", "video_id": {"job_id": trim}}, format="json"
    )
    assert answer.json()["message"] == "Remux job added to queue", answer.content
    remux = Job.objects.get(pk=answer.json()["job_id"])
    assert remux.params == {"video_id": {"job_id": trim}}

    # when both are executed
    assert execute(api).status_code == 200

    # then the remux ran after the trim, on its output, and its record is like any other's
    remux.refresh_from_db()
    assert (remux.status, remux.outcome) == ("succeeded", {"remuxed": True})
    assert kinds.job_summary(remux.kind, remux.params) == f"output of job {trim} to Matroska"
    remuxed, trimmed = output_path(remux.id, media_root), output_path(trim, media_root)
    assert ffprobe(remuxed)["format"]["format_name"].startswith("matroska")
    assert decoded_frame_hashes(remuxed) == decoded_frame_hashes(trimmed)
