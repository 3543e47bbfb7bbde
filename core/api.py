"""The JSON API's shared plumbing: authentication defaults, pagination and the error shape.

Every error under ``/api/`` is ``{"status": "error", "code": CODE, "message": ...}``;
validation errors add ``fields``. Codes are the contract's.
"""

from __future__ import annotations

import functools
import logging
import re
from typing import TYPE_CHECKING, cast

from django.conf import settings
from django.core.exceptions import (
    NON_FIELD_ERRORS,
    PermissionDenied as DjangoPermissionDenied,
    RequestDataTooBig,
    ValidationError as DjangoValidationError,
)
from django.db import DatabaseError
from django.http import Http404, HttpResponse
from django.http.multipartparser import MultiPartParserError
from django.utils.translation import get_language
from django_ratelimit.exceptions import Ratelimited
from rest_framework import authentication, exceptions, serializers, status
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.pagination import PageNumberPagination
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from core.unavailable import RETRY_AFTER_SECONDS, is_service_outage

logger = logging.getLogger("core.api")

class CSRFFailed(exceptions.PermissionDenied):
    default_detail = "CSRF verification failed: send the X-CSRFToken header from GET /api/auth/csrf/."
    default_code = "CSRF_FAILED"

# A view's ``token_scopes`` meaning "every valid access token" (``permissions.drf.TokenScope``).
ANY_TOKEN = "*"


class TooManyLoginAttempts(exceptions.Throttled):
    default_detail = "Too many sign-in attempts. Try again later."
    default_code = "TOO_MANY_LOGIN_ATTEMPTS"


def too_many_login_attempts(wait: int, *, allow: str) -> HttpResponse:
    """The 429 a view's ``TooManyLoginAttempts(wait=wait)`` gets, built without DRF's request cycle.

    For a refusal decided before DRF wraps the request (``accounts.api.LoginView``): the body
    :func:`exception_handler` gives, rendered by the JSON renderer, with its ``Retry-After``,
    and the ``Allow`` header DRF adds (the view's methods). A test compares the two answers.
    """
    body = _too_many_login_attempts_body(wait, get_language())
    response = HttpResponse(body, status=TooManyLoginAttempts.status_code, content_type="application/json")
    response["Retry-After"] = str(wait)
    response["Allow"] = allow
    return response


@functools.lru_cache(maxsize=1024)
def _too_many_login_attempts_body(wait: int, language: str | None) -> bytes:
    """Kept per wait and language: DRF's message (a translated plural) costs more than the rest."""
    message = str(TooManyLoginAttempts(wait=wait).detail)
    return JSONRenderer().render(error_body(TooManyLoginAttempts.default_code, message))


class InvalidCredentials(exceptions.AuthenticationFailed):
    default_detail = "Invalid email or password"
    default_code = "INVALID_CREDENTIALS"


class ServiceUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The service is temporarily unavailable (a database or cache is unreachable). Try again shortly."
    default_code = "SERVICE_UNAVAILABLE"


class RequestBodyTooLarge(exceptions.APIException):
    """A body over ``DATA_UPLOAD_MAX_MEMORY_SIZE``: bad input, as Django's pages answer it (400)."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "VALIDATION_ERROR"

    def __init__(self) -> None:
        super().__init__(f"The request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes.")


class SessionAuthentication(authentication.SessionAuthentication):
    """Cookie sessions; unsafe methods need the X-CSRFToken header."""

    def authenticate_header(self, request) -> str:
        # Makes a missing credential a 401 (not 403) that names the bearer scheme.
        return 'Bearer realm="api"'

    def enforce_csrf(self, request) -> None:
        # Check the Django request itself: DRF's own request would parse the body with
        # the JSON-only parsers and answer 415 for a form body instead of CSRF_FAILED.
        try:
            super().enforce_csrf(getattr(request, "_request", request))
        except exceptions.PermissionDenied:
            raise CSRFFailed() from None


class ContentNegotiation(DefaultContentNegotiation):
    """DRF's choice of renderer, kept per ``Accept`` header and list of renderer classes.

    Without a format (a ``.json`` suffix or ``?format=``), DRF's choice depends on nothing
    else, so it is made once by DRF's own code (:func:`_renderer_choice`) and reused; with a
    format, a long header or none acceptable (406), DRF decides as before. Parsing the header
    each time cost about a tenth of what a bearer read adds to the same view without DRF.
    """

    def select_renderer(self, request, renderers, format_suffix=None):
        meta = request._request.META
        accept = meta.get("HTTP_ACCEPT", "*/*")
        if format_suffix or len(accept) > MEMO_ACCEPT_LENGTH:
            return super().select_renderer(request, renderers, format_suffix)
        if meta.get("QUERY_STRING") and request.query_params.get(self.settings.URL_FORMAT_OVERRIDE):
            return super().select_renderer(request, renderers, format_suffix)
        choice = _renderer_choice(accept, tuple(type(renderer) for renderer in renderers))
        if choice is None:
            return super().select_renderer(request, renderers, format_suffix)  # raises NotAcceptable
        index, media_type = choice
        return renderers[index], media_type


# Headers longer than this are negotiated every time: the kept choices stay small (256 x 256).
MEMO_ACCEPT_LENGTH = 256


class _AcceptOnly:
    """What DRF's negotiation reads of a request without a format: the ``Accept`` header."""

    def __init__(self, accept: str) -> None:
        self.headers = {"accept": accept}
        self.query_params: dict[str, str] = {}


