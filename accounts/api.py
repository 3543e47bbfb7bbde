"""JSON endpoints of the account: CSRF token, sign in and out, who am I, passkeys.

Passkey ceremonies are two calls each: ``.../options/`` answers ``{"publicKey": {...}}``
(what ``navigator.credentials.create()`` or ``.get()`` takes, binary fields base64url) and
keeps the challenge in the session; the next call posts the browser's credential JSON.
A credential that is refused, of any shape, is a 401 (sign-in, step-up) or a 400
(registration) with the error envelope.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.http import Http404, HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters
from drf_spectacular.utils import extend_schema, extend_schema_field, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import factors, login as login_flow, passkeys, services
from accounts.models import Passkey
from accounts.reauth import is_session_user
from core.api import (
    CSRFFailed,
    InvalidCredentials,
    StrictSerializerMixin,
    TooManyLoginAttempts,
    enforce_csrf,
    error_body,
    too_many_login_attempts,
)


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


# What the early count (LoginView.dispatch) reads: a request DRF would hand, unchanged, to
# LoginSerializer and the JSON renderer. Anything else goes through DRF first, as before.
EARLY_CONTENT_TYPES = frozenset(
    {"application/json", "application/json; charset=utf-8", "application/json;charset=utf-8"}
)
EARLY_ACCEPTS = frozenset({"*/*", "application/*", "application/json"})
EARLY_BODY_LIMIT = 16 * 1024  # bytes: a larger body is no plain sign-in
_NOT_PLAIN_TEXT = re.compile("[\x00\ud800-\udfff]")  # refused by DRF's CharField validators


def _is_plain_accept(accept: str) -> bool:
    """DRF would pick the JSON renderer with no parameter (so no indent): nothing else to pick."""
    if not accept:
        return True
    if ";" in accept:
        return False
    return any(item.strip() in EARLY_ACCEPTS for item in accept.split(","))


def plain_login_credentials(request: HttpRequest) -> tuple[str, str] | None:
    """The email and password of a sign-in that LoginSerializer is sure to accept, else None.

    A subset of what DRF accepts, checked without DRF: no ``Authorization`` header (that would
    be authenticated first), no query string (``?format=``), a plain JSON content type and
    ``Accept``, and a small body holding exactly ``email`` and ``password``, both strings
    that pass the serializer's fields unchanged (an email DRF would trim is refused). For
    anything else None: DRF parses and validates it and answers as it always has (400, 415,
    406...). ``tests/accounts/test_early_throttle.py`` checks the subset against the serializer.
    """
    meta = request.META
    if request.method != "POST" or "HTTP_AUTHORIZATION" in meta or meta.get("QUERY_STRING"):
        return None
    if meta.get("CONTENT_TYPE") not in EARLY_CONTENT_TYPES or not _is_plain_accept(meta.get("HTTP_ACCEPT", "")):
        return None
    try:
        length = int(meta.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None
    upload_limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE  # request.body raises above it; DRF's parser does not
    if not 0 < length <= EARLY_BODY_LIMIT or (upload_limit is not None and length > upload_limit):
        return None
    try:
        data = json.loads(request.body.decode("utf-8"))
    except ValueError:  # UnicodeDecodeError included
        return None
    if type(data) is not dict or data.keys() != {"email", "password"}:
        return None
    email, password = data["email"], data["password"]
    if type(email) is not str or type(password) is not str or _NOT_PLAIN_TEXT.search(email + password):
        return None
    if not 0 < len(email) <= 254 or not 0 < len(password) <= 4096:
        return None
    if not is_valid_email(email):
        return None
    return email, password


@functools.lru_cache(maxsize=1024)
def is_valid_email(email: str) -> bool:
    """DRF's EmailField's validator (it also refuses the spaces DRF would trim), remembered.

    Django's ``validate_email`` runs two regular expressions and an IDNA encoding: about 0.1 ms,
    a twentieth of a refused sign-in's CPU. A guessing run sends one address over and over, so
    its answer is kept for the last 1,024 addresses (it depends on nothing but the address).
    """
    try:
        validate_email(email)
    except DjangoValidationError:
        return False
    return True


@dataclass(frozen=True)
class EarlyAttempt:
    """A plainly well-formed sign-in counted before DRF: its credentials and its count.

    The credentials are what LoginSerializer would give (``plain_login_credentials`` takes
    only what it accepts unchanged, the email up to the normalization ``attempt_login``
    applies anyway), so ``LoginView.post`` uses them instead of parsing and validating the
    body a second time.
    """

    email: str
    password: str
    counted: login_flow.CountedAttempt


def count_early(request: HttpRequest) -> EarlyAttempt | None:
    """Count a plainly well-formed sign-in before DRF, after its CSRF check; None to leave it to DRF."""
    credentials = plain_login_credentials(request)
    if credentials is None:
        return None
    try:
        enforce_csrf(request)
    except CSRFFailed:
        return None  # DRF's pass refuses it again, with the same 403
    email, password = credentials
    return EarlyAttempt(email, password, login_flow.count_attempt(request, email))


@method_decorator(sensitive_post_parameters("password"), name="dispatch")
class LoginView(APIView):
    """Sign in with email and password.

    A refused attempt costs little more than the request itself: the attempt is counted
    before DRF wraps and parses the request (:func:`count_early`), and a refusal is answered
    there with the 429 DRF would give (``core.api.too_many_login_attempts``). Every other
    request goes through DRF as before; one counted early is not counted again. The order
    of the answers is the same for every body: a malformed body or a missing CSRF token is
    refused (400, 415, 403) before its attempt is counted, so it never gets a 429 and
    never fills a bucket.
    """

    permission_classes = [AllowAny]
    mfa_enrolment_exempt = True
    throttled_statuses = (429,)  # TOO_MANY_LOGIN_ATTEMPTS, documented by core.schema.AutoSchema
    early: EarlyAttempt | None = None
    early_error: Exception | None = None

    def dispatch(self, request, *args, **kwargs):
        try:
            self.early = count_early(request)
        except Exception as error:  # noqa: BLE001 - raised again in initial(), for DRF to answer
            # An outage while counting (503) or a bug (500): DRF's exception handler answers
            # it, as it did when the attempt was counted in post().
            self.early_error = error
        else:
            if self.early is not None and self.early.counted.retry_after is not None:
                return too_many_login_attempts(self.early.counted.retry_after, allow=", ".join(self.allowed_methods))
        return super().dispatch(request, *args, **kwargs)

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if self.early_error is not None:
            raise self.early_error

    @extend_schema(
        request=LoginSerializer,
        responses=LOGIN_RESULT,
    )
    def post(self, request):
        if self.early is not None:  # CSRF-checked, counted, and what the serializer would accept (EarlyAttempt)
            email, password, counted = self.early.email, self.early.password, self.early.counted
        else:
            enforce_csrf(request._request)
            serializer = LoginSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            email, password = serializer.validated_data["email"], serializer.validated_data["password"]
            counted = None
        result = login_flow.attempt_login(request._request, email=email, password=password, counted=counted)
        if result.is_throttled:
            raise TooManyLoginAttempts(wait=result.retry_after)
        if result.needs_second_step:
            return Response({"status": "mfa_required", "methods": result.methods})
        if not result.is_success:
            return Response(error_body("INVALID_CREDENTIALS", login_flow.INVALID_CREDENTIALS_MESSAGE), status=401)
        response = Response({"status": "success", "user": user_summary(result.user)})
        return login_flow.finish_response(request._request, response, result)


CREDENTIAL_SCHEMA = {
    "type": "object",
    "minProperties": 1,
    "additionalProperties": True,
    "description": "A WebAuthn credential as the browser gives it (PublicKeyCredential.toJSON(): id, rawId, "
    "type, response with base64url fields), answering the options of the matching .../options/ call.",
}


@extend_schema_field(CREDENTIAL_SCHEMA)
class CredentialField(serializers.DictField):
    """A credential's JSON object; its contents are py_webauthn's to judge (a refusal, not a 400)."""

    def to_internal_value(self, data):
        if not isinstance(data, dict) or not data:
            raise serializers.ValidationError("Expected the credential as a non-empty JSON object.")
        return data


PUBLIC_KEY_OPTIONS = inline_serializer(
    "PasskeyOptions",
    {
        "publicKey": serializers.DictField(
            help_text="PublicKeyCredentialCreationOptions or ...RequestOptions in WebAuthn's JSON form: "
            "decode challenge, user.id and each credential id from base64url before calling the browser."
        )
    },
)


class PasskeysUnavailable(exceptions.PermissionDenied):
    """403: passkeys cannot work on this site as configured (an IP address as its origin)."""


def _ensure_passkeys_available() -> None:
    reason = passkeys.unavailable_reason()
    if reason is not None:
        raise PasskeysUnavailable(reason)


def _options_response(options: dict) -> Response:
    return Response({"publicKey": options})


class SecondStepSerializer(StrictSerializerMixin, serializers.Serializer):
    """Exactly one of ``code`` (authenticator app), ``recovery_code`` and ``passkey``."""

    one_of = ("code", "recovery_code", "passkey")  # the schema's oneOf (core.schema.AutoSchema)

    code = serializers.CharField(max_length=16, required=False, trim_whitespace=True)
    recovery_code = serializers.CharField(max_length=64, required=False, trim_whitespace=True)
    passkey = CredentialField(required=False, help_text="Answer to POST /api/auth/login/2fa/options/.")


class InvalidCode(exceptions.AuthenticationFailed):
    default_detail = login_flow.INVALID_CODE_MESSAGE
    default_code = "INVALID_CODE"


class PendingLoginExpired(exceptions.NotAuthenticated):
    default_detail = (
        "No sign-in is waiting for a second step (or it took longer than 300 s): POST /api/auth/login/ again."
    )


def _signed_in(request, result: login_flow.LoginResult, refusal: exceptions.APIException) -> HttpResponse:
    """A last sign-in step's answer: 429 when throttled, ``refusal`` when refused, else the login's 200."""
    if result.is_throttled:
        raise TooManyLoginAttempts(wait=result.retry_after)
    if not result.is_success:
        raise refusal
    response = Response({"status": "success", "user": user_summary(result.user)})
    return login_flow.finish_response(request._request, response, result)


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
        passkey = "passkey" in serializer.validated_data
        return _signed_in(request, result, InvalidCode(login_flow.INVALID_PASSKEY_MESSAGE if passkey else None))


class SecondStepOptionsView(APIView):
    """Options for a passkey as the second step of the sign-in waiting in this session."""

    permission_classes = [AllowAny]
    mfa_enrolment_exempt = True

    @extend_schema(request=None, responses=PUBLIC_KEY_OPTIONS)
    def post(self, request):
        enforce_csrf(request._request)
        _ensure_passkeys_available()
        found = login_flow.pending_login(request._request)
        if found is None:
            raise PendingLoginExpired()
        user, _pending = found
        if not passkeys.has_passkey(user):
            raise exceptions.PermissionDenied("This account has no passkey: use a code instead.")
        options = passkeys.authentication_options(request._request, purpose=passkeys.SECOND_STEP, user=user)
        return _options_response(options)


class PasskeyLoginSerializer(StrictSerializerMixin, serializers.Serializer):
    credential = CredentialField(help_text="Answer to POST /api/auth/login/passkey/options/.")


class PasskeyLoginOptionsView(APIView):
    """Options for signing in with a passkey alone (discoverable, user verification required)."""

    permission_classes = [AllowAny]
    mfa_enrolment_exempt = True

    @extend_schema(request=None, responses=PUBLIC_KEY_OPTIONS)
    def post(self, request):
        enforce_csrf(request._request)
        _ensure_passkeys_available()
        return _options_response(passkeys.authentication_options(request._request, purpose=passkeys.LOGIN))


class PasskeyLoginView(APIView):
    """Sign in with a passkey: no password, no second step (the passkey verified the user)."""

    permission_classes = [AllowAny]
    mfa_enrolment_exempt = True
    throttled_statuses = (429,)

    @extend_schema(request=PasskeyLoginSerializer, responses=LOGIN_RESULT)
    def post(self, request):
        enforce_csrf(request._request)
        serializer = PasskeyLoginSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = login_flow.attempt_passkey_login(request._request, **serializer.validated_data)
        return _signed_in(request, result, InvalidCredentials(login_flow.INVALID_PASSKEY_MESSAGE))


class ReauthenticateSerializer(StrictSerializerMixin, serializers.Serializer):
    """``passkey`` or ``code`` for an account with a passkey or an authenticator app (its
    strongest factor), ``password`` for an account with neither."""

    one_of = ("password", "code", "passkey")

    password = serializers.CharField(max_length=4096, required=False, trim_whitespace=False)
    code = serializers.CharField(max_length=16, required=False, trim_whitespace=True)
    passkey = CredentialField(required=False, help_text="Answer to POST /api/auth/reauthenticate/options/.")


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
            if "passkey" in serializer.validated_data:
                raise InvalidCode(login_flow.INVALID_PASSKEY_MESSAGE)
            if result.methods == [factors.TOTP]:
                raise InvalidCode("That code is not valid: this account re-authenticates with its authenticator app.")
            if result.methods == [factors.PASSKEY]:
                raise InvalidCode(
                    "This account re-authenticates with its passkey (or its authenticator app's code): "
                    "POST /api/auth/reauthenticate/options/ first."
                )
            if "password" not in serializer.validated_data:
                raise InvalidCredentials("This account re-authenticates with its password: send {\"password\": ...}.")
            raise InvalidCredentials("That password is not right.")
        return Response({"status": "success"})


class ReauthenticateOptionsView(APIView):
    """Options for a step-up with one of the signed-in account's passkeys."""

    mfa_enrolment_exempt = True

    @extend_schema(request=None, responses=PUBLIC_KEY_OPTIONS)
    def post(self, request):
        if not is_session_user(request):
            raise exceptions.PermissionDenied("Only a signed-in session can re-authenticate.")
        _ensure_passkeys_available()
        user = login_flow.signed_in_user(request._request)
        if not passkeys.has_passkey(user):
            raise exceptions.PermissionDenied("This account has no passkey.")
        options = passkeys.authentication_options(request._request, purpose=passkeys.REAUTHENTICATE, user=user)
        return _options_response(options)


