"""How the OpenAPI schema (drf-spectacular) describes authentication, errors and request bodies."""

import copy

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema as DrfAutoSchema
from drf_spectacular.plumbing import ResolvedComponent, force_instance
from rest_framework import serializers
from rest_framework.mixins import ListModelMixin
from rest_framework.permissions import AllowAny

from core.api import ANY_TOKEN, StrictSerializerMixin


class SessionScheme(OpenApiAuthenticationExtension):
    target_class = "core.api.SessionAuthentication"
    name = "session"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "cookie",
            "name": "sessionid",
            "description": "The session cookie from POST /api/auth/login/; unsafe methods also need X-CSRFToken.",
        }


class BearerScheme(OpenApiAuthenticationExtension):
    target_class = "oauth.authentication.BearerAuthentication"
    name = "bearer"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An OAuth 2 access token from /o/token/ or a personal access token (pat_...) from "
            "/accounts/tokens/, in the Authorization header only.",
        }


# --- Error responses ---------------------------------------------------------------------

# Every code the contract's error table names (core.api renders them all in one envelope).
ERROR_CODES = [
    "VALIDATION_ERROR",
    "INVALID_CREDENTIALS",
    "INVALID_CODE",
    "NOT_AUTHENTICATED",
    "INVALID_TOKEN",
    "FORBIDDEN",
    "INSUFFICIENT_SCOPE",
    "CSRF_FAILED",
    "MFA_ENROLMENT_REQUIRED",
    "REAUTH_REQUIRED",
    "NOT_FOUND",
    "NOT_ACCEPTABLE",
    "UNSUPPORTED_MEDIA_TYPE",
    "TOO_MANY_LOGIN_ATTEMPTS",
    "TOO_MANY_REQUESTS",
    "SERVICE_UNAVAILABLE",
]

