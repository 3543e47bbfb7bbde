"""The provider's endpoints: DOT's views, narrowed to this project's rules."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from datetime import UTC, datetime
from urllib.parse import parse_qsl, unquote_plus, urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.hashers import check_password
from django.core.exceptions import BadRequest, DisallowedRedirect, SuspiciousOperation
from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from jwcrypto.common import base64url_decode
from oauth2_provider import views as dot_views
from oauth2_provider.exceptions import InvalidIDTokenError, InvalidOIDCClientError, OAuthToolkitError
from oauth2_provider.http import OAuth2ResponseRedirect
from oauth2_provider.models import get_access_token_model, get_application_model
from oauth2_provider.oauth2_backends import _add_iss_to_redirect
from oauth2_provider.signals import app_authorized

from accounts import audit, factors, reauth, sessions, throttles
from accounts.net import client_ip
from oauth import consent, selectors, services, token_cache
from oauth.forms import PersonalTokenForm
from oauth.models import Consent
from oauth.server import ALLOWED_GRANT_TYPES, ALLOWED_RESPONSE_TYPES
from oauth.validators import load_client_row, may_use_tokens, rfc8176_amr
from permissions.scopes import catalogue, describe

Application = get_application_model()
AccessToken = get_access_token_model()

CONSENT_FIELDS = (
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "response_type",
    "code_challenge",
    "code_challenge_method",
    "nonce",
)
PENDING_KEY = "oauth_pending_consent"
PROMPT_VALUES = ("none", "login", "consent")
RESPONSE_MODES = ("query",)


def is_loopback_redirect(uri: str) -> bool:
    parts = urlsplit(uri)
    return parts.scheme == "http" and parts.hostname in {"127.0.0.1", "::1"}


def session_auth_time(request) -> datetime | None:
    auth_at = request.session.get(sessions.AUTH_AT)
    return datetime.fromtimestamp(auth_at, tz=UTC) if isinstance(auth_at, (int, float)) else None


def session_amr(request) -> list[str]:
    amr = request.session.get(sessions.AMR)
    return [str(m) for m in amr] if isinstance(amr, list) else []


def parse_max_age(value: str | None) -> int | None:
    """``max_age`` as seconds: ASCII digits only (``str.isdigit`` also takes "²"), else None."""
    if value is None or not re.fullmatch(r"[0-9]{1,12}", value):
        return None
    return int(value)


def without_params(url: str, *names: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in names]
    return urlunsplit(parts._replace(query=urlencode(query)))


class AuthorizeView(dot_views.AuthorizationView):
    """Authorization with PKCE S256 only, remembered consent, prompt and max_age."""

    template_name = "oauth2_provider/authorize.html"

    def dispatch(self, request, *args, **kwargs):
        response = super().dispatch(request, *args, **kwargs)
        response["Referrer-Policy"] = "no-referrer"
        return response

    # --- redirects back to the client -----------------------------------------

    def redirect(self, redirect_to, application):
        """Back to the client: https, or http on loopback (RFC 8252); always with ``iss`` (RFC 9207)."""
        schemes = ["https", "http"] if is_loopback_redirect(redirect_to) else ["https"]
        # Error redirects raised while validating the request come with application=None;
        # they too are authorization responses (to a redirect URI oauthlib has already
        # matched: fatal errors never redirect), so they carry ``iss`` as well.
        redirect_to = _add_iss_to_redirect(redirect_to, settings.OAUTH2_PROVIDER["OIDC_ISS_ENDPOINT"])
        return OAuth2ResponseRedirect(redirect_to, schemes)

    def _redirect_error(self, credentials: dict, application, error: str, description: str):
        params = {"error": error, "error_description": description}
        if credentials.get("state"):
            params["state"] = credentials["state"]
        uri = credentials["redirect_uri"]
        separator = "&" if "?" in uri else "?"
        return self.redirect(f"{uri}{separator}{urlencode(params)}", application)

    def _reauthenticate(self):
        """Send the user to sign in again, then back here.

        The way back drops ``prompt`` and ``max_age``: the sign-in that follows is the
        fresh authentication they asked for (``max_age=0``, or a small max_age and a slow
        redirect, would otherwise send the user round again). ``auth_time`` in the ID
        token tells the client when that was.
        """
        next_url = without_params(self.request.get_full_path(), "prompt", "max_age")
        return redirect(f"{reverse('accounts:login')}?{urlencode({'next': next_url, 'reauth': '1'})}")

    # --- the request --------------------------------------------------------------

    def handle_no_permission(self):
        """An anonymous browser: refuse what no sign-in would cure before asking for one."""
        try:
            _scopes, credentials = self.validate_authorization_request(self.request)
        except OAuthToolkitError:
            return super().handle_no_permission()  # DOT's error page or the login page
        application = Application.objects.get(client_id=credentials["client_id"])
        return self._refusal(credentials, application) or super().handle_no_permission()

    def get(self, request, *args, **kwargs):
        try:
            scopes, credentials = self.validate_authorization_request(request)
        except OAuthToolkitError as error:
            return self.error_response(error, application=None)
        application = Application.objects.select_related("client_policy").get(client_id=credentials["client_id"])
        refusal = self._refusal(credentials, application)
        if refusal is not None:
            return refusal
        prompt = set(request.GET.get("prompt", "").split())
        if self._needs_fresh_login(prompt):
            if "none" in prompt:
                return self._redirect_error(credentials, application, "login_required", "The user must sign in again.")
            return self._reauthenticate()
        credentials["auth_time"] = session_auth_time(request)
        credentials["amr"] = session_amr(request)
        # prompt=consent (OIDC Core 3.1.2.1): ask again even when the scopes were approved.
        # is_covered is False for a public client's loopback URI on an unregistered port.
        if "consent" not in prompt and consent.is_covered(
            request.user, application, scopes, credentials["redirect_uri"]
        ):
            return self._issue(request, scopes, credentials, application)
        if "none" in prompt:
            return self._redirect_error(
                credentials, application, "consent_required", "The user has not approved these scopes."
            )
        return self._consent_page(request, scopes, credentials, application)

    def _refusal(self, credentials: dict, application):
        """The error response for a request this server does not serve, else None.

        Called once oauthlib has matched the client and its redirect URI, so each error
        goes back to the client. The discovery documents advertise exactly what passes.
        """
        params = self.request.GET
        if "request" in params:
            return self._redirect_error(
                credentials, application, "request_not_supported", "Request objects are not supported."
            )
        if "request_uri" in params:
            return self._redirect_error(
                credentials, application, "request_uri_not_supported", "request_uri is not supported."
            )
        if credentials.get("code_challenge_method") != "S256":
            # A missing method means "plain" (RFC 7636); only S256 is accepted, and it is
            # refused here, before any consent is asked.
            return self._redirect_error(
                credentials, application, "invalid_request", "code_challenge_method must be S256."
            )
        if params.get("response_mode", "query") not in RESPONSE_MODES:
            return self._redirect_error(
                credentials, application, "invalid_request", "Only response_mode=query is supported."
            )
        prompt = set(params.get("prompt", "").split())
        if not prompt <= set(PROMPT_VALUES):
            return self._redirect_error(
                credentials, application, "invalid_request", f"prompt may only be {', '.join(PROMPT_VALUES)}."
            )
        if "none" in prompt and len(prompt) > 1:
            return self._redirect_error(credentials, application, "invalid_request", "prompt=none cannot be combined.")
        if "max_age" in params and parse_max_age(params["max_age"]) is None:
            return self._redirect_error(
                credentials, application, "invalid_request", "max_age must be a whole number of seconds."
            )
        return None

    def _needs_fresh_login(self, prompt: set[str]) -> bool:
        if "login" in prompt:
            return True
        if "mfa" in self.request.GET.get("acr_values", "").split() and self._can_do_more_than_this_session():
            return True  # the client asks for two factors: sign in again with both
        max_age = parse_max_age(self.request.GET.get("max_age"))
        if max_age is None:
            return False
        if max_age == 0:
            return True  # OIDC Core 3.1.2.1: like prompt=login
        auth_time = session_auth_time(self.request)
        return auth_time is None or (datetime.now(UTC) - auth_time).total_seconds() > max_age

    def _can_do_more_than_this_session(self) -> bool:
        """The account has a second factor this session's sign-in did not use."""
        return "mfa" not in rfc8176_amr(session_amr(self.request)) and factors.has_second_factor(self.request.user)

    def _issue(self, request, scopes, credentials, application):
        try:
            uri, _headers, _body, _status = self.create_authorization_response(
                request=request, scopes=" ".join(scopes), credentials=credentials, allow=True
            )
        except OAuthToolkitError as error:
            return self.error_response(error, application)
        return self.redirect(uri, application)

    def _consent_page(self, request, scopes, credentials, application):
        granted = set()
        existing = Consent.objects.filter(user=request.user, application=application).first()
        if existing is not None:
            granted = set(existing.scope_list)
        pending = {field: credentials.get(field) or "" for field in CONSENT_FIELDS}
        pending["scope"] = " ".join(scopes)
        request.session[PENDING_KEY] = pending
        self.oauth2_data = {**credentials, "scope": scopes, "scopes": scopes}
        form = self.get_form(self.get_form_class())
        context = {
            "form": form,
            "application": application,
            "redirect_host": urlsplit(credentials["redirect_uri"]).netloc,
            "requested_scopes": describe(scopes),
            "new_scopes": [scope for scope in describe(scopes) if scope.name not in granted],
            "granted_scopes": [scope for scope in describe(scopes) if scope.name in granted],
        }
        response = self.render_to_response(context)
        origin = "{0.scheme}://{0.netloc}".format(urlsplit(credentials["redirect_uri"]))
        # The consent POST ends in a redirect to the client; Chromium applies form-action to it.
        response["Content-Security-Policy"] = settings.CONTENT_SECURITY_POLICY.replace(
            "form-action 'self'", f"form-action 'self' {origin}"
        )
        return response

    def post(self, request, *args, **kwargs):
        pending = request.session.pop(PENDING_KEY, None)
        posted = {field: request.POST.get(field, "") for field in CONSENT_FIELDS}
        if pending is None or posted != pending:
            # The hidden fields must be exactly what this server showed: no widened scope,
            # no other client or redirect URI.
            return render(
                request,
                "oauth2_provider/authorize.html",
                {
                    "error": {
                        "error": "invalid_request",
                        "description": "This consent form is stale or was altered. Start again from the app.",
                    }
                },
                status=400,
            )
        return super().post(request, *args, **kwargs)

    def create_authorization_response(self, request, scopes, credentials, allow):
        credentials.setdefault("auth_time", session_auth_time(request))
        credentials.setdefault("amr", session_amr(request))
        application = Application.objects.filter(client_id=credentials.get("client_id")).first()
        is_consent_post = request.method == "POST"
        try:
            result = super().create_authorization_response(request, scopes, credentials, allow)
        except OAuthToolkitError:
            if is_consent_post and not allow:
                audit.record(
                    audit.Event.CONSENT_DENIED,
                    outcome=audit.Outcome.DENIED,
                    request=request,
                    client_id=credentials.get("client_id", ""),
                )
            raise
        if is_consent_post and allow and application is not None:
            granted = scopes.split() if isinstance(scopes, str) else list(scopes)
            consent.remember(request.user, application, granted)
            audit.record(
                audit.Event.CONSENT_GRANTED,
                request=request,
                client_id=application.client_id,
                reason=f"scope {' '.join(granted)}",
            )
        return result