# --- Passkeys of the signed-in account (a session only: a bearer token gets 403) -----------


class PasskeySerializer(serializers.ModelSerializer):
    class Meta:
        model = Passkey
        fields = ["id", "name", "created_at", "last_used_at", "backup_eligible", "backup_state"]
        read_only_fields = fields


class PasskeyCreatedSerializer(PasskeySerializer):
    recovery_codes = serializers.ListField(
        child=serializers.CharField(),
        read_only=True,
        help_text="New recovery codes, shown this once: 10 when the account had none (its first factor), else empty.",
    )

    class Meta(PasskeySerializer.Meta):
        fields = [*PasskeySerializer.Meta.fields, "recovery_codes"]
        read_only_fields = fields


class PasskeyCreateSerializer(StrictSerializerMixin, serializers.Serializer):
    credential = CredentialField(help_text="Answer to POST /api/auth/passkeys/options/.")
    name = serializers.CharField(max_length=passkeys.NAME_MAX_LENGTH, required=False, trim_whitespace=True)


class PasskeyRenameSerializer(StrictSerializerMixin, serializers.Serializer):
    name = serializers.CharField(max_length=passkeys.NAME_MAX_LENGTH, trim_whitespace=True)


def _session_user(request):
    if not is_session_user(request):
        raise exceptions.PermissionDenied("Passkeys are managed from a signed-in session only.")
    return login_flow.signed_in_user(request._request)


