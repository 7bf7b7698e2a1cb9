"""The signed-in user's own API tokens, for the page's tokens panel (additive endpoints
beside the API): list those that still work, create one (its key shown once), revoke
one. Accounts, not videos or jobs: only with API_AUTH=required; 404 without.

A session has full power over its user's tokens. A call made with a token sees and
revokes only that token, and creates only tokens that expire no later than it does, so a
leaked key cannot outlast itself or lock its owner out of their other tokens. A token is
named in URLs by its `token_key`: the first characters of its key, which knox keeps in
clear to find it; the rest of the key is secret and stored only hashed."""

from datetime import timedelta

from django.db.models import Q
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from knox.models import AuthToken
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from videoproc.access import accounts_required, presented_token, token_create, token_revoke
from videoproc.errors import ServiceError
from videoproc.schema import ERROR, errors


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
        help_text="days until the token stops working; without days or hours, until it is revoked",
    )
    hours = serializers.IntegerField(
        min_value=1,
        max_value=3650 * 24,
        required=False,
        allow_null=True,
        help_text="hours until the token stops working, instead of days (a token can make "
        "only tokens that expire no later than itself)",
    )

    def validate(self, data):
        if data.get("days") and data.get("hours"):
            raise serializers.ValidationError("give days or hours, not both")
        return data

    def expires_in(self) -> timedelta | None:
        days, hours = self.validated_data.get("days"), self.validated_data.get("hours")
        return timedelta(days=days) if days else timedelta(hours=hours) if hours else None


CSRF = "Or a session's call without its CSRF token."


def _accounts_only() -> None:
    if not accounts_required():
        raise ServiceError(
            "Accounts are off (API_AUTH=off): there are no tokens", status.HTTP_404_NOT_FOUND
        )


class TokensView(APIView):
    """The signed-in user's own API tokens: the page's tokens panel."""

    @extend_schema(
        summary="Your API tokens that still work",
        description="With a session, all of them; with a token, only that token.",
        responses={200: TokenSerializer(many=True), **errors(404)},
    )
    def get(self, request):
        _accounts_only()
        tokens = AuthToken.objects.filter(user=request.user)
        if (token := presented_token(request)) is not None:
            tokens = tokens.filter(pk=token.pk)
        tokens = tokens.filter(Q(expiry__isnull=True) | Q(expiry__gt=timezone.now()))
        return Response(TokenSerializer(tokens.order_by("created"), many=True).data)

    @extend_schema(
        summary="Create an API token; its key is in this answer only",
        request=TokenCreateSerializer,
        responses={
            201: NewTokenSerializer,
            403: OpenApiResponse(
                ERROR, description=f"Made with a token: the new one would outlive it. {CSRF}"
            ),
            **errors(400, 404),
        },
    )
    def post(self, request):
        _accounts_only()
        params = TokenCreateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        token, key = token_create(
            user=request.user, expires_in=params.expires_in(), by=presented_token(request)
        )
        token.key = key
        return Response(NewTokenSerializer(token).data, status=status.HTTP_201_CREATED)


class TokenView(APIView):
    @extend_schema(
        summary="Revoke one of your API tokens, named by its token_key",
        description="With a session, any of them; with a token, only that token itself.",
        responses={
            204: None,
            403: OpenApiResponse(ERROR, description=f"Made with a token: another token. {CSRF}"),
            **errors(404),
        },
    )
    def delete(self, request, token_key: str):
        _accounts_only()
        token_revoke(user=request.user, token_key=token_key, by=presented_token(request))
        return Response(status=status.HTTP_204_NO_CONTENT)