ERROR_SCHEMA = {
    "type": "object",
    "description": "The error envelope of every response under /api/ that is not a success.",
    "properties": {
        "status": {"type": "string", "enum": ["error"]},
        "code": {"type": "string", "enum": ERROR_CODES},
        "message": {"type": "string"},
        "fields": {
            "type": "object",
            "description": "Validation errors only: each refused field (or non_field_errors) with its messages.",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
    },
    "required": ["status", "code", "message"],
    "additionalProperties": False,
}

RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before trying again.", "schema": {"type": "integer"}}}
WWW_AUTHENTICATE = {
    "WWW-Authenticate": {"description": "The Bearer challenge (RFC 6750).", "schema": {"type": "string"}}
}

ERROR_DESCRIPTIONS = {
    400: "VALIDATION_ERROR: bad input (a body, a query parameter or malformed JSON); `fields` names what was refused.",
    401: "NOT_AUTHENTICATED (no credential), INVALID_TOKEN (an expired, revoked or unknown bearer token), "
    "INVALID_CREDENTIALS (sign-in only), INVALID_CODE (a wrong second-factor code).",
    403: "FORBIDDEN (authenticated, not allowed), INSUFFICIENT_SCOPE (the token's scopes do not cover the "
    "action), CSRF_FAILED (a session request without the X-CSRFToken header), MFA_ENROLMENT_REQUIRED (the "
    "caller's role needs a second factor and has none) or REAUTH_REQUIRED (a sensitive action: step up first).",
    404: "NOT_FOUND: no such object or page, or one the caller may not view.",
    406: "NOT_ACCEPTABLE: the Accept header names no type the API answers in (JSON).",
    415: "UNSUPPORTED_MEDIA_TYPE: a body that is not application/json.",
    429: "TOO_MANY_LOGIN_ATTEMPTS or TOO_MANY_REQUESTS: throttled.",
    503: "SERVICE_UNAVAILABLE: the database or the cache is unreachable.",
}
ERROR_HEADERS = {401: WWW_AUTHENTICATE, 403: WWW_AUTHENTICATE, 429: RETRY_AFTER, 503: RETRY_AFTER}

UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def _python_whitespace() -> str:
    """A regex class body of exactly the characters ``str.strip()`` removes (what DRF trims)."""
    return "".join(f"\\u{code:04x}" for code in range(0x10000) if chr(code).isspace())


# DRF's CharField refuses NUL characters; one that trims whitespace also refuses a value
# that is only whitespace. Written with explicit code points so the ECMA regex the schema
# promises and Python's str.strip() agree on what whitespace is.
NO_NUL_PATTERN = "^[^\\u0000]*$"
NON_BLANK_PATTERN = f"^[^\\u0000]*[^\\u0000{_python_whitespace()}][^\\u0000]*$"


class AutoSchema(DrfAutoSchema):
    """drf-spectacular's AutoSchema, telling the whole truth about requests and errors.

    - Every operation documents the error responses it can actually answer, each one
      with the contract's envelope (the ``Error`` component).
    - A request body refuses unknown properties (``StrictSerializerMixin``), and its text
      fields say what DRF refuses (NUL characters, whitespace-only values).
    """

    def error_statuses(self) -> list[int]:
        view, method = self.view, self.method.upper()
        has_body = method in {"POST", "PUT", "PATCH"} and self.get_request_serializer() is not None
        paginated = method == "GET" and isinstance(view, ListModelMixin) and self._get_paginator() is not None
        detail = "{" in self.path
        needs_auth = not all(isinstance(p, AllowAny) for p in view.get_permissions())
        statuses = {401, 406, 503}  # any request: a bad bearer token, an Accept it cannot serve, an outage
        if has_body or paginated:
            statuses.add(400)
        if method in UNSAFE_METHODS or (needs_auth and getattr(view, "token_scopes", None) != ANY_TOKEN):
            statuses.add(403)  # CSRF; a token without the scope; the policy's denial
        if detail or paginated:
            statuses.add(404)  # no such object (or not visible); a page past the end
        if has_body or method == "POST":
            statuses.add(415)  # not JSON; or for any POST, a malformed form body the CSRF check reads
        statuses.update(getattr(view, "throttled_statuses", ()))
        return sorted(statuses)

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        # A copy: drf-spectacular's enum postprocessing rewrites the schema it is given in place.
        component = ResolvedComponent(
            name="Error", type=ResolvedComponent.SCHEMA, schema=copy.deepcopy(ERROR_SCHEMA), object="Error"
        )
        self.registry.register_on_missing(component)
        for status in self.error_statuses():
            response = {
                "description": ERROR_DESCRIPTIONS[status],
                "content": {"application/json": {"schema": component.ref}},
            }
            if status in ERROR_HEADERS:
                response["headers"] = ERROR_HEADERS[status]
            responses.setdefault(str(status), response)
        return responses

    def _get_request_body(self, direction="request"):
        body = super()._get_request_body(direction)
        if body and isinstance(force_instance(self.get_request_serializer()), StrictSerializerMixin):
            body["required"] = True  # no body is {}: every strict serializer refuses it
        return body

    def _map_serializer(self, serializer, direction, bypass_extensions=False):
        schema = super()._map_serializer(serializer, direction, bypass_extensions)
        if direction == "request" and isinstance(force_instance(serializer), StrictSerializerMixin):
            schema["additionalProperties"] = False
            min_properties = getattr(serializer, "min_properties", None)
            if min_properties:
                schema["minProperties"] = min_properties
            one_of = getattr(serializer, "one_of", None)  # exactly one of these fields
            if one_of:
                schema["oneOf"] = [{"required": [name]} for name in one_of]
        return schema

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if direction != "request" or not schema or field.read_only:
            return schema
        if isinstance(field, serializers.CharField) and not field.allow_blank and "$ref" not in schema:
            schema.setdefault("minLength", 1)  # DRF: "This field may not be blank."
        plain_text = type(field) is serializers.CharField and schema.get("type") == "string"
        if plain_text and "pattern" not in schema:
            schema["pattern"] = NON_BLANK_PATTERN if field.trim_whitespace and not field.allow_blank else NO_NUL_PATTERN
        return schema