class PasskeyRegistrationOptionsView(APIView):
    """Options for adding a passkey (step-up first: adding a factor is sensitive)."""

    mfa_enrolment_exempt = True  # an admin without a factor must be able to add one
    reauth_methods = ("POST",)

    @extend_schema(request=None, responses=PUBLIC_KEY_OPTIONS)
    def post(self, request):
        user = _session_user(request)
        _ensure_passkeys_available()
        try:
            options = passkeys.registration_options(request._request, user)
        except passkeys.PasskeyError as error:
            raise exceptions.PermissionDenied(error.message) from None
        return _options_response(options)


class PasskeyListView(APIView):
    """The signed-in account's passkeys; POST adds one (the answer to .../options/)."""

    mfa_enrolment_exempt = True
    reauth_methods = ("POST",)

    @extend_schema(responses=PasskeySerializer(many=True))
    def get(self, request):
        user = _session_user(request)
        return Response(PasskeySerializer(Passkey.objects.filter(user=user), many=True).data)

    @extend_schema(request=PasskeyCreateSerializer, responses={201: PasskeyCreatedSerializer})
    def post(self, request):
        user = _session_user(request)
        _ensure_passkeys_available()
        serializer = PasskeyCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            passkey, codes = services.passkey_register(
                user=user,
                request=request._request,
                credential=serializer.validated_data["credential"],
                name=serializer.validated_data.get("name", ""),
            )
        except passkeys.PasskeyError as error:
            raise exceptions.ValidationError({"credential": [error.message]}) from None
        data = {**PasskeySerializer(passkey).data, "recovery_codes": codes}
        return Response(data, status=status.HTTP_201_CREATED)


