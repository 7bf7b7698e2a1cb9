"""The OpenAPI schema as a reader of /api/docs meets it: each path once, and the video
record's info fields described as the objects they are."""

import json

import pytest
from openapi_schema_validator import OAS30Validator

from conftest import upload

pytestmark = pytest.mark.django_db(transaction=True)


def openapi(api) -> dict:
    response = api.get("/api/schema", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    return json.loads(response.content)


def test_each_path_is_listed_once_in_its_bare_form(api):
    schema = openapi(api)
    paths = list(schema["paths"])
    assert paths and not [path for path in paths if path.endswith("/")]
    assert {"/video/upload", "/video/view/all", "/video/process/trim"} <= set(paths)
    operation_ids = [
        operation["operationId"]
        for operations in schema["paths"].values()
        for operation in operations.values()
        if isinstance(operation, dict) and "operationId" in operation
    ]
    assert len(operation_ids) == len(set(operation_ids))
    # the other form is said once, in the description
    assert "trailing slash" in schema["info"]["description"]


@pytest.mark.parametrize("record", ["Video", "LibraryVideo"])
def test_info_fields_are_nullable_objects(api, record):
    schema = openapi(api)
    properties = schema["components"]["schemas"][record]["properties"]
    for field in ("trim_info", "concat_info", "encode_info"):
        assert properties[field]["nullable"] is True
        (reference,) = properties[field]["allOf"]
        component = schema["components"]["schemas"][reference["$ref"].rsplit("/", 1)[-1]]
        assert component["type"] == "object" and component["properties"]


def test_what_jobs_store_in_the_info_fields_matches_the_schema(api, clip):
    # given a trim, a concat and an encode that ran
    schema = openapi(api)
    video_id = upload(api, clip).json()[0]["id"]
    for path, body in [
        ("trim", {"video_id": video_id, "trim_start": "0", "trim_end": "1000"}),
        ("concat", {"video_ids": [video_id, video_id]}),
        ("encoding", {"video_id": video_id, "resolution": "160:120", "frame_rate": 25}),
    ]:
        queued = api.post(f"/video/process/{path}", {"request_code": "x", **body}, format="json")
        assert queued.status_code == 200, queued.json()
    executed = api.post("/video/process/execute", {"request_code": "x"}, format="json")
    assert executed.status_code == 200, executed.json()
    # when the records are listed
    records = api.get("/video/view/all").json()[1:]
    # then each info field they hold is what the schema says it is, and no key goes unnamed
    components = schema["components"]["schemas"]
    held = 0
    for record in records:
        for field in ("trim_info", "concat_info", "encode_info"):
            if record[field] is None:
                continue
            held += 1
            reference = components["Video"]["properties"][field]["allOf"][0]["$ref"]
            component_schema = {"$ref": reference, "components": schema["components"]}
            OAS30Validator(component_schema).validate(record[field])
            component = components[reference.rsplit("/", 1)[-1]]
            assert set(record[field]) <= set(component["properties"]), record[field]
    assert held == 3
