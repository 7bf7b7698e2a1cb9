"""The webhook API (docs/api.md#webhooks): endpoints that receive signed events, each with
its secret shown once, and each endpoint's delivery log with redeliver. A user's own
endpoints with API_AUTH=required; with API_AUTH=off endpoints belong to no one and
receive every event."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.response import Response

from videoproc import webhooks
from videoproc.access import request_owner, scoped
from videoproc.errors import ServiceError
from videoproc.models import WebhookDelivery, WebhookEndpoint
from videoproc.paging import SkipLimitPagination
from videoproc.schema import errors

EVENT_TYPES = serializers.ListField(
    child=serializers.ChoiceField(choices=webhooks.EVENT_TYPES),
    max_length=len(webhooks.EVENT_TYPES),
    required=False,
    help_text="the event types to receive; empty or left out: all of them",
)


class EndpointSerializer(serializers.ModelSerializer):
    """An endpoint as its owner sees it, without its secret (shown once, when made)."""

    secret_rotating_until = serializers.SerializerMethodField(
        help_text="after a rotation, until when the old secret also signs"
    )

    def get_secret_rotating_until(self, endpoint: WebhookEndpoint) -> str | None:
        expires = endpoint.previous_secret_expires_at
        return expires.isoformat() if endpoint.previous_secret and expires else None

    class Meta:
        model = WebhookEndpoint
        fields = [
            "id",
            "url",
            "event_types",
            "description",
            "enabled",
            "disabled_reason",
            "failing_since",
            "secret_rotating_until",
            "created_at",
        ]


class EndpointWithSecretSerializer(EndpointSerializer):
    secret = serializers.CharField(
        help_text="whsec_…: verify deliveries with it (Standard Webhooks); shown this once"
    )

    class Meta(EndpointSerializer.Meta):
        fields = [*EndpointSerializer.Meta.fields, "secret"]


class EndpointCreateSerializer(serializers.Serializer):
    url = serializers.URLField(max_length=2000, help_text="http(s) URL that receives POSTs")
    event_types = EVENT_TYPES
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)


class EndpointUpdateSerializer(serializers.Serializer):
    url = serializers.URLField(max_length=2000, required=False)
    event_types = EVENT_TYPES
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)
    enabled = serializers.BooleanField(
        required=False, help_text="true: enable again, and send what waited for it"
    )


class DeliverySerializer(serializers.ModelSerializer):
    """One event to one endpoint: the delivery log."""

    webhook_id = serializers.CharField(source="event.message_id", help_text="its webhook-id")
    event_type = serializers.CharField(source="event.type")
    payload = serializers.JSONField(source="event.payload", help_text="the body, as sent")

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "webhook_id",
            "event_type",
            "status",
            "attempts",
            "response_status",
            "error",
            "next_try_at",
            "last_try_at",
            "delivered_at",
            "created_at",
            "payload",
        ]


class WebhookViewSet(viewsets.ViewSet):
    """Webhook endpoints and their deliveries."""

    pagination_class = SkipLimitPagination

    def _endpoint(self, request, pk) -> WebhookEndpoint:
        return webhooks.endpoint_get(endpoint_id=int(pk), owner=request_owner(request))

    @extend_schema(
        summary="List your webhook endpoints",
        responses={200: EndpointSerializer(many=True), **errors(400)},
    )
    def list(self, request):
        endpoints = scoped(WebhookEndpoint.objects.all(), request_owner(request))
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(endpoints.order_by("id"), request, view=self)
        return paginator.get_paginated_response(EndpointSerializer(page, many=True).data)

    @extend_schema(
        summary="Register a webhook endpoint; its secret is in this answer only",
        description="Refused (400) if the URL's host resolves to a loopback, private, "
        "link-local or reserved address, unless WEBHOOK_ALLOW_PRIVATE=true.",
        request=EndpointCreateSerializer,
        responses={201: EndpointWithSecretSerializer, **errors(400)},
    )
    def create(self, request):
        params = EndpointCreateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        endpoint = webhooks.endpoint_create(
            url=params.validated_data["url"],
            event_types=params.validated_data.get("event_types", []),
            description=params.validated_data.get("description", ""),
            owner=request_owner(request),
        )
        return Response(EndpointWithSecretSerializer(endpoint).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="One webhook endpoint", responses={200: EndpointSerializer, **errors(404)}
    )
    def retrieve(self, request, pk):
        return Response(EndpointSerializer(self._endpoint(request, pk)).data)

    @extend_schema(
        summary="Change a webhook endpoint: URL, event types, description, enabled",
        request=EndpointUpdateSerializer,
        responses={200: EndpointSerializer, **errors(400, 404)},
    )
    def partial_update(self, request, pk):
        endpoint = self._endpoint(request, pk)
        params = EndpointUpdateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        endpoint = webhooks.endpoint_update(endpoint=endpoint, **params.validated_data)
        return Response(EndpointSerializer(endpoint).data)

    @extend_schema(
        summary="Delete a webhook endpoint and its delivery log",
        responses={204: None, **errors(404)},
    )
    def destroy(self, request, pk):
        self._endpoint(request, pk).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Rotate an endpoint's secret; the new one is in this answer only",
        description="The old secret keeps signing too (a second signature in "
        "webhook-signature) for WEBHOOK_SECRET_OVERLAP seconds (a day by default).",
        request=None,
        responses={200: EndpointWithSecretSerializer, **errors(404)},
    )
    def rotate(self, request, pk):
        endpoint = webhooks.endpoint_rotate(endpoint=self._endpoint(request, pk))
        return Response(EndpointWithSecretSerializer(endpoint).data)

    @extend_schema(
        summary="An endpoint's delivery log, newest first",
        responses={200: DeliverySerializer(many=True), **errors(400, 404)},
    )
    def deliveries(self, request, pk):
        deliveries = self._endpoint(request, pk).deliveries.select_related("event").order_by("-id")
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(deliveries, request, view=self)
        return paginator.get_paginated_response(DeliverySerializer(page, many=True).data)

    @extend_schema(
        summary="Send a delivered or failed delivery's event again (same webhook-id)",
        request=None,
        responses={201: DeliverySerializer, **errors(404, 409)},
    )
    def redeliver(self, request, pk, delivery_id):
        delivery = self._endpoint(request, pk).deliveries.filter(pk=int(delivery_id)).first()
        if delivery is None:
            raise ServiceError(
                f"No delivery with id {delivery_id} to this endpoint", status.HTTP_404_NOT_FOUND
            )
        again = webhooks.delivery_redeliver(delivery=delivery)
        return Response(DeliverySerializer(again).data, status=status.HTTP_201_CREATED)
