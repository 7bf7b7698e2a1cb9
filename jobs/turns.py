"""Fair turns: which waiting job starts next when a run frees, for executes waiting in
line in the embedded mode and for Celery workers alike.

Round-robin across requesters (a user with accounts on, a request code without): the
next job is the one whose requester has the fewest jobs running plus waiting before it,
then the requester served least recently, then the oldest job. A user with one small job
is not stuck behind another's fifty, and no one holds more than their share of the runs
while others wait.
"""

from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from django.db.models import Max
from django.utils import timezone

from .models import Job, JobChunk
from .transitions import HANDED_OUT

RECENT = timedelta(days=1)  # how far back "served least recently" looks
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # "never served" sorts first


def requester(job: Job) -> tuple:
    return ("user", job.owner_id) if job.owner_id else ("code", job.request_code)


def waiting(job: Job) -> bool:
    """Whether one of the job's inputs is still being made (queued or running)."""
    return job.depends_on.filter(status__in=HANDED_OUT).exists()


def running_units() -> Counter:
    """How many runs each requester holds: its running jobs, and the chunks of them that
    other workers encode (a chunked encode spreads over several)."""
    units = Counter(map(requester, Job.objects.filter(status=Job.Status.RUNNING)))
    helping = JobChunk.objects.filter(status=JobChunk.Status.RUNNING).select_related("job")
    for chunk in helping:
        if chunk.worker != chunk.job.worker:
            units[requester(chunk.job)] += 1
    return units


def ranked(jobs: Iterable[Job]) -> list[Job]:
    """The queued jobs among `jobs` that can start, in the order they should."""
    ready = sorted((job for job in jobs if not waiting(job)), key=lambda job: job.id)
    running = running_units()
    served: dict[tuple, datetime] = {}
    recent = Job.objects.filter(started_at__gte=timezone.now() - RECENT)
    for row in recent.values("owner_id", "request_code").annotate(last=Max("started_at")):
        key = ("user", row["owner_id"]) if row["owner_id"] else ("code", row["request_code"])
        served[key] = max(row["last"], served.get(key, row["last"]))
    ahead: defaultdict[tuple, int] = defaultdict(int)  # the requester's jobs before this one
    order = {}
    for job in ready:
        key = requester(job)
        order[job.id] = (running[key] + ahead[key], served.get(key, _EPOCH), job.id)
        ahead[key] += 1
    return sorted(ready, key=lambda job: order[job.id])


def next_job(jobs: Iterable[Job]) -> Job | None:
    """The job that should start next among `jobs`, or None if none can."""
    line = ranked(jobs)
    return line[0] if line else None


def places() -> dict[int, int]:
    """Each queued job's place in line (1: it starts next), over every queued job."""
    line = ranked(Job.objects.filter(status=Job.Status.QUEUED))
    return {job.id: place for place, job in enumerate(line, 1)}
