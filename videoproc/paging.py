"""Paging of the API's lists, as the contract has it: `skip` rows, then at most `limit`
(capped at MAX_PAGE_SIZE), given as query parameters; the answer is the bare list of
that page, with no envelope around it. A bad value is a 400 {"detail": ...}."""

from rest_framework import serializers
from rest_framework.pagination import BasePagination
from rest_framework.response import Response

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
# The database takes an offset and a row count as 64-bit integers: skip + limit must
# fit one.
LARGEST_OFFSET = 2**63 - 1 - MAX_PAGE_SIZE


class PageSerializer(serializers.Serializer):
    skip = serializers.IntegerField(min_value=0, max_value=LARGEST_OFFSET, default=0)
    limit = serializers.IntegerField(min_value=0, default=DEFAULT_PAGE_SIZE)

    def validate_limit(self, value: int) -> int:
        return min(value, MAX_PAGE_SIZE)


class SkipLimitPagination(BasePagination):
    """The contract's skip/limit paging of an ordered queryset."""

    def paginate_queryset(self, queryset, request, view=None) -> list:
        page = PageSerializer(data=request.query_params)
        page.is_valid(raise_exception=True)
        skip, limit = page.validated_data["skip"], page.validated_data["limit"]
        return list(queryset[skip : skip + limit])

    def get_paginated_response(self, data) -> Response:
        return Response(data)

    def get_paginated_response_schema(self, schema: dict) -> dict:
        return schema  # the page itself: no count, no links

    def get_schema_operation_parameters(self, view) -> list[dict]:
        return [
            {
                "name": "skip",
                "in": "query",
                "required": False,
                "description": "How many to pass over first, in id order",
                "schema": {
                    "type": "integer",
                    "format": "int64",
                    "minimum": 0,
                    "maximum": LARGEST_OFFSET,
                    "default": 0,
                },
            },
            {
                "name": "limit",
                "in": "query",
                "required": False,
                "description": f"At most this many are answered (capped at {MAX_PAGE_SIZE})",
                "schema": {"type": "integer", "minimum": 0, "default": DEFAULT_PAGE_SIZE},
            },
        ]
