"""JSON endpoints of the account: CSRF token, sign in and out, who am I."""

from __future__ import annotations

from django.middleware.csrf import get_token
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import login as login_flow
from core.api import StrictSerializerMixin, TooManyLoginAttempts, enforce_csrf, error_body


class LoginSerializer(StrictSerializerMixin, serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(max_length=4096, trim_whitespace=False)


def user_summary(user) -> dict:
    return {"id": str(user.pk), "email": user.email, "name": user.name, "role": user.role}


class CsrfView(APIView):
    permission_classes = [AllowAny]

    @extend_schema(responses=inline_serializer("CsrfToken", {"csrfToken": serializers.CharField()}))
    def get(self, request):
        return Response({"csrfToken": get_token(request._request)})


@method_decorator(sensitive_post_parameters("password"), name="dispatch")
class LoginView(APIView):
    permission_classes = [AllowAny]
    throttled_statuses = (429,)  # TOO_MANY_LOGIN_ATTEMPTS, documented by core.schema.AutoSchema

    @extend_schema(
        request=LoginSerializer,
        responses=inline_serializer(
            "LoginResult",
            {
                "status": serializers.ChoiceField(choices=["success"]),
                "user": inline_serializer(
                    "LoginUser",
                    {
                        "id": serializers.CharField(),
                        "email": serializers.CharField(),
                        "name": serializers.CharField(),
                        "role": serializers.CharField(),
                    },
                ),
            },
        ),
    )
    def post(self, request):
        enforce_csrf(request._request)
        serializer = LoginSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = login_flow.attempt_login(request._request, **serializer.validated_data)
        if result.is_throttled:
            raise TooManyLoginAttempts(wait=result.retry_after)
        if not result.is_success:
            return Response(error_body("INVALID_CREDENTIALS", login_flow.INVALID_CREDENTIALS_MESSAGE), status=401)
        response = Response({"status": "success", "user": user_summary(result.user)})
        return login_flow.finish_response(request._request, response, result)


class LogoutView(APIView):
    @extend_schema(request=None, responses=inline_serializer("LogoutResult", {"status": serializers.CharField()}))
    def post(self, request):
        login_flow.end_session(request._request)
        return Response({"status": "success"})
