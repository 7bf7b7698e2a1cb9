"""The signed-in user's own API tokens, for the page's tokens panel (additive endpoints
beside the API): list those that still work, create one (its key shown once), revoke
one. Accounts, not videos or jobs: only with API_AUTH=required; 404 without."""

from datetime import timedelta

from django.db.models import Q
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from knox.models import AuthToken
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from videoproc.access import accounts_required, token_create, token_revoke
from videoproc.errors import ServiceError
from videoproc.schema import errors


class TokenSerializer(serializers.ModelSerializer):
    """One of the user's API tokens, named by the start of its key (all that is kept)."""

    class Meta:
        model = AuthToken
        fields = ["token_key", "created", "expiry"]


class NewTokenSerializer(TokenSerializer):
    key = serializers.CharField(help_text="send as 'Authorization: Token <key>'; shown this once")

    class Meta(TokenSerializer.Meta):
        fields = [*TokenSerializer.Meta.fields, "key"]


class TokenCreateSerializer(serializers.Serializer):
    days = serializers.IntegerField(
        min_value=1,
        max_value=3650,
        required=False,
        allow_null=True,
        help_text="days until the token stops working; without it, until it is revoked",
    )


def _accounts_only() -> None:
    if not accounts_required():
        raise ServiceError(
            "Accounts are off (API_AUTH=off): there are no tokens", status.HTTP_404_NOT_FOUND
        )


class TokensView(APIView):
    """The signed-in user's own API tokens: the page's tokens panel."""

    @extend_schema(
        summary="Your API tokens that still work",
        responses={200: TokenSerializer(many=True), **errors(404)},
    )
    def get(self, request):
        _accounts_only()
        tokens = AuthToken.objects.filter(user=request.user)
        tokens = tokens.filter(Q(expiry__isnull=True) | Q(expiry__gt=timezone.now()))
        return Response(TokenSerializer(tokens.order_by("created"), many=True).data)

    @extend_schema(
        summary="Create an API token; its key is in this answer only",
        request=TokenCreateSerializer,
        responses={201: NewTokenSerializer, **errors(400, 404)},
    )
    def post(self, request):
        _accounts_only()
        params = TokenCreateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        days = params.validated_data.get("days")
        token, key = token_create(
            user=request.user, expires_in=timedelta(days=days) if days else None
        )
        token.key = key
        return Response(NewTokenSerializer(token).data, status=status.HTTP_201_CREATED)


class TokenView(APIView):
    @extend_schema(summary="Revoke one of your API tokens", responses={204: None, **errors(404)})
    def delete(self, request, token_key: str):
        _accounts_only()
        token_revoke(user=request.user, token_key=token_key)
        return Response(status=status.HTTP_204_NO_CONTENT)
