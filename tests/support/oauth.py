"""Helpers for the OAuth/OIDC tests: a browser, an independent OAuth client, minted tokens.

The flows are driven the way a third-party app and its user would drive them:

- :class:`Browser` is a ``requests`` session acting as the user's browser: it signs in on
  the login page, follows the app to ``/o/authorize/`` and answers the consent form.
- :func:`oauth_session` is Authlib's OAuth 2 client (an independent implementation): it
  builds the authorization URL with PKCE S256, exchanges the code, refreshes.
- ID tokens are verified with joserfc against the JWKS named by discovery.

Tests that need no full flow use Django's test client with the same helpers
(:func:`authorize_url` builds the URL with Authlib without any HTTP).
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from datetime import timedelta
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from django.test import Client
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, set_token_value

from tests.factories import PASSWORD

AccessToken = get_access_token_model()

REDIRECT_URI = "http://127.0.0.1:8765/callback"
HTTPS_REDIRECT_URI = "https://app.example.com/callback"
USER_SCOPES = "openid profile email orders:read orders:write"
AUTHORIZE_PATH = "/o/authorize/"
TOKEN_PATH = "/o/token/"
REVOKE_PATH = "/o/revoke_token/"
INTROSPECT_PATH = "/o/introspect/"

# Live tests need committed data; serialized_rollback restores the data-migration rows
# (role -> permissions) that the flush after each transactional test removes.
live = pytest.mark.django_db(transaction=True, serialized_rollback=True)


# --- Reading responses ----------------------------------------------------------------------


class _FormParser(HTMLParser):
    """Collect the <input> fields of every <form> on a page (name -> value), by form id."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[dict] = []
        self._current: dict | None = None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "form":
            self._current = {
                "id": attributes.get("id"),
                "action": attributes.get("action"),
                "fields": {},
                "buttons": [],
            }
            self.forms.append(self._current)
        elif tag == "input" and self._current is not None and attributes.get("name"):
            self._current["fields"][attributes["name"]] = attributes.get("value") or ""
        elif tag == "button" and self._current is not None:
            self._current["buttons"].append((attributes.get("name"), attributes.get("value")))

    def handle_endtag(self, tag):
        if tag == "form":
            self._current = None


def forms(html: str) -> list[dict]:
    parser = _FormParser()
    parser.feed(html)
    return parser.forms


def consent_form(html: str) -> dict:
    """The hidden fields of the consent form (csrfmiddlewaretoken included)."""
    matching = [form for form in forms(html) if form["id"] == "authorizationForm"]
    assert len(matching) == 1, "no consent form on the page"
    return dict(matching[0]["fields"])


def csrf_from(html: str) -> str:
    for form in forms(html):
        if "csrfmiddlewaretoken" in form["fields"]:
            return form["fields"]["csrfmiddlewaretoken"]
    raise AssertionError("no CSRF token on the page")


def query(url: str) -> dict[str, str]:
    """The query parameters of a URL, one value each (asserting none is repeated)."""
    params = parse_qs(urlsplit(url).query, keep_blank_values=True)
    assert all(len(values) == 1 for values in params.values()), params
    return {name: values[0] for name, values in params.items()}


def location(response) -> str:
    """The Location header of a requests or Django response ('' when absent)."""
    headers = response.headers
    return headers.get("Location", "") or ""


def is_redirect_to(response, uri: str) -> bool:
    """Does the response send the browser to ``uri`` (scheme, host, port and path)?"""
    if response.status_code not in (301, 302, 303, 307, 308):
        return False
    target = urlsplit(location(response))
    expected = urlsplit(uri)
    return (target.scheme, target.netloc, target.path) == (expected.scheme, expected.netloc, expected.path)


# --- The independent OAuth client ------------------------------------------------------------


@dataclass
class AuthorizationRequest:
    url: str
    state: str
    code_verifier: str
    nonce: str
    session: OAuth2Session = field(repr=False)


def oauth_session(client_id: str, *, client_secret: str | None = None, scope: str = USER_SCOPES,
                  redirect_uri: str = REDIRECT_URI) -> OAuth2Session:
    return OAuth2Session(
        client_id,
        client_secret,
        redirect_uri=redirect_uri,
        scope=scope,
        code_challenge_method="S256",
    )


def authorize_url(endpoint: str, client_id: str, *, scope: str = USER_SCOPES, redirect_uri: str = REDIRECT_URI,
                  client_secret: str | None = None, **extra) -> AuthorizationRequest:
    """An authorization request built by Authlib: PKCE S256, a state and a nonce."""
    session = oauth_session(client_id, client_secret=client_secret, scope=scope, redirect_uri=redirect_uri)
    verifier = generate_token(48)
    nonce = extra.pop("nonce", generate_token(20))
    url, state = session.create_authorization_url(endpoint, code_verifier=verifier, nonce=nonce, **extra)
    return AuthorizationRequest(url=url, state=state, code_verifier=verifier, nonce=nonce, session=session)


# --- The browser -------------------------------------------------------------------------------


