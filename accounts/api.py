"""JSON endpoints of the account: CSRF token, sign in and out, who am I."""

from __future__ import annotations

from django.middleware.csrf import get_token
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import exceptions, serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import factors, login as login_flow
from accounts.reauth import is_session_user
from core.api import InvalidCredentials, StrictSerializerMixin, TooManyLoginAttempts, enforce_csrf, error_body


class LoginSerializer(StrictSerializerMixin, serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(max_length=4096, trim_whitespace=False)


def user_summary(user) -> dict:
    return {"id": str(user.pk), "email": user.email, "name": user.name, "role": user.role}


LOGIN_RESULT = inline_serializer(
    "LoginResult",
    {
        # "mfa_required": the password was right, the second step comes next (no session yet).
        "status": serializers.ChoiceField(choices=["success", "mfa_required"]),
        "methods": serializers.ListField(child=serializers.CharField(), required=False),
        "user": inline_serializer(
            "LoginUser",
            {
                "id": serializers.CharField(),
                "email": serializers.CharField(),
                "name": serializers.CharField(),
                "role": serializers.CharField(),
            },
            required=False,
        ),
    },
)


class CsrfView(APIView):
    permission_classes = [AllowAny]
    mfa_enrolment_exempt = True

    @extend_schema(responses=inline_serializer("CsrfToken", {"csrfToken": serializers.CharField()}))
    def get(self, request):
        return Response({"csrfToken": get_token(request._request)})


@method_decorator(sensitive_post_parameters("password"), name="dispatch")
class LoginView(APIView):
    permission_classes = [AllowAny]
    mfa_enrolment_exempt = True
    throttled_statuses = (429,)  # TOO_MANY_LOGIN_ATTEMPTS, documented by core.schema.AutoSchema

    @extend_schema(
        request=LoginSerializer,
        responses=LOGIN_RESULT,
    )
    def post(self, request):
        enforce_csrf(request._request)
        serializer = LoginSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = login_flow.attempt_login(request._request, **serializer.validated_data)
        if result.is_throttled:
            raise TooManyLoginAttempts(wait=result.retry_after)
        if result.needs_second_step:
            return Response({"status": "mfa_required", "methods": result.methods})
        if not result.is_success:
            return Response(error_body("INVALID_CREDENTIALS", login_flow.INVALID_CREDENTIALS_MESSAGE), status=401)
        response = Response({"status": "success", "user": user_summary(result.user)})
        return login_flow.finish_response(request._request, response, result)


class SecondStepSerializer(StrictSerializerMixin, serializers.Serializer):
    """Exactly one of ``code`` (authenticator app) and ``recovery_code``."""

    one_of = ("code", "recovery_code")  # the schema's oneOf (core.schema.AutoSchema)

    code = serializers.CharField(max_length=16, required=False, trim_whitespace=True)
    recovery_code = serializers.CharField(max_length=64, required=False, trim_whitespace=True)


class InvalidCode(exceptions.AuthenticationFailed):
    default_detail = login_flow.INVALID_CODE_MESSAGE
    default_code = "INVALID_CODE"


class PendingLoginExpired(exceptions.NotAuthenticated):
    default_detail = (
        "No sign-in is waiting for a second step (or it took longer than 300 s): POST /api/auth/login/ again."
    )


@method_decorator(sensitive_post_parameters("code", "recovery_code"), name="dispatch")
class SecondStepView(APIView):
    """The second step of a sign-in that answered ``mfa_required``."""

    permission_classes = [AllowAny]
    mfa_enrolment_exempt = True
    throttled_statuses = (429,)

    @extend_schema(request=SecondStepSerializer, responses=LOGIN_RESULT)
    def post(self, request):
        enforce_csrf(request._request)
        serializer = SecondStepSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = login_flow.attempt_second_step(request._request, **serializer.validated_data)
        if result.is_expired:
            raise PendingLoginExpired()
        if result.is_throttled:
            raise TooManyLoginAttempts(wait=result.retry_after)
        if not result.is_success:
            raise InvalidCode()
        response = Response({"status": "success", "user": user_summary(result.user)})
        return login_flow.finish_response(request._request, response, result)


class ReauthenticateSerializer(StrictSerializerMixin, serializers.Serializer):
    """``password``, or ``code`` for an account with an authenticator app (its strongest factor)."""

    one_of = ("password", "code")

    password = serializers.CharField(max_length=4096, required=False, trim_whitespace=False)
    code = serializers.CharField(max_length=16, required=False, trim_whitespace=True)


@method_decorator(sensitive_post_parameters("password", "code"), name="dispatch")
class ReauthenticateView(APIView):
    """Step-up: prove it is you again; sensitive actions then work for REAUTH_MAX_AGE seconds."""

    mfa_enrolment_exempt = True
    throttled_statuses = (429,)

    @extend_schema(
        request=ReauthenticateSerializer,
        responses=inline_serializer("ReauthResult", {"status": serializers.ChoiceField(choices=["success"])}),
    )
    def post(self, request):
        if not is_session_user(request):
            raise exceptions.PermissionDenied("Only a signed-in session can re-authenticate.")
        serializer = ReauthenticateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = login_flow.attempt_reauthentication(request._request, **serializer.validated_data)
        if result.is_throttled:
            raise TooManyLoginAttempts(wait=result.retry_after)
        if not result.is_success:
            if result.methods == [factors.TOTP]:
                raise InvalidCode("That code is not valid: this account re-authenticates with its authenticator app.")
            raise InvalidCredentials("That password is not right.")
        return Response({"status": "success"})


class LogoutView(APIView):
    mfa_enrolment_exempt = True

    @extend_schema(request=None, responses=inline_serializer("LogoutResult", {"status": serializers.CharField()}))
    def post(self, request):
        login_flow.end_session(request._request)
        return Response({"status": "success"})