# The token request's credentials never reach an error report (DOT marks two of them on the
# method this view skips when nothing listens for app_authorized).
TOKEN_REQUEST_SECRETS = ("client_secret", "code", "code_verifier", "refresh_token", "password")


@method_decorator(csrf_exempt, name="dispatch")
@method_decorator(login_not_required, name="dispatch")
@method_decorator(sensitive_post_parameters(*TOKEN_REQUEST_SECRETS), name="dispatch")
class TokenView(dot_views.TokenView):
    """The token endpoint, rate-limited per IP and, once the client has authenticated, per client.

    Every request counts per IP before anything is read. The per-client count happens when
    the client authenticates (``oauth.validators.Validator.authenticate_client``), so
    requests that merely name a client cannot use up that client's budget.
    """

    def post(self, request, *args, **kwargs):
        # One round trip: the per-IP count and, read ahead for the client look-up, the cache entry
        # of the client the request names (oauth.token_cache.client_read_ahead).
        counts, read_ahead = throttles.count_and_read(
            [("oauth:token:ip", client_ip(request), settings.TOKEN_RATE_PER_IP)],
            token_cache.client_keys_to_read_ahead(named_client_id(request)),
        )
        wait = throttles.wait_of(counts)
        if wait is not None:
            response = JsonResponse(
                {"error": "temporarily_unavailable", "error_description": "Too many token requests from this address."},
                status=429,
            )
            response["Retry-After"] = str(wait)
            response["Cache-Control"] = "no-store"
            return response
        # Not super().post(): DOT's post() serves grant_type=device_code itself, outside
        # the server (a 500 without device_code). The device grant does not exist here,
        # so every grant type goes to the server, which answers unsupported_grant_type.
        try:
            with token_cache.client_read_ahead(read_ahead):
                response = self.authorization_flow_token_response(request)
        except AccessToken.DoesNotExist:
            # With an app_authorized receiver connected, DOT re-reads the access token it
            # has just issued. A simultaneous exchange of the same code or refresh token is
            # a replay, and its revocation of the family may already have deleted that
            # token: what this request issued is dead, so it is invalid_grant, not a 500.
            response = JsonResponse(
                {
                    "error": "invalid_grant",
                    "error_description": "The grant was used more than once; its tokens are revoked.",
                },
                status=400,
            )
        # An error raised while the tokens are saved (a replay, an invalid resource) reaches
        # DOT with oauthlib's error headers only: it is JSON and no-store all the same.
        response["Content-Type"] = "application/json"
        response["Cache-Control"] = "no-store"
        response["Pragma"] = "no-cache"
        return response


    def authorization_flow_token_response(self, request, *args, **kwargs):
        """DOT's, without its read-back of the token just issued when nothing needs it.

        DOT reads the new access token back from the database only to send ``app_authorized``;
        this project has no receiver, so with none connected that statement is skipped for
        every grant. (A replay of the same code or refresh token that wins the race after
        this response was built revokes what it carries all the same: the read-back never
        made a race's loser safe, it only narrowed the window.)
        """
        if app_authorized.has_listeners():
            return super().authorization_flow_token_response(request, *args, **kwargs)
        _url, headers, body, status = self.create_token_response(request)
        response = HttpResponse(content=body, status=status)
        for name, value in headers.items():
            response[name] = value
        return response


