"""Personal access tokens over the JSON API: ``/api/tokens/`` and ``/api/tokens/<uuid>/``.

Only a session manages tokens: the views declare no ``token_scopes``, so any bearer token
(OAuth or personal) is 403 ``INSUFFICIENT_SCOPE`` (``permissions.drf.TokenScope``), and a
token can never mint or revoke tokens. The secret is in the 201 body of the creation only.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.login import signed_in_user
from core.api import StrictIntegerField, StrictSerializerMixin
from oauth import personal_tokens, selectors, services
from oauth.models import PersonalToken
from permissions.scopes import catalogue


class PersonalTokenSerializer(serializers.ModelSerializer):
    scopes = serializers.ListField(source="scope_list", child=serializers.CharField(), read_only=True)
    allowed_ips = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = PersonalToken
        fields = ["id", "name", "prefix", "scopes", "allowed_ips", "created_at", "expires_at", "last_used_at"]
        read_only_fields = fields


class PersonalTokenCreatedSerializer(PersonalTokenSerializer):
    token = serializers.CharField(read_only=True, help_text="The secret: shown in this response only, never again.")

    class Meta(PersonalTokenSerializer.Meta):
        fields = [*PersonalTokenSerializer.Meta.fields, "token"]
        read_only_fields = fields


class PersonalTokenCreateSerializer(StrictSerializerMixin, serializers.Serializer):
    name = serializers.CharField(max_length=100)
    scopes = serializers.ListField(child=serializers.ChoiceField(choices=[]), min_length=1)
    expires_in_days = StrictIntegerField(min_value=1)  # max_value: PAT_MAX_DAYS, set in __init__
    allowed_ips = serializers.ListField(
        child=serializers.CharField(max_length=64, trim_whitespace=False),
        required=False,
        max_length=personal_tokens.MAX_ALLOWED_NETWORKS,
        help_text="CIDR networks (IPv4 or IPv6; a bare address is its own network) the token may be used from; "
        "empty or absent: any address.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        scopes = self.fields["scopes"]
        assert isinstance(scopes, serializers.ListField) and isinstance(scopes.child, serializers.ChoiceField)
        scopes.child.choices = list(catalogue())
        # Read at each request, not at import: PAT_MAX_DAYS is a setting.
        self.fields["expires_in_days"] = StrictIntegerField(min_value=1, max_value=settings.PAT_MAX_DAYS)

    def validate_allowed_ips(self, value: list[str]) -> list[str]:
        try:
            return personal_tokens.clean_networks(value)
        except DjangoValidationError as error:
            raise serializers.ValidationError(error.messages) from None


class PersonalTokenListView(generics.ListAPIView):
    """The caller's personal access tokens; POST creates one (the secret is in that 201 only)."""

    serializer_class = PersonalTokenSerializer
    reauth_methods = ("POST",)  # creating a token needs a recent authentication (step-up)

    def get_queryset(self):
        return selectors.personal_token_list(fetched_by=signed_in_user(self.request))

    @extend_schema(request=PersonalTokenCreateSerializer, responses={201: PersonalTokenCreatedSerializer})
    def post(self, request):
        serializer = PersonalTokenCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        personal_token, secret = services.personal_token_create(
            owner=request.user, request=request._request, **serializer.validated_data
        )
        body = {**PersonalTokenSerializer(personal_token).data, "token": secret}
        return Response(body, status=status.HTTP_201_CREATED)


class PersonalTokenDetailView(APIView):
    @extend_schema(responses={204: None})
    def delete(self, request, token_id):
        personal_token = selectors.personal_token_get(fetched_by=request.user, token_id=token_id)
        services.personal_token_revoke(
            personal_token=personal_token, acting_user=request.user, request=request._request
        )
        return Response(status=status.HTTP_204_NO_CONTENT)
