"""The OAuth/OIDC server: only the grants this project allows exist at all.

oauthlib checks a password grant's username and password before DOT can refuse the
grant type, which would be a password oracle outside every login throttle. Removing
the grant from the server makes ``grant_type=password`` an ``unsupported_grant_type``
before any credential is read. The implicit and hybrid flows and the device grant are
removed the same way; only the authorization code (with PKCE), refresh token and client
credentials grants remain.
"""

from __future__ import annotations

import secrets
from typing import Any

from oauthlib.openid import Server as OpenIDServer

ALLOWED_GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")
ALLOWED_RESPONSE_TYPES = ("code",)


class Server(OpenIDServer):
    def __init__(self, request_validator, *args, **kwargs):
        super().__init__(request_validator, *args, **kwargs)
        self._grant_types: dict[str, Any] = {
            name: grant for name, grant in self._grant_types.items() if name in ALLOWED_GRANT_TYPES
        }
        self._response_types: dict[str, Any] = {
            name: grant for name, grant in self._response_types.items() if name in ALLOWED_RESPONSE_TYPES
        }


def generate_token(request) -> str:
    """An access or refresh token: 256 random bits as 64 hex digits (``ACCESS_TOKEN_GENERATOR``).

    oauthlib's default draws 30 characters one ``SystemRandom().choice`` at a time (about
    178 bits, 60 calls per token response); this is one ``os.urandom`` read, with more
    entropy. Hex never starts with ``pat_``, the personal access tokens' prefix.
    """
    return secrets.token_hex(32)