def request_client_id(request) -> str:
    """The client id a token, revocation or introspection request names (Basic auth or form)."""
    credentials = basic_credentials(request)
    if credentials is not None:
        return credentials[0]
    return request.POST.get("client_id", "")[:100]


def named_client_id(request) -> str:
    """The client id a token request names, if it can be read before the per-IP count: "" for
    none, for a body that is not a form or one that cannot be parsed (DOT parses it after the
    count, and answers its errors as before)."""
    credentials = basic_credentials(request)
    if credentials is not None:
        return credentials[0]
    if request.content_type != "application/x-www-form-urlencoded":
        return ""
    try:
        return request.POST.get("client_id", "")
    except (BadRequest, SuspiciousOperation, OSError):
        return ""


def basic_credentials(request) -> tuple[str, str] | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, separator, secret = decoded.partition(":")
    if not separator:
        return None
    return unquote_plus(client_id), unquote_plus(secret)


@method_decorator(csrf_exempt, name="dispatch")
@method_decorator(login_not_required, name="dispatch")
class RevokeTokenView(dot_views.RevokeTokenView):
    def post(self, request, *args, **kwargs):
        response = super().post(request, *args, **kwargs)
        if response.status_code == 200:
            audit.record(audit.Event.TOKEN_REVOKED, request=request, client_id=request_client_id(request))
        return response


