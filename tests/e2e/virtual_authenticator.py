"""Chromium's virtual WebAuthn authenticator, for passkey journeys in the real browser.

The DevTools protocol's WebAuthn domain replaces the platform authenticator of one tab with
a software one (CTAP2, "internal" transport, resident keys, user verification), so
``navigator.credentials.create`` and ``.get`` run their full browser-side path, with the page's
real origin and RP id checks, and no human touches a sensor. The credentials it holds can be
read back (``credentials()``: id, RP id, user handle, sign count) to check what the site asked
for.

WebAuthn needs a secure context and refuses an IP address as RP id. Chromium counts plain
``http://localhost`` as secure, so a passkey journey runs on ``http://localhost:<port>``
(``start_site(..., host_name="localhost")``, the ``localhost_site`` fixture), never on
``http://127.0.0.1:<port>``, where ``create()`` fails with a SecurityError.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from playwright.sync_api import CDPSession, Page

# A platform authenticator with a fingerprint reader that always says yes (until told not to).
PLATFORM_AUTHENTICATOR = {
    "protocol": "ctap2",
    "transport": "internal",
    "hasResidentKey": True,
    "hasUserVerification": True,
    "isUserVerified": True,
    "automaticPresenceSimulation": True,
}


class VirtualAuthenticator:
    """One virtual authenticator attached to a tab through its own DevTools session."""

    def __init__(self, cdp: CDPSession, authenticator_id: str) -> None:
        self.cdp = cdp
        self.authenticator_id = authenticator_id
        self.is_removed = False

    def credentials(self) -> list[dict[str, Any]]:
        """The credentials it holds (WebAuthn.getCredentials): ``credentialId`` and ``userHandle``
        in standard base64 (with padding), ``rpId``, ``isResidentCredential``, ``signCount``,
        ``backupEligibility``, ``backupState``, ``userName``, ``userDisplayName``, ``privateKey``."""
        return self.cdp.send("WebAuthn.getCredentials", {"authenticatorId": self.authenticator_id})["credentials"]

    def set_user_verified(self, is_verified: bool) -> None:
        """Whether the next user verification succeeds (a recognised or a wrong fingerprint)."""
        self.cdp.send(
            "WebAuthn.setUserVerified", {"authenticatorId": self.authenticator_id, "isUserVerified": is_verified}
        )

    def remove(self) -> None:
        """Detach it from the tab: the tab has no authenticator (and no credential) any more."""
        if not self.is_removed:
            self.cdp.send("WebAuthn.removeVirtualAuthenticator", {"authenticatorId": self.authenticator_id})
            self.is_removed = True


def add_virtual_authenticator(page: Page, **options: Any) -> VirtualAuthenticator:
    """Give ``page`` a platform authenticator; keyword options override PLATFORM_AUTHENTICATOR's."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    added = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {**PLATFORM_AUTHENTICATOR, **options}})
    return VirtualAuthenticator(cdp, added["authenticatorId"])


@contextmanager
def virtual_authenticator(page: Page, **options: Any) -> Iterator[VirtualAuthenticator]:
    """``add_virtual_authenticator`` for the length of a ``with`` block; removed and detached after."""
    authenticator = add_virtual_authenticator(page, **options)
    try:
        yield authenticator
    finally:
        if not page.is_closed():
            authenticator.remove()
            authenticator.cdp.detach()