class PasskeyDetailView(APIView):
    """Rename (PATCH) or remove (DELETE, step-up first) one of the account's own passkeys."""

    mfa_enrolment_exempt = True
    reauth_methods = ("DELETE",)

    def _passkey(self, request, passkey_id) -> Passkey:
        passkey = passkeys.passkey_of(_session_user(request), passkey_id)
        if passkey is None:
            raise Http404  # another account's passkey is not found either
        return passkey

    @extend_schema(request=PasskeyRenameSerializer, responses=PasskeySerializer)
    def patch(self, request, passkey_id):
        passkey = self._passkey(request, passkey_id)
        serializer = PasskeyRenameSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        name = serializer.validated_data["name"]
        passkey = services.passkey_rename(passkey=passkey, name=name, request=request._request)
        return Response(PasskeySerializer(passkey).data)

    @extend_schema(responses={204: None})
    def delete(self, request, passkey_id):
        passkey = self._passkey(request, passkey_id)
        try:
            services.passkey_remove(passkey=passkey, request=request._request)
        except services.LastFactorRequired as error:
            raise exceptions.PermissionDenied(error.message) from None
        return Response(status=status.HTTP_204_NO_CONTENT)


class LogoutView(APIView):
    mfa_enrolment_exempt = True

    @extend_schema(request=None, responses=inline_serializer("LogoutResult", {"status": serializers.CharField()}))
    def post(self, request):
        login_flow.end_session(request._request)
        return Response({"status": "success"})