@method_decorator(csrf_exempt, name="dispatch")
@method_decorator(login_not_required, name="dispatch")
class IntrospectView(dot_views.IntrospectTokenView):
    """RFC 7662, for resource servers only: confidential clients registered with --introspect."""

    http_method_names = ["post"]

    def dispatch(self, request, *args, **kwargs):
        if request.method != "POST":
            return JsonResponse({"error": "invalid_request", "error_description": "Use POST."}, status=405)
        credentials = basic_credentials(request)
        if credentials is None:
            return invalid_client()
        client_id, secret = credentials
        application = token_cache.load_client(client_id, load_client_row)
        if (
            application is None
            or application.client_type != Application.CLIENT_CONFIDENTIAL
            or not check_password(secret, application.client_secret)
        ):
            return invalid_client()
        policy = getattr(application, "client_policy", None)
        if policy is None or not policy.can_introspect:
            return JsonResponse(
                {"error": "access_denied", "error_description": "This client may not introspect tokens."}, status=403
            )
        return self.get_token_response(request.POST.get("token"))

    @staticmethod
    def get_token_response(token_value=None):
        """What a resource server may learn about a token (RFC 7662): no more than its scopes allow.

        A token is active only while DOT and the bearer check would both accept it (its user
        active and not deleted). ``sub`` (the account id) needs ``openid``; ``username`` (the
        email) needs ``email``.
        """
        if not token_value:
            return JsonResponse(
                {"error": "invalid_request", "error_description": "Token parameter is missing."}, status=400
            )
        # Through the token cache, as a bearer request reads it: every change that could alter
        # this answer (revocation, rotation, the user's or the client's row) removes the entry.
        token = token_cache.load(token_value, load_token_row)
        if token is None or not token.is_valid() or not may_use_tokens(token.user):
            return JsonResponse({"active": False})
        scopes = set(token.scope.split())
        data = {"active": True, "scope": token.scope, "token_type": "Bearer", "exp": int(token.expires.timestamp())}
        if token.application is not None:
            data["client_id"] = token.application.client_id
        if token.user is not None and "openid" in scopes:
            data["sub"] = str(token.user.pk)
        if token.user is not None and "email" in scopes:
            data["username"] = token.user.email
        if token.resource:
            data["aud"] = token.resource
        return JsonResponse(data)


