"""The registry of job kinds, the only list of them. A new kind is a module beside these
(its parameters, serializer and Kind class: see base.py), one line here, and its URL."""

from .base import Kind
from .concat import Concat
from .edit import Edit
from .encode import Encode
from .trim import Trim

KINDS: dict[str, Kind] = {kind.name: kind for kind in (Trim(), Concat(), Encode(), Edit())}


def job_summary(kind: str, params: dict) -> str:
    """What a job of that kind with those (stored) params does, in a line."""
    job_kind = KINDS[kind]
    return job_kind.summary(job_kind.load(params))