@functools.lru_cache(maxsize=256)
def _renderer_choice(accept: str, renderer_classes: tuple[type, ...]) -> tuple[int, str] | None:
    """DRF's (renderer's index, accepted media type) for this header, or None (406)."""
    renderers = [renderer_class() for renderer_class in renderer_classes]
    try:
        request = cast(Request, _AcceptOnly(accept))  # all a negotiation without a format reads
        renderer, media_type = DefaultContentNegotiation().select_renderer(request, renderers)
    except exceptions.NotAcceptable:
        return None
    return renderers.index(renderer), media_type


def enforce_csrf(request) -> None:
    """CSRF check for an API view that runs before anyone is signed in (login)."""
    SessionAuthentication().enforce_csrf(request)


class Pagination(PageNumberPagination):
    page_size = 50
    max_page_size = 500
    page_size_query_param = "page_size"

    def paginate_queryset(self, queryset, request, view=None):
        self._validate_positive(request, "page")
        self._validate_positive(request, self.page_size_query_param)
        return super().paginate_queryset(queryset, request, view)

    @staticmethod
    def _validate_positive(request, name: str) -> None:
        raw = request.query_params.get(name)
        if raw is None:
            return
        if not re.fullmatch(r"[0-9]+", raw) or int(raw) < 1:
            raise exceptions.ValidationError({name: ["Must be a positive integer."]})

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["schema"]["minimum"] = 1  # _validate_positive
        return parameters

    def get_page_size(self, request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        return min(int(raw), self.max_page_size) if raw else self.page_size


CODES: list[tuple[type[BaseException], str]] = [
    (exceptions.ValidationError, "VALIDATION_ERROR"),
    (exceptions.ParseError, "VALIDATION_ERROR"),
    (exceptions.NotAuthenticated, "NOT_AUTHENTICATED"),
    (exceptions.AuthenticationFailed, "INVALID_TOKEN"),
    (exceptions.PermissionDenied, "FORBIDDEN"),
    (exceptions.NotFound, "NOT_FOUND"),
    (exceptions.MethodNotAllowed, "METHOD_NOT_ALLOWED"),
    (exceptions.UnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE"),
    (exceptions.NotAcceptable, "NOT_ACCEPTABLE"),
    (exceptions.Throttled, "TOO_MANY_REQUESTS"),
]


def error_body(code: str, message: str, fields: dict | None = None) -> dict:
    body: dict[str, object] = {"status": "error", "code": code, "message": message}
    if fields is not None:
        body["fields"] = fields
    return body


def _code_for(exc: exceptions.APIException) -> str:
    own = getattr(exc, "default_code", "")
    if own and own.isupper():
        return own
    for cls, code in CODES:
        if isinstance(exc, cls):
            return code
    return "SERVER_ERROR"


def _normalize(exc: BaseException) -> exceptions.APIException | None:
    if isinstance(exc, exceptions.APIException):
        return exc
    if isinstance(exc, MultiPartParserError):
        # Django's CSRF check reads a form body before the view could refuse it as not JSON.
        return exceptions.UnsupportedMediaType(
            "multipart/form-data", "Malformed multipart body; the API takes application/json."
        )
    if isinstance(exc, RequestDataTooBig):
        return RequestBodyTooLarge()
    if isinstance(exc, Http404):
        return exceptions.NotFound("Not found.")
    if isinstance(exc, Ratelimited):
        return exceptions.Throttled(wait=60)
    if isinstance(exc, DjangoPermissionDenied):
        return exceptions.PermissionDenied(str(exc) or "You do not have permission to perform this action.")
    if isinstance(exc, DjangoValidationError):
        return exceptions.ValidationError(_django_validation_detail(exc))
    if is_service_outage(exc):
        return ServiceUnavailable()
    return None


def _django_validation_detail(exc: DjangoValidationError) -> dict[str, list[str]]:
    """A model's ``full_clean()`` error as DRF's field map; ``__all__`` becomes ``non_field_errors``."""
    if not hasattr(exc, "error_dict"):
        return {"non_field_errors": exc.messages}
    return {
        ("non_field_errors" if name == NON_FIELD_ERRORS else name): messages
        for name, messages in exc.message_dict.items()
    }


def _message_and_fields(exc: exceptions.APIException) -> tuple[str, dict | None]:
    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        fields = {name: [str(m) for m in (msgs if isinstance(msgs, list) else [msgs])] for name, msgs in detail.items()}
        names = ", ".join(sorted(fields))
        return f"Invalid input: {names}.", fields
    if isinstance(exc, exceptions.ParseError):
        return f"Malformed request body: {exc.detail}", None
    return str(exc.detail), None


def exception_handler(exc: BaseException, context: dict) -> Response:
    """Render every API error in the contract's shape; never a stack trace."""
    api_exc = _normalize(exc)
    if api_exc is None:
        if isinstance(exc, DatabaseError):
            logger.exception("database error in the API")
        else:
            logger.exception("unhandled error in the API")
        return Response(error_body("SERVER_ERROR", "Internal server error."), status=500)
    message, fields = _message_and_fields(api_exc)
    response = Response(error_body(_code_for(api_exc), message, fields), status=api_exc.status_code)
    # Throttled.__init__ sets ``wait``; the DRF stubs leave it out.
    if isinstance(api_exc, exceptions.Throttled) and api_exc.wait:  # type: ignore[attr-defined]
        response["Retry-After"] = str(int(api_exc.wait))  # type: ignore[attr-defined]
    if isinstance(api_exc, ServiceUnavailable):
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    auth_header = getattr(api_exc, "www_authenticate", None) or getattr(api_exc, "auth_header", None)
    if auth_header:
        response["WWW-Authenticate"] = auth_header
    return response


class StrictBooleanField(serializers.BooleanField):
    """A JSON boolean, nothing else: not "true", "yes", 1 or "on" (DRF's BooleanField takes those)."""

    def to_internal_value(self, data):
        if isinstance(data, bool):
            return data
        self.fail("invalid", input=data)


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer, nothing else: not "5", true or 5.5 (DRF's IntegerField takes the first two)."""

    def to_internal_value(self, data):
        if (
            isinstance(data, bool)
            or not isinstance(data, int | float)
            or (isinstance(data, float) and not data.is_integer())
        ):
            self.fail("invalid")
        return super().to_internal_value(int(data))


if TYPE_CHECKING:
    _SerializerBase = serializers.Serializer
else:
    _SerializerBase = object


class StrictSerializerMixin(_SerializerBase):
    """Refuse fields the client may not set, naming them, instead of silently dropping them.

    ``one_of = ("a", "b")`` asks for exactly one of those fields, non-empty (the schema says
    ``oneOf``, see ``core.schema.AutoSchema``).
    """

    one_of: tuple[str, ...] = ()

    def validate(self, data):
        if self.one_of and sum(1 for name in self.one_of if data.get(name)) != 1:
            raise exceptions.ValidationError({"non_field_errors": [f"Send one of: {', '.join(self.one_of)}."]})
        return super().validate(data)

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise exceptions.ValidationError({"non_field_errors": ["Expected a JSON object."]})
        writable = {name for name, field in self.fields.items() if not field.read_only}
        unknown = sorted(set(data) - writable)
        if unknown:
            raise exceptions.ValidationError({name: ["This field cannot be set."] for name in unknown})
        return super().to_internal_value(data)
