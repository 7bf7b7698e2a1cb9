import inspect
import sys

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.response import Response
from rest_framework.views import APIView

from videoproc.access import request_owner, scoped
from videoproc.paging import SkipLimitPagination
from videoproc.schema import errors

from . import services
from .kinds.base import Kind
from .models import Job
from .serializers import (
    DispatchedSerializer,
    ExecutedSerializer,
    ExecuteSerializer,
    JobListParamsSerializer,
    JobSerializer,
    QueuedSerializer,
)
from .transitions import HANDED_OUT


def _valid(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class QueueSchema(AutoSchema):
    """The schema of one kind's queue endpoint: its serializer, its words."""

    def get_summary(self):
        return f"Queue a job: {self.view.kind.name}"

    def get_description(self):
        return inspect.getdoc(sys.modules[type(self.view.kind).__module__])

    def get_request_serializer(self):
        return self.view.kind.serializer()

    def get_response_serializers(self):
        return {200: QueuedSerializer, **errors(400, 404, 415, 503)}


class QueueView(APIView):
    """Queue a job of one kind (set in urls.py) under a request code."""

    kind: Kind = None
    schema = QueueSchema()

    def post(self, request):
        data = _valid(self.kind.serializer, request.data)
        request_code = data.pop("request_code")
        job = services.job_queue(
            request_code=request_code,
            kind=self.kind.name,
            params=data,
            owner=request_owner(request),
        )
        return Response({"message": f"{self.kind.label} job added to queue", "job_id": job.id})


class ProcessViewSet(viewsets.ViewSet):
    """Run the requester's queued jobs."""

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
            200: ExecutedSerializer,
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
        cancelled = [job for job in jobs if job.status == Job.Status.CANCELLED]
        if cancelled:
            return Response(
                {
                    "message": f"{len(jobs) - len(cancelled)} of {len(jobs)} pending jobs for "
                    f"request_code {request_code} executed successfully; "
                    + services.cancelled_note(cancelled),
                    "cancelled": [job.id for job in cancelled],
                }
            )
        return Response(
            {"message": f"All pending jobs for request_code {request_code} executed successfully"}
        )


class JobViewSet(viewsets.ViewSet):
    """Watch jobs: one by id, or a requester's list."""

    pagination_class = SkipLimitPagination  # no other action answers a list

    @extend_schema(
        summary="List jobs",
        parameters=[JobListParamsSerializer],
        responses={200: JobSerializer(many=True), **errors(400)},
    )
    def list(self, request):
        params = _valid(JobListParamsSerializer, request.query_params)
        jobs = scoped(Job.objects.order_by("id").prefetch_related("chunks"), request_owner(request))
        if "request_code" in params:
            jobs = jobs.filter(request_code=params["request_code"])
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(jobs, request, view=self)
        return paginator.get_paginated_response(JobSerializer(page, many=True).data)

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