def load_token_row(token_value: str):
    """An access token with its user and client, by checksum (DOT's look-up), or None."""
    return (
        AccessToken.objects.select_related("user", "application")
        .filter(token_checksum=hashlib.sha256(token_value.encode()).hexdigest())
        .first()
    )


def invalid_client() -> JsonResponse:
    response = JsonResponse(
        {"error": "invalid_client", "error_description": "Client authentication failed."}, status=401
    )
    response["WWW-Authenticate"] = 'Basic realm="oauth"'
    return response


def capabilities(view, request) -> dict:
    """What the provider serves, in both discovery documents: each entry is tested
    against the server's behaviour (tests/oauth/test_discovery.py)."""
    client_authentication = ["client_secret_basic", "client_secret_post", "none"]  # none: public clients
    return {
        "revocation_endpoint": view._get_endpoint_url(request, "revoke-token", required=True),
        "introspection_endpoint": view._get_endpoint_url(request, "introspect", required=True),
        "grant_types_supported": list(ALLOWED_GRANT_TYPES),
        "response_types_supported": list(ALLOWED_RESPONSE_TYPES),
        "response_modes_supported": list(RESPONSE_MODES),
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": client_authentication,
        "revocation_endpoint_auth_methods_supported": client_authentication,
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic"],  # IntrospectView
        "prompt_values_supported": list(PROMPT_VALUES),
        # OIDC Discovery defaults request_uri_parameter_supported to true: say false.
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "scopes_supported": list(catalogue()),
    }


