"""User administration over the JSON API: roles, regions, activation and deletion.

It lives here, not in ``accounts``, because every part of it is an authorization
question (who may manage whom) answered by the policy.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import services
from accounts.api import user_summary
from accounts.models import Region, Role, User
from core.api import StrictBooleanField, StrictSerializerMixin
from permissions import policy
from permissions.drf import ANY_TOKEN
from permissions.enforce import authorize, fetch_authorized, require
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
    """Any of role, region (null: none; admins only) and is_active; at least one."""

    min_properties = 1  # the schema's minProperties: an empty body is refused (validate below)

    role = serializers.ChoiceField(choices=Role.choices, required=False)
    region = serializers.ChoiceField(choices=Region.choices, required=False, allow_null=True)
    is_active = StrictBooleanField(required=False)

    def validate(self, data):
        if not data:
            raise serializers.ValidationError({"non_field_errors": ["Send at least one of: role, region, is_active."]})
        if "region" in data and data["region"] is None:
            data["region"] = ""
        return data


def visible_users(request):
    return policy.restrict(User.objects.all(), request.user, "accounts.view_user")


def user_access(*, fetched_by, user_id, perm: str = "accounts.view_user", request=None) -> User:
    """The account if ``fetched_by`` may ``perm`` it: users are an admin area, so a caller
    whose role may not ``perm`` accounts at all is refused first (403, naming the action),
    then an account they may not view is 404 and one they may not ``perm`` is 403."""
    authorize(fetched_by, perm, request=request)
    return fetch_authorized(
        User.objects.all(),
        fetched_by=fetched_by,
        view_perm="accounts.view_user",
        pk=user_id,
        perm=perm,
        request=request,
    )


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
    reauth_methods = ("PATCH", "DELETE")  # accounts.reauth: changing or deleting a user needs step-up
    @staticmethod
    def user_access(request, user_id, perm: str = "accounts.view_user") -> User:
        return user_access(fetched_by=request.user, user_id=user_id, perm=perm, request=request._request)

    @extend_schema(responses=UserSerializer)
    def get(self, request, user_id):
        return Response(UserSerializer(self.user_access(request, user_id)).data)

    @extend_schema(request=UserUpdateSerializer, responses=UserSerializer)
    def patch(self, request, user_id):
        user = self.user_access(request, user_id, "accounts.change_user")
        serializer = UserUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = services.user_update(
            user=user, acting_user=request.user, request=request._request, **serializer.validated_data
        )
        return Response(UserSerializer(user).data)

    @extend_schema(responses={204: None})
    def delete(self, request, user_id):
        user = self.user_access(request, user_id, "accounts.delete_user")
        services.user_delete(user=user, acting_user=request.user, request=request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(APIView):
    """Who the caller is and what it may do now (narrowed by a token's scopes)."""

    mfa_enrolment_exempt = True  # an admin still setting up a second factor may ask who they are

    token_scopes = ANY_TOKEN

    @extend_schema(
        responses=inline_serializer(
            "Me",
            {
                # A user's id; a client-credentials token answers client_id instead.
                "id": serializers.CharField(required=False),
                "client_id": serializers.CharField(required=False),
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
                {
                    "client_id": principal.client_id,
                    "role": principal.role,
                    "region": principal.region or None,
                    "permissions": permissions,
                }
            )
        body = {**user_summary(principal), "region": principal.region or None, "permissions": permissions}
        token_scopes = getattr(principal, "token_scopes", None)
        if token_scopes is not None:
            if "email" not in token_scopes:
                body.pop("email")
            if "profile" not in token_scopes:
                body.pop("name")
        return Response(body)
