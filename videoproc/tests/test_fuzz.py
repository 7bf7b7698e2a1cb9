"""Property-based fuzzing of the whole API: schemathesis reads our OpenAPI schema and,
with hypothesis, drives every operation in it (so endpoints added later are covered too)
through the WSGI app in-process, with valid and invalid inputs. Any 5xx fails, as does
a status code, content type or body the schema does not declare.

Each operation gets FUZZ_EXAMPLES cases per generation mode (valid, invalid); the whole
run takes a minute or two. `FUZZ_EXAMPLES=500 pytest videoproc/tests/test_fuzz.py` digs
deeper.
"""

import os

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from conftest import make_media, upload

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", 60))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]

# A tus append's body (/video/uploads/<id>, PATCH) is raw bytes, as for octet-stream.
schemathesis.serializer.alias("application/offset+octet-stream", "application/octet-stream")

# Django's WSGI app itself: videoproc.wsgi would also start job recovery in this process.
schema = schemathesis.openapi.from_wsgi("/api/schema", get_wsgi_application())


@pytest.fixture
def a_video(api, tmp_path):
    """One stored video (id 1 in a fresh database), so that ids the fuzzer picks may
    reach past the lookups: a short, tiny clip keeps any job it runs quick."""
    clip = make_media(tmp_path / "fuzz.mp4", size="64x48", rate="10", duration=1)
    response = upload(api, clip)
    assert response.status_code == 200, response.content


@pytest.mark.django_db(transaction=True, reset_sequences=True)
@schema.parametrize()
@settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,  # the same cases every run: a failure here is reproducible
)
def test_no_input_makes_a_5xx_or_breaks_the_schema(case, a_video):
    case.call_and_validate(checks=CHECKS)
