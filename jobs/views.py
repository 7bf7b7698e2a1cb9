from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import status, viewsets
from rest_framework.response import Response

from videoproc.access import request_owner, scoped
from videoproc.schema import errors

from . import services
from .models import Job
from .serializers import (
    ConcatSerializer,
    DispatchedSerializer,
    EditSerializer,
    EncodeSerializer,
    ExecuteSerializer,
    JobListParamsSerializer,
    JobSerializer,
    MessageSerializer,
    QueuedSerializer,
    TrimSerializer,
)
from .transitions import HANDED_OUT


def _valid(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class ProcessViewSet(viewsets.ViewSet):
    """Queue trim / concat / encode / edit jobs under a request code, and run them."""

    @extend_schema(
        summary="Queue a trim",
        request=TrimSerializer,
        responses={200: QueuedSerializer, **errors(400, 404, 415, 503)},
        examples=[
            OpenApiExample(
                "A video",
                value={
                    "request_code": "alice",
                    "video_id": 13,
                    "trim_start": "5s",
                    "trim_end": "00:00:15",
                },
            ),
            OpenApiExample(
                "The output of a pending job (chained)",
                value={
                    "request_code": "alice",
                    "video_id": {"job_id": 12},
                    "trim_start": "0",
                    "trim_end": "2500",
                },
                description="Job 12, of the same request code, runs first in the execute.",
            ),
        ],
    )
    def trim(self, request):
        data = _valid(TrimSerializer, request.data)
        job = services.job_queue_trim(
            request_code=data["request_code"],
            video_id=data["video_id"],
            trim_start_ms=data["trim_start"],
            trim_end_ms=data["trim_end"],
            owner=request_owner(request),
            mode=data["mode"],
        )
        return Response({"message": "Trim job added to queue", "job_id": job.id})

    @extend_schema(
        summary="Queue a concat",
        description="Unlike videos are a 400 unless `normalize` asks to re-encode the ones "
        "that differ from the first (or from the named target).",
        request=ConcatSerializer,
        responses={200: QueuedSerializer, **errors(400, 404, 415, 503)},
        examples=[
            OpenApiExample(
                "Alike videos, by copy", value={"request_code": "alice", "video_ids": [13, 14]}
            ),
            OpenApiExample(
                "Unlike videos, made to match the first",
                value={"request_code": "alice", "video_ids": [13, 14, 15], "normalize": True},
            ),
            OpenApiExample(
                "To a named target, with a pending job's output",
                value={
                    "request_code": "alice",
                    "video_ids": [13, {"job_id": 12}],
                    "normalize": {
                        "resolution": "1280:720",
                        "frame_rate": 30,
                        "video_codec": "libx264",
                        "audio_codec": "aac",
                        "container": "mp4",
                    },
                },
            ),
        ],
    )
    def concat(self, request):
        data = _valid(ConcatSerializer, request.data)
        job = services.job_queue_concat(
            request_code=data["request_code"],
            video_ids=data["video_ids"],
            normalize=data.get("normalize", False),
            owner=request_owner(request),
        )
        return Response({"message": "Concat job added to queue", "job_id": job.id})

    @extend_schema(
        summary="Queue an edit: segments of one or more videos, in order, as one video",
        description="Each segment is cut frame-exact (copied between the cut points where "
        "the source allows) and the parts join by copy; the sound is cut over the same "
        "spans and encoded once. The result's `concat_info` holds `video_ids` (each "
        "segment's source) and `segments` (`video_id`, `start`, `end` in ms, `method`).",
        request=EditSerializer,
        responses={200: QueuedSerializer, **errors(400, 404, 415, 503)},
        examples=[
            OpenApiExample(
                "Three moments from two recordings",
                value={
                    "request_code": "alice",
                    "segments": [
                        {"video_id": 13, "start": "00:00:05.200", "end": "00:00:09"},
                        {"video_id": 14, "start": "1500", "end": "4s"},
                        {"video_id": 13, "start": "20s", "end": "22.5s"},
                    ],
                },
            ),
            OpenApiExample(
                "A phone clip and a camera clip, normalised",
                value={
                    "request_code": "alice",
                    "normalize": True,
                    "segments": [
                        {"video_id": 13, "start": "0", "end": "4s"},
                        {"video_id": {"job_id": 12}, "start": "1s", "end": "3s"},
                    ],
                },
            ),
        ],
    )
    def edit(self, request):
        data = _valid(EditSerializer, request.data)
        job = services.job_queue_edit(
            request_code=data["request_code"],
            segments=data["segments"],
            normalize=data.get("normalize", False),
            owner=request_owner(request),
        )
        return Response({"message": "Edit job added to queue", "job_id": job.id})

    @extend_schema(
        summary="Queue a re-encode",
        request=EncodeSerializer,
        responses={200: QueuedSerializer, **errors(400, 404, 415, 503)},
    )
    def encoding(self, request):
        data = _valid(EncodeSerializer, request.data)
        job = services.job_queue_encode(
            request_code=data["request_code"],
            video_id=data["video_id"],
            video_codec=data["video_codec"],
            audio_codec=data["audio_codec"],
            resolution=data["resolution"],
            frame_rate=data["frame_rate"],
            container=data.get("container"),
            owner=request_owner(request),
        )
        return Response({"message": "Encode job added to queue", "job_id": job.id})

    @extend_schema(
        summary="Run the requester's pending jobs",
        description=(
            "Without a broker the jobs run in this request, one after another in id order. "
            "With Celery workers they are queued and sent in id order, then run in parallel "
            "on the free workers (a job taking another job's output is sent once that job "
            "has finished). `wait: true` answers 200 or 500 when all have finished, or 202 "
            "with the job ids once EXECUTE_WAIT_LIMIT seconds (600) have passed; "
            "`wait: false` answers 202 at once. 503: the job queue (broker) is unreachable; "
            "the jobs are pending again and the execute may be repeated."
        ),
        request=ExecuteSerializer,
        responses={
            200: MessageSerializer,
            202: DispatchedSerializer,
            **errors(400, 415, 500, 503, 507),
        },
    )
    def execute(self, request):
        data = _valid(ExecuteSerializer, request.data)
        request_code = data["request_code"]
        jobs = services.jobs_execute(
            request_code=request_code, wait=data["wait"], owner=request_owner(request)
        )
        if any(job.status in HANDED_OUT for job in jobs):  # on workers, not awaited
            return Response(
                {
                    "message": f"{len(jobs)} pending jobs for request_code {request_code} "
                    "handed to workers",
                    "job_ids": [job.id for job in jobs],
                },
                status=status.HTTP_202_ACCEPTED,
            )
        return Response(
            {"message": f"All pending jobs for request_code {request_code} executed successfully"}
        )


class JobViewSet(viewsets.ViewSet):
    """Watch jobs: one by id, or a requester's list."""

    @extend_schema(
        summary="List jobs",
        parameters=[JobListParamsSerializer],
        responses={200: JobSerializer(many=True), **errors(400)},
    )
    def list(self, request):
        params = _valid(JobListParamsSerializer, request.query_params)
        jobs = scoped(Job.objects.order_by("id"), request_owner(request))
        if "request_code" in params:
            jobs = jobs.filter(request_code=params["request_code"])
        jobs = jobs[params["skip"] : params["skip"] + params["limit"]]
        return Response(JobSerializer(jobs, many=True).data)

    @extend_schema(summary="One job", responses={200: JobSerializer, **errors(404)})
    def retrieve(self, request, pk: int):
        job = services.job_get(job_id=int(pk), owner=request_owner(request))
        return Response(JobSerializer(job).data)

    @extend_schema(
        summary="Cancel a pending, queued or running job",
        request=None,
        responses={200: JobSerializer, **errors(404, 409)},
    )
    def cancel(self, request, pk: int):
        job = services.job_cancel(job_id=int(pk), owner=request_owner(request))
        return Response(JobSerializer(job).data)

    @extend_schema(
        summary="Put a failed or cancelled job back to pending",
        request=None,
        responses={200: JobSerializer, **errors(404, 409)},
    )
    def retry(self, request, pk: int):
        job = services.job_retry(job_id=int(pk), owner=request_owner(request))
        return Response(JobSerializer(job).data)
