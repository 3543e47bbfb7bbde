"""A software WebAuthn authenticator: real passkey responses for tests, without a browser.

``SoftAuthenticator`` holds one EC P-256 key pair (ES256) and answers the options a server
sends to the browser (the parsed JSON of ``webauthn.options_to_json``) with what the browser
would post back: the WebAuthn JSON form (base64url without padding) that
``webauthn.helpers.parse_registration_credential_json`` and
``parse_authentication_credential_json`` read. Everything is built for real: clientDataJSON,
authenticatorData (rpIdHash, flags, signCount, attested credential data with a COSE key), a
CBOR attestation object in the "none" format, an ECDSA signature over
``authenticatorData || SHA-256(clientDataJSON)``. So a server verifies it with the same code
that verifies a phone or a security key, and nothing in the server is stubbed.

The keyword overrides of ``register`` and ``authenticate`` forge what a hostile or broken client
could send (another origin, another RP id, a replayed challenge, no user verification, a
regressed sign count, no user handle, the wrong ceremony type): each one changes exactly one
field and leaves the rest valid, so a test shows which check refused it.

Like a real authenticator, it refuses (``ValueError``) options it could not satisfy: an RP id
other than its own, no ES256 among the accepted algorithms, a required resident key on a
non-discoverable authenticator. It does not look at ``allowCredentials`` or
``excludeCredentials``: a client can always present a credential the server did not list, and
the server is the one that must refuse it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import uuid
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

# An AAGUID of our own (uuid5 of a fixed name), so a stored credential shows where it came from.
SOFT_AAGUID = uuid.uuid5(uuid.NAMESPACE_URL, "https://auth-done-right.test/soft-authenticator").bytes
ES256 = -7  # COSE algorithm identifier of ECDSA with P-256 and SHA-256

# authenticatorData flag bits (WebAuthn Level 3, section 6.1)
FLAG_UP = 1 << 0  # user present
FLAG_UV = 1 << 2  # user verified
FLAG_BE = 1 << 3  # backup eligible (a synced passkey)
FLAG_BS = 1 << 4  # backed up
FLAG_AT = 1 << 6  # attested credential data follows

DEFAULT_USER_HANDLE = "default"


def b64url(data: bytes) -> str:
    """Base64url without padding, the encoding of every binary field in WebAuthn's JSON."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SoftAuthenticator:
    """One passkey on one platform authenticator, bound to ``rp_id`` and used from ``origin``.

    ``sign_count`` starts at 0 (registration reports 0) and every ``authenticate()`` adds one
    before signing, as a counting authenticator does; ``sign_count=`` on one call signs a
    chosen value for that response only and leaves the counter as it was.
    """

    def __init__(
        self,
        *,
        rp_id: str,
        origin: str,
        user_verified: bool = True,
        backup_eligible: bool = False,
        backup_state: bool = False,
        discoverable: bool = True,
    ) -> None:
        self.rp_id = rp_id
        self.origin = origin
        self.user_verified = user_verified
        self.backup_eligible = backup_eligible
        self.backup_state = backup_state
        self.discoverable = discoverable
        self.credential_id: bytes = secrets.token_bytes(32)
        self.user_handle: bytes | None = None
        self.sign_count: int = 0
        self.aaguid: bytes = SOFT_AAGUID
        self._private_key = ec.generate_private_key(ec.SECP256R1())

    # --- what a server stores ------------------------------------------------------

    @property
    def public_key_cose(self) -> bytes:
        """The credential public key as the COSE_Key a server stores (EC2, ES256, P-256)."""
        numbers = self._private_key.public_key().public_numbers()
        return cbor2.dumps(
            {1: 2, 3: ES256, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")}
        )

    # --- ceremonies ----------------------------------------------------------------

    def register(
        self,
        options: dict,
        *,
        origin: str | None = None,
        rp_id: str | None = None,
        user_verified: bool | None = None,
        challenge: str | None = None,
        type_: str = "webauthn.create",
    ) -> dict:
        """Answer creation options with a new credential (attestation "none"), as JSON."""
        self._check_rp_id(options.get("rp", {}).get("id"), rp_id)
        algorithms = [param.get("alg") for param in options.get("pubKeyCredParams", [])]
        if algorithms and ES256 not in algorithms:
            raise ValueError(f"the server accepts the algorithms {algorithms}, not ES256 (-7): no credential made")
        selection = options.get("authenticatorSelection") or {}
        if not self.discoverable and selection.get("residentKey") == "required":
            raise ValueError("the server requires a discoverable credential and this authenticator makes none")
        self.user_handle = b64url_decode(options["user"]["id"])
        client_data = self._client_data(type_, challenge or options["challenge"], origin)
        auth_data = self._authenticator_data(
            rp_id=rp_id or self.rp_id,
            user_verified=self.user_verified if user_verified is None else user_verified,
            sign_count=0,
            attested=self._attested_credential_data(),
        )
        attestation_object = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return {
            "id": b64url(self.credential_id),
            "rawId": b64url(self.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "attestationObject": b64url(attestation_object),
                "transports": ["internal"],
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }

    def authenticate(
        self,
        options: dict,
        *,
        origin: str | None = None,
        rp_id: str | None = None,
        user_verified: bool | None = None,
        sign_count: int | None = None,
        challenge: str | None = None,
        user_handle: bytes | None | str = DEFAULT_USER_HANDLE,
        type_: str = "webauthn.get",
    ) -> dict:
        """Answer request options with an assertion signed by this credential, as JSON.

        ``user_handle``: by default the handle given at registration when the credential is
        discoverable (none otherwise); ``None`` leaves it out; bytes send those bytes; any other
        string is sent as it is (a malformed value, say).
        """
        self._check_rp_id(options.get("rpId"), rp_id)
        if sign_count is None:
            self.sign_count += 1
            sign_count = self.sign_count
        client_data = self._client_data(type_, challenge or options["challenge"], origin)
        auth_data = self._authenticator_data(
            rp_id=rp_id or self.rp_id,
            user_verified=self.user_verified if user_verified is None else user_verified,
            sign_count=sign_count,
        )
        signature = self._private_key.sign(auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256()))
        response: dict[str, Any] = {
            "clientDataJSON": b64url(client_data),
            "authenticatorData": b64url(auth_data),
            "signature": b64url(signature),
        }
        handle = self._user_handle(user_handle)
        if handle is not None:
            response["userHandle"] = handle
        return {
            "id": b64url(self.credential_id),
            "rawId": b64url(self.credential_id),
            "type": "public-key",
            "response": response,
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }

    # --- the parts -----------------------------------------------------------------

    def _check_rp_id(self, asked: str | None, override: str | None) -> None:
        """A browser refuses a ceremony for an RP id the page's origin does not own; so do we,
        unless the test forges the rpIdHash on purpose."""
        if asked and override is None and asked != self.rp_id:
            raise ValueError(f"the server asked for RP id {asked!r}; this authenticator belongs to {self.rp_id!r}")

    def _client_data(self, type_: str, challenge: str, origin: str | None) -> bytes:
        return json.dumps(
            {"type": type_, "challenge": challenge, "origin": origin or self.origin, "crossOrigin": False},
            separators=(",", ":"),
        ).encode()

    def _authenticator_data(self, *, rp_id: str, user_verified: bool, sign_count: int, attested: bytes = b"") -> bytes:
        flags = FLAG_UP
        flags |= FLAG_UV if user_verified else 0
        flags |= FLAG_BE if self.backup_eligible else 0
        flags |= FLAG_BS if self.backup_state else 0
        flags |= FLAG_AT if attested else 0
        rp_id_hash = hashlib.sha256(rp_id.encode()).digest()
        return rp_id_hash + bytes([flags]) + sign_count.to_bytes(4, "big") + attested

    def _attested_credential_data(self) -> bytes:
        return self.aaguid + len(self.credential_id).to_bytes(2, "big") + self.credential_id + self.public_key_cose

    def _user_handle(self, user_handle: bytes | None | str) -> str | None:
        if user_handle == DEFAULT_USER_HANDLE:
            return b64url(self.user_handle) if self.discoverable and self.user_handle is not None else None
        if isinstance(user_handle, bytes):
            return b64url(user_handle)
        return user_handle
