"""One error type for the domain, one JSON shape for every error: {"detail": ...}."""

import errno

from django.http import JsonResponse
from rest_framework import exceptions, status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


class ServiceError(Exception):
    """A refusal or failure the user must see, with the HTTP status that fits it."""

    def __init__(
        self,
        detail: str,
        status_code: int = status.HTTP_400_BAD_REQUEST,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(detail)
        self.detail = detail
        self.status_code = status_code
        self.headers = headers


# Out of disk or out of quota: the server's state, not the request's fault (507).
NO_SPACE_ERRNOS = {errno.ENOSPC, errno.EDQUOT}
NO_SPACE_DETAIL = "The server's disk is full: nothing was stored. Try again later."


def is_no_space(error: BaseException) -> bool:
    return isinstance(error, OSError) and error.errno in NO_SPACE_ERRNOS


def _first_message(errors) -> str:
    if isinstance(errors, dict):
        field, value = next(iter(errors.items()))
        message = _first_message(value)
        return message if field == "non_field_errors" else f"{field}: {message}"
    if isinstance(errors, list) and errors:
        return _first_message(errors[0])
    return str(errors)


def exception_handler(exc, context):
    # Errors are JSON whatever the view renders otherwise (the schema's YAML, say).
    request = context["request"]
    request.accepted_renderer, request.accepted_media_type = JSONRenderer(), "application/json"
    if isinstance(exc, ServiceError):
        return Response({"detail": exc.detail}, status=exc.status_code, headers=exc.headers)
    if is_no_space(exc):  # its message would show a server path
        return Response({"detail": NO_SPACE_DETAIL}, status=status.HTTP_507_INSUFFICIENT_STORAGE)
    if isinstance(exc, exceptions.ValidationError):
        return Response(
            {"detail": _first_message(exc.detail), "errors": exc.detail},
            status=status.HTTP_400_BAD_REQUEST,
        )
    return drf_exception_handler(exc, context)


def _json_error(status_code: int, detail: str):
    def view(request, exception=None):
        return JsonResponse({"detail": detail}, status=status_code)

    return view


# Outside DRF's views too (an unknown path, a crash), every error has the same shape.
handler400 = _json_error(400, "Bad request")
handler404 = _json_error(404, "Not found")
handler500 = _json_error(500, "Internal server error")