@method_decorator(login_not_required, name="dispatch")
class DiscoveryView(dot_views.ConnectDiscoveryInfoView):
    """OIDC discovery: DOT's document with what this provider serves (``capabilities``)."""

    def get(self, request, *args, **kwargs):
        response = super().get(request, *args, **kwargs)
        data = json.loads(response.content)
        data.update(capabilities(self, request))
        data.update(
            {
                "id_token_signing_alg_values_supported": ["RS256"],
                "claims_supported": [
                    "sub",
                    "name",
                    "email",
                    "email_verified",
                    "auth_time",
                    "amr",
                    "acr",
                    "iss",
                    "aud",
                    "exp",
                    "iat",
                    "nonce",
                ],
                "acr_values_supported": ["mfa"],
            }
        )
        return JsonResponse(data, headers={"Access-Control-Allow-Origin": "*"})


@method_decorator(login_not_required, name="dispatch")
class ServerMetadataView(dot_views.OAuthServerMetadataView):
    """RFC 8414 metadata: DOT's document with the same ``capabilities`` (DOT lists the
    device grant, which is not served, and not the ``none`` client authentication)."""

    def get(self, request, *args, **kwargs):
        response = super().get(request, *args, **kwargs)
        data = json.loads(response.content)
        data.update(capabilities(self, request))
        return JsonResponse(data, headers={"Access-Control-Allow-Origin": "*"})


@method_decorator(login_not_required, name="dispatch")
class LogoutView(dot_views.RPInitiatedLogoutView):
    """RP-initiated logout, where every bad request is a 400 page (DOT answered some with a 500).

    DOT's own checks stay in charge; these overrides only turn its crashes into the
    errors it already has: an unknown ``client_id`` (``Application.DoesNotExist``), an
    ``id_token_hint`` its loader cannot read (payload not a JSON object, an ``aud`` that
    is not a string, a client without RS256 keys: ``ValueError``, ``TypeError``,
    ``ImproperlyConfigured``), and the redirect to ``/`` it refuses on plain http.
    The rest of the logout story (what signing out revokes, audit, back-channel) is a later issue.
    """

    def validate_logout_request_user(self, id_token_hint, client_id):
        if id_token_hint and not is_readable_id_token(id_token_hint):
            raise InvalidIDTokenError()
        return super().validate_logout_request_user(id_token_hint, client_id)

    def get_request_application(self, id_token, client_id):
        if client_id and not Application.objects.filter(client_id=client_id).exists():
            raise InvalidOIDCClientError()
        return super().get_request_application(id_token, client_id)

    def do_logout(self, application=None, post_logout_redirect_uri=None, state=None, token_user=None):
        if post_logout_redirect_uri:
            return super().do_logout(application, post_logout_redirect_uri, state, token_user)
        try:
            return super().do_logout(application, None, state, token_user)
        except DisallowedRedirect:
            # The user is signed out; DOT's redirect to build_absolute_uri("/") allows
            # https only, which an http origin (make run) is not.
            return redirect("/")


