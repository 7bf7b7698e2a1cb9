"""The OpenAPI schema kept true: every error an endpoint can answer, in its one shape,
and every path once, in its bare form (the description says the other is served too)."""

from django.contrib.auth.views import redirect_to_login
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from drf_spectacular.views import SpectacularSwaggerView
from rest_framework import serializers
from rest_framework.exceptions import NotAuthenticated

from videoproc.access import accounts_required

ERROR = inline_serializer(
    "Error",
    {
        "detail": serializers.CharField(),
        "errors": serializers.JSONField(
            required=False, help_text="400 from validation: the messages by field"
        ),
    },
)
WHY = {
    400: "Bad request: the detail says what to change",
    404: "No such video, job or token (nor any of another user's); no tokens with API_AUTH=off",
    409: "Not in a state that allows it",
    413: "The upload is larger than MAX_UPLOAD_SIZE, or than the user's storage quota left",
    415: "A body of a media type we do not read; for uploads, also a file that is not a "
    "video we accept or is beyond the work budget",
    500: "A job failed, or a stored file could not be read",
    503: "Busy: every FFmpeg slot is taken, or the job queue is unreachable; see Retry-After",
    507: "The server's disk is full; nothing was stored",
}


def errors(*codes: int) -> dict[int, OpenApiResponse]:
    """The `responses` entries of the errors an endpoint answers, for extend_schema."""
    return {code: OpenApiResponse(ERROR, description=WHY[code]) for code in codes}


SLASH_NOTE = (
    "Every path is listed without a trailing slash; each also answers with one "
    "(`/video/upload/` as `/video/upload`), without redirecting."
)


def both_slash_forms(result, generator, request, public):
    """drf-spectacular postprocessing hook: our paths answer with and without the trailing
    slash (videoproc/urls.py). Listing both doubled every operation in the docs, so each
    path is listed once, bare, and the description says the slashed form works too."""
    result["paths"] = {
        (path.rstrip("/") or path): operations for path, operations in result["paths"].items()
    }
    info = result.setdefault("info", {})
    info["description"] = " ".join(filter(None, [info.get("description"), SLASH_NOTE]))
    return result


# What any endpoint that takes credentials may answer (docs/deployment.md, Users and access).
ACCESS_ERRORS = {
    "401": "API_AUTH=required and no valid session or token (a revoked or expired token too)",
    "403": "A session's state-changing call without its CSRF token",
    "429": "A rate limit (API_THROTTLE_USER / _ANON), or, when queueing or retrying, "
    "USER_MAX_ACTIVE_JOBS unfinished jobs",
}


def access_errors(result, generator, request, public):
    """drf-spectacular postprocessing hook: every operation with credentials (all but
    the open ones) documents the answers of the access rules, in the one error shape."""
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for operations in result["paths"].values():
        for operation in operations.values():
            if isinstance(operation, dict) and operation.get("security"):
                for code, why in ACCESS_ERRORS.items():
                    operation["responses"].setdefault(code, {"description": why, "content": error})
    return result


class DocsView(SpectacularSwaggerView):
    """The API's docs page: a person in a browser without a session is sent to sign in
    (and back), not shown the bare JSON 401 an API client gets."""

    permission_classes = ()  # checked in get(), to answer a person with the login page

    @extend_schema(exclude=True)  # as the view it extends: a page, not an API operation
    def get(self, request, *args, **kwargs):
        if accounts_required() and not request.user.is_authenticated:
            if "text/html" not in request.headers.get("Accept", ""):
                raise NotAuthenticated()  # a script: the API's 401, as everywhere
            return redirect_to_login(request.get_full_path())
        return super().get(request, *args, **kwargs)
