"""OAuth flows against the server processes, driven as a browser and a client app drive them.

The authorization URL (PKCE S256, state, nonce) is built by Authlib, through the helpers of
``tests/support/oauth.py``; nothing listens at the redirect URI: only the ``Location`` of
the authorization response is read.
"""

from __future__ import annotations

import requests

from tests.services.cluster import HTTP_TIMEOUT, Agent, Server, https_session
from tests.support.oauth import REDIRECT_URI, AuthorizationRequest, authorize_url, code_from, consent_form

TOKEN_PATH = "/o/token/"
AUTHORIZE_PATH = "/o/authorize/"

# The clients registered for the run (tests/services/conftest.py, with ``manage.py register_client``).
TRUSTED_CLIENT = "mp-trusted"  # public, PKCE, --skip-consent
WEB_CLIENT = "mp-web"  # confidential (a client secret), asks for consent


def authorize(agent: Agent, server: Server, client_id: str, *, scope: str = "openid orders:read orders:write",
              consent: bool = False) -> tuple[str, AuthorizationRequest]:
    """A signed-in browser authorizes the client through ``server``: the code and the request."""
    request = authorize_url(server.url(AUTHORIZE_PATH), client_id, scope=scope)
    response = agent.get(server, request.url)
    if consent:
        assert response.status_code == 200 and "authorizationForm" in response.text, (
            response.status_code,
            response.text[:300],
        )
        fields = consent_form(response.text)
        fields["allow"] = "Authorize"
        response = agent.post_form(server, AUTHORIZE_PATH, fields, referer=response.url)
    return code_from(response, request), request


def token_request(server: Server, data: dict, *, client_secret: str | None = None) -> requests.Response:
    """POST to the token endpoint on a connection of its own (Basic auth for a confidential client)."""
    auth = (data["client_id"], client_secret) if client_secret else None
    body = {key: value for key, value in data.items() if not (client_secret and key == "client_id")}
    with https_session(server.cert) as http:
        return http.post(server.url(TOKEN_PATH), data=body, auth=auth, timeout=HTTP_TIMEOUT)


def code_exchange(server: Server, client_id: str, code: str, request: AuthorizationRequest,
                  client_secret: str | None = None) -> requests.Response:
    return token_request(
        server,
        {
            "grant_type": "authorization_code",
            "code": code,
            "client_id": client_id,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": request.code_verifier,
        },
        client_secret=client_secret,
    )


def refresh(server: Server, client_id: str, refresh_token: str, client_secret: str | None = None) -> requests.Response:
    return token_request(
        server,
        {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client_id},
        client_secret=client_secret,
    )


def api_get(server: Server, path: str, access_token: str) -> requests.Response:
    with https_session(server.cert) as http:
        return http.get(server.url(path), headers={"Authorization": f"Bearer {access_token}"}, timeout=HTTP_TIMEOUT)
