"""A small third-party app that signs in with this project (OpenID Connect) and reads orders.

Run it next to `make run`:

    .venv/bin/python examples/demo_client.py

then open http://127.0.0.1:8765/. It is the `demo-client` that `seed_demo` registers:
a public client (no secret) using the authorization code flow with PKCE (S256), `state`
and `nonce`. The ID token is verified against the provider's JWKS (RS256 only, issuer,
audience, expiry, nonce) with Authlib, a well-known OAuth client library; then the app
calls GET /api/orders/ with the access token and can refresh it (the refresh token
rotates on every use).

Environment: ISSUER (default http://127.0.0.1:8000/o), CLIENT_ID (default demo-client),
PORT (default 8765).
"""

from __future__ import annotations

import html
import json
import os
import secrets
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.jose import JsonWebKey, jwt

ISSUER = os.environ.get("ISSUER", "http://127.0.0.1:8000/o").rstrip("/")
CLIENT_ID = os.environ.get("CLIENT_ID", "demo-client")
PORT = int(os.environ.get("PORT", "8765"))
REDIRECT_URI = f"http://127.0.0.1:{PORT}/callback"
SCOPES = "openid profile email orders:read"
API_ORIGIN = ISSUER.rsplit("/o", 1)[0]

SESSIONS: dict[str, dict] = {}  # browser session id -> what this app knows about that browser


def discovery() -> dict:
    config = requests.get(f"{ISSUER}/.well-known/openid-configuration", timeout=10).json()
    if config.get("issuer") != ISSUER:  # OIDC Discovery 4.3
        raise ValueError("the discovery document names another issuer")
    return config


def is_from_issuer(query: dict, config: dict) -> bool:
    """RFC 9207: the authorization response names the issuer this app sent the user to.

    A server that advertises ``authorization_response_iss_parameter_supported`` always
    sends ``iss``, so a response without it did not come from that server (a mix-up
    attack); with ``iss``, it must be this issuer exactly.
    """
    iss = query.get("iss")
    if iss is None:
        return not config.get("authorization_response_iss_parameter_supported", False)
    return iss == [ISSUER]


def oauth_session(**kwargs) -> OAuth2Session:
    return OAuth2Session(CLIENT_ID, redirect_uri=REDIRECT_URI, scope=SCOPES, code_challenge_method="S256", **kwargs)


def verify_id_token(id_token: str, nonce: str, config: dict) -> dict:
    keys = JsonWebKey.import_key_set(requests.get(config["jwks_uri"], timeout=10).json())
    claims = jwt.decode(
        id_token,
        keys,
        claims_options={
            "iss": {"essential": True, "value": ISSUER},
            "aud": {"essential": True, "value": CLIENT_ID},
            "exp": {"essential": True},
            "nonce": {"essential": True, "value": nonce},
        },
    )
    if claims.header.get("alg") != "RS256":
        raise ValueError("unexpected ID token algorithm")
    claims.validate()
    return dict(claims)


def page(title: str, body: str) -> bytes:
    return (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
        "<body style='font-family:sans-serif;max-width:48rem;margin:2rem auto'>"
        f"<h1>{html.escape(title)}</h1>{body}</body></html>"
    ).encode()