class Browser:
    """The user's browser on the live server: cookies, CSRF tokens, no automatic redirects."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.http = requests.Session()
        self.signed_in_between: tuple[float, float] | None = None

    def url(self, path: str) -> str:
        return path if path.startswith("http") else self.base_url + path

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.http.get(self.url(path), allow_redirects=False, timeout=30, **kwargs)

    def post(self, path: str, data: dict, referer: str | None = None, **kwargs) -> requests.Response:
        headers = {"Referer": referer or self.url(path), **kwargs.pop("headers", {})}
        return self.http.post(self.url(path), data=data, headers=headers, allow_redirects=False, timeout=30, **kwargs)

    def login(self, user, password: str = PASSWORD, next_url: str = "/") -> requests.Response:
        page = self.get("/accounts/login/")
        assert page.status_code == 200, page.status_code
        before = time.time()
        response = self.post(
            "/accounts/login/",
            {"csrfmiddlewaretoken": csrf_from(page.text), "email": user.email, "password": password, "next": next_url},
        )
        self.signed_in_between = (before, time.time())
        assert response.status_code == 302, (response.status_code, response.text[:500])
        return response

    def consent(self, page: requests.Response, *, allow: bool = True, **tamper) -> requests.Response:
        """Answer the consent page: Allow (allow=Authorize) or Deny; ``tamper`` changes fields."""
        assert page.status_code == 200, (page.status_code, location(page))
        fields = consent_form(page.text)
        fields.update(tamper)
        if allow:
            fields["allow"] = "Authorize"
        return self.post(AUTHORIZE_PATH, fields, referer=page.url)

    def authorize(self, request: AuthorizationRequest, *, allow: bool = True) -> requests.Response:
        """GET the authorization URL and, when a consent page is shown, answer it."""
        response = self.get(request.url)
        if response.status_code == 200 and "authorizationForm" in response.text:
            response = self.consent(response, allow=allow)
        return response


def code_from(response, request: AuthorizationRequest | None = None) -> str:
    """The code of a successful authorization response (checking state when given)."""
    assert response.status_code == 302, (response.status_code, getattr(response, "text", "")[:500])
    params = query(location(response))
    assert "code" in params, params
    if request is not None:
        assert params["state"] == request.state
    return params["code"]


# --- Tokens without a flow ---------------------------------------------------------------------


def mint_token(user, application, scopes: str, *, expires_in: int = 600) -> str:
    """Create an access token row the way DOT's validator does; return the raw token.

    ``set_token_value`` honours COMPLIANT_BCP_RFC9700_TOKEN_STORAGE exactly as
    ``OAuth2Validator._create_access_token`` does: only the checksum is stored.
    """
    raw = secrets.token_urlsafe(30)
    token = AccessToken(
        user=user, application=application, scope=scopes, expires=timezone.now() + timedelta(seconds=expires_in)
    )
    set_token_value(token, raw)
    token.save()
    return raw


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def api_get(client: Client, path: str, token: str):
    return client.get(path, headers=bearer(token))


def api_post(client: Client, path: str, token: str, data: dict | None = None, method: str = "POST"):
    return client.generic(
        method, path, data=json.dumps(data or {}), content_type="application/json", headers=bearer(token)
    )


def assert_api_error(response, status: int, code: str) -> None:
    assert response.status_code == status, (response.status_code, getattr(response, "content", b"")[:500])
    body = response.json()
    assert body["status"] == "error" and body["code"] == code, body


# --- Flows on Django's test client (no live server) -----------------------------------------


def form_post(client: Client, path: str, data: dict, **extra):
    """POST an application/x-www-form-urlencoded body, as OAuth clients do."""
    return client.post(path, urlencode(data), content_type="application/x-www-form-urlencoded", **extra)


def approve_on(client: Client, page, *, allow: bool = True, **tamper):
    """Answer a consent page shown to Django's test client."""
    assert page.status_code == 200, (page.status_code, location(page))
    fields = consent_form(page.content.decode())
    fields.update(tamper)
    if allow:
        fields["allow"] = "Authorize"
    return form_post(client, AUTHORIZE_PATH, fields)


def authorize_on(client: Client, client_id: str, *, allow: bool = True, **params):
    """Authorize with Django's test client, consenting when asked; return (response, request)."""
    request = authorize_url(AUTHORIZE_PATH, client_id, **params)
    response = client.get(request.url)
    if response.status_code == 200 and b"authorizationForm" in response.content:
        response = approve_on(client, response, allow=allow)
    return response, request


def exchange_code(client: Client, client_id: str, code: str, request: AuthorizationRequest, **overrides):
    """POST the code to the token endpoint as a public client would."""
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": client_id,
        "redirect_uri": REDIRECT_URI,
        "code_verifier": request.code_verifier,
        **overrides,
    }
    return form_post(client, TOKEN_PATH, {k: v for k, v in data.items() if v is not None})


def tokens_for(client: Client, client_id: str, **params) -> tuple[dict, AuthorizationRequest]:
    """A whole authorization on the test client (the user is signed in): the token response."""
    response, request = authorize_on(client, client_id, **params)
    code = code_from(response, request)
    token_response = exchange_code(Client(), client_id, code, request)
    assert token_response.status_code == 200, token_response.content
    return token_response.json(), request


def refresh(client_id: str, refresh_token: str, **extra):
    return form_post(
        Client(),
        TOKEN_PATH,
        {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client_id, **extra},
    )
