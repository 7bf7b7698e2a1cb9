"""The data migration that named the queued state."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from jobs.models import Job

BEFORE = [("jobs", "0002_job_dispatch_token")]


@pytest.mark.django_db(transaction=True)
def test_jobs_handed_to_workers_before_the_queued_state_become_queued():
    # given the schema before `queued`, with a job sent to a worker and one it started
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    OldJob = executor.loader.project_state(BEFORE).apps.get_model("jobs", "Job")
    sent = OldJob.objects.create(request_code="user", kind="trim", params={}, status="running")
    started = OldJob.objects.create(
        request_code="user", kind="trim", params={}, status="running", started_at=sent.created_at
    )
    # when
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    # then
    queued = Job.objects.get(pk=sent.pk)
    assert queued.status == Job.Status.QUEUED and queued.queued_at == queued.created_at
    assert Job.objects.get(pk=started.pk).status == Job.Status.RUNNING