class Handler(BaseHTTPRequestHandler):
    def log_request(self, code="-", size="-") -> None:
        # The path only: the callback's query string carries the code and state.
        self.log_message('"%s %s" %s', self.command, urlsplit(self.path).path, getattr(code, "value", code))

    def log_error(self, format, *args) -> None:
        self.log_message("error %s", args[0] if args else "")  # the message may quote the request line

    def _session(self) -> tuple[str, dict]:
        cookie = SimpleCookie(self.headers.get("Cookie", ""))
        sid = cookie["demo_sid"].value if "demo_sid" in cookie else ""
        if sid not in SESSIONS:
            sid = secrets.token_urlsafe(16)
            SESSIONS[sid] = {}
        return sid, SESSIONS[sid]

    def _send(self, status: int, body: bytes = b"", location: str | None = None, sid: str | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        if location:
            self.send_header("Location", location)
        if sid:
            self.send_header("Set-Cookie", f"demo_sid={sid}; HttpOnly; SameSite=Lax; Path=/")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        sid, state = self._session()
        path = urlsplit(self.path)
        routes = {
            "/": self.home,
            "/login": self.login,
            "/callback": self.callback,
            "/refresh": self.refresh,
            "/logout": self.logout,
        }
        handler = routes.get(path.path)
        if handler is None:
            return self._send(404, page("Not found", ""), sid=sid)
        try:
            handler(sid, state, parse_qs(path.query))
        except Exception as error:  # noqa: BLE001 - shown to the person trying the demo
            self._send(500, page("Error", f"<pre>{html.escape(repr(error))}</pre><p><a href='/'>Back</a></p>"), sid=sid)

    def home(self, sid, state, query) -> None:
        if "token" not in state:
            body = (
                "<p>This app has no access to your account.</p><p><a href='/login'>Sign in with Auth done right</a></p>"
            )
            return self._send(200, page("Demo client", body), sid=sid)
        response = requests.get(
            f"{API_ORIGIN}/api/orders/",
            headers={"Authorization": f"Bearer {state['token']['access_token']}"},
            timeout=10,
        )
        claims = state["claims"]
        body = (
            f"<p>Signed in as <strong>{html.escape(claims.get('email', claims['sub']))}</strong> "
            f"(sub {html.escape(claims['sub'])}).</p>"
            f"<h2>GET /api/orders/ &rarr; {response.status_code}</h2>"
            f"<pre>{html.escape(json.dumps(response.json(), indent=2)[:4000])}</pre>"
            "<p><a href='/refresh'>Refresh the access token</a> · <a href='/logout'>Forget the tokens</a></p>"
        )
        self._send(200, page("Demo client", body), sid=sid)

    def login(self, sid, state, query) -> None:
        config = discovery()
        verifier = generate_token(64)
        nonce = generate_token(24)
        url, oauth_state = oauth_session().create_authorization_url(
            config["authorization_endpoint"], code_verifier=verifier, nonce=nonce
        )
        state.update({"verifier": verifier, "nonce": nonce, "state": oauth_state})
        self._send(302, location=url, sid=sid)

    def callback(self, sid, state, query) -> None:
        # Check state and iss first, on errors too: neither kind of response is trusted
        # before it is known to answer this browser's request, from this issuer.
        if query.get("state", [""])[0] != state.get("state") or not state.get("state"):
            return self._send(400, page("State mismatch", "<p>This callback was not started here.</p>"), sid=sid)
        config = discovery()
        if not is_from_issuer(query, config):
            return self._send(
                400,
                page("Issuer mismatch", "<p>The response did not come from the server this app asked (RFC 9207).</p>"),
                sid=sid,
            )
        if "error" in query:
            return self._send(
                200,
                page(
                    "Not connected",
                    f"<p>The provider said: {html.escape(query['error'][0])}</p><p><a href='/'>Back</a></p>",
                ),
                sid=sid,
            )
        token = oauth_session(state=state["state"]).fetch_token(
            config["token_endpoint"],
            authorization_response=f"{REDIRECT_URI}?{urlsplit(self.path).query}",
            code_verifier=state.pop("verifier"),
        )
        state["claims"] = verify_id_token(token["id_token"], state.pop("nonce"), config)
        state["token"] = dict(token)
        self._send(302, location="/", sid=sid)

    def refresh(self, sid, state, query) -> None:
        config = discovery()
        state["token"] = dict(
            oauth_session().refresh_token(config["token_endpoint"], refresh_token=state["token"]["refresh_token"])
        )
        self._send(302, location="/", sid=sid)

    def logout(self, sid, state, query) -> None:
        state.clear()
        self._send(302, location="/", sid=sid)


if __name__ == "__main__":
    print(f"Demo client on http://127.0.0.1:{PORT}/ (issuer {ISSUER})")
    ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