def is_readable_id_token(hint: str) -> bool:
    """Can DOT's loader look this hint up: a compact JWS naming an RS256 client in ``aud``?

    Only the shape is checked here; DOT verifies the signature and the claims.
    """
    parts = hint.split(".")
    if len(parts) != 3:
        return False
    try:
        payload = json.loads(base64url_decode(parts[1]))
    except (ValueError, TypeError):  # bad base64, bad UTF-8, bad JSON
        return False
    audience = payload.get("aud") if isinstance(payload, dict) else None
    audiences = [audience] if isinstance(audience, str) else audience
    if not isinstance(audiences, list) or not audiences or not all(isinstance(a, str) for a in audiences):
        return False
    # DOT takes the first client the audience names and asks it for its key.
    application = Application.objects.filter(client_id__in=audiences).first()
    return application is not None and application.algorithm == Application.RS256_ALGORITHM


@method_decorator(csrf_exempt, name="dispatch")
@method_decorator(login_not_required, name="dispatch")
class UserInfoView(dot_views.UserInfoView):
    """Userinfo reads the token from the Authorization header only."""

    def dispatch(self, request, *args, **kwargs):
        if not request.META.get("HTTP_AUTHORIZATION", "").lower().startswith("bearer "):
            response = HttpResponse(status=401)
            response["WWW-Authenticate"] = 'Bearer realm="oauth"'
            return response
        return super().dispatch(request, *args, **kwargs)


# --- Connected apps -------------------------------------------------------------


@require_GET
def connected_apps(request):
    consents = {c.application_id: c for c in Consent.objects.filter(user=request.user).select_related("application")}
    tokens = AccessToken.objects.filter(user=request.user).select_related("application").order_by("-created")
    apps: dict[int, dict] = {}
    for app_id, item in consents.items():
        apps[app_id] = {
            "application": item.application,
            "scopes": describe(item.scope_list),
            "last_used": item.updated_at,
        }
    for token in tokens:
        entry = apps.setdefault(
            token.application_id,
            {"application": token.application, "scopes": describe(token.scope.split()), "last_used": token.created},
        )
        entry["last_used"] = max(entry["last_used"], token.created)
    return render(request, "accounts/apps.html", {"apps": sorted(apps.values(), key=lambda a: a["application"].name)})


@require_POST
def connected_app_revoke(request, application_id):
    application = get_object_or_404(Application, pk=application_id)
    consent.revoke(request.user, application)
    audit.record(
        audit.Event.TOKEN_REVOKED,
        request=request,
        client_id=application.client_id,
        reason="revoked from connected apps",
    )
    messages.success(request, f"{application.name} can no longer access your account.")
    return redirect("oauth:apps")


# --- Personal access tokens (/accounts/tokens/) ------------------------------------------------


@require_http_methods(["GET", "POST"])
@reauth.reauthentication_required(methods=("POST",))
def personal_tokens_page(request):
    """List your tokens, create one (its secret shown once, in this response), revoke one."""
    secret = created = None
    form = PersonalTokenForm()
    if request.method == "POST":
        posted = PersonalTokenForm(request.POST)
        if posted.is_valid():
            created, secret = services.personal_token_create(owner=request.user, request=request, **posted.cleaned_data)
        else:
            form = posted
    context = {
        "form": form,
        "tokens": selectors.personal_token_list(fetched_by=request.user),
        "created": created,
        "secret": secret,
        "now": timezone.now(),
        "origin": settings.PUBLIC_ORIGIN,
    }
    return render(request, "accounts/tokens.html", context)


@require_POST
def personal_token_revoke(request, token_id):
    personal_token = selectors.personal_token_get(fetched_by=request.user, token_id=token_id)
    services.personal_token_revoke(personal_token=personal_token, acting_user=request.user, request=request)
    messages.success(request, f"The token “{personal_token.name}” ({personal_token.prefix}) is revoked.")
    return redirect("oauth:tokens")
