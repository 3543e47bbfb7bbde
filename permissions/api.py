"""User administration over the JSON API: roles, regions, activation and deletion.

It lives here, not in ``accounts``, because every part of it is an authorization
question (who may manage whom) answered by the policy.
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import services
from accounts.api import user_summary
from accounts.models import Region, Role, User
from config.api import StrictSerializerMixin
from permissions import policy
from permissions.drf import ANY_TOKEN
from permissions.enforce import require
from permissions.principals import ClientPrincipal


class UserSerializer(serializers.ModelSerializer):
    region = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["id", "email", "name", "role", "region", "is_active"]
        read_only_fields = fields

    def get_region(self, user: User) -> str | None:
        return user.region or None


class UserUpdateSerializer(StrictSerializerMixin, serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices, required=False)
    region = serializers.ChoiceField(choices=Region.choices, required=False, allow_null=True)
    is_active = serializers.BooleanField(required=False)

    def validate(self, data):
        if not data:
            raise serializers.ValidationError({"non_field_errors": ["Send at least one of: role, region, is_active."]})
        if "region" in data and data["region"] is None:
            data["region"] = ""
        return data


def visible_users(request):
    return policy.restrict(User.objects.all(), request.user, "accounts.view_user")


class UserListView(generics.ListAPIView):
    serializer_class = UserSerializer

    def list(self, request, *args, **kwargs):
        # Checked here, not in get_queryset(): the schema generator calls get_queryset()
        # without a real caller, and that must not be audited as a denial.
        require(request, "accounts.view_user")
        return super().list(request, *args, **kwargs)

    def get_queryset(self):
        return visible_users(self.request)


class UserDetailView(APIView):
    def get_user(self, request, user_id, *, perm: str) -> User:
        """The user, for a caller whose role holds ``perm`` at all (403 naming that action, then 404)."""
        require(request, perm)
        return get_object_or_404(visible_users(request), pk=user_id)

    @extend_schema(responses=UserSerializer)
    def get(self, request, user_id):
        return Response(UserSerializer(self.get_user(request, user_id, perm="accounts.view_user")).data)

    @extend_schema(request=UserUpdateSerializer, responses=UserSerializer)
    def patch(self, request, user_id):
        user = self.get_user(request, user_id, perm="accounts.change_user")
        require(request, "accounts.change_user", user)
        serializer = UserUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = services.user_update(user=user, acting_user=request.user, request=request._request, **serializer.validated_data)
        return Response(UserSerializer(user).data)

    @extend_schema(responses={204: None})
    def delete(self, request, user_id):
        user = self.get_user(request, user_id, perm="accounts.delete_user")
        require(request, "accounts.delete_user", user)
        services.user_delete(user=user, acting_user=request.user, request=request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(APIView):
    """Who the caller is and what it may do now (narrowed by a token's scopes)."""

    token_scopes = ANY_TOKEN

    @extend_schema(
        responses=inline_serializer(
            "Me",
            {
                "id": serializers.CharField(),
                "email": serializers.CharField(required=False),
                "name": serializers.CharField(required=False),
                "role": serializers.CharField(),
                "region": serializers.CharField(allow_null=True),
                "permissions": serializers.ListField(child=serializers.CharField()),
            },
        )
    )
    def get(self, request):
        principal = request.user
        permissions = sorted(principal.get_all_permissions())
        if isinstance(principal, ClientPrincipal):
            return Response(
                {"client_id": principal.client_id, "role": principal.role, "region": principal.region or None, "permissions": permissions}
            )
        body = {**user_summary(principal), "region": principal.region or None, "permissions": permissions}
        token_scopes = getattr(principal, "token_scopes", None)
        if token_scopes is not None:
            if "email" not in token_scopes:
                body.pop("email")
            if "profile" not in token_scopes:
                body.pop("name")
        return Response(body)
