"""ID tokens signed RS256 with the provider's key, without jwcrypto's per-token objects.

DOT builds a jwcrypto ``JWT`` for every ID token: the object deep-copies its header
registries and re-encodes what it is given, several times the Python of the RSA signature
itself (``bench/README.md``, issue 16). A JWS in compact form (RFC 7515 section 7.1) is
three base64url parts; the signature is RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 section
3.3), made by ``cryptography`` with the key jwcrypto loaded from the same PEM (cached, as
DOT caches it). The header is DOT's: ``typ``, ``alg`` and the key's RFC 7638 thumbprint as
``kid``, which is also the ``kid`` the JWKS document publishes.
"""

from __future__ import annotations

import base64
import functools
import json
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from oauth2_provider.settings import oauth2_settings
from oauth2_provider.utils import jwk_from_pem


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@functools.lru_cache(maxsize=4)
def _signer(pem: str) -> tuple[str, Any]:
    """The encoded header and the private key for a PEM (one entry per key the settings name)."""
    key = jwk_from_pem(pem)
    header = {"typ": "JWT", "alg": "RS256", "kid": key.thumbprint()}
    return _b64(json.dumps(header).encode()), key.get_op_key("sign")


def sign_rs256(claims: dict[str, Any]) -> str:
    """The compact JWS of ``claims`` (JSON, values DOT's way: ``default=str``)."""
    header, private_key = _signer(oauth2_settings.OIDC_RSA_PRIVATE_KEY)
    signing_input = f"{header}.{_b64(json.dumps(claims, default=str).encode())}"
    signature = private_key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{_b64(signature)}"
