"""Fixtures of the OAuth/OIDC tests: registered clients, the live provider, browsers.

Live tests run the real application over HTTP in pytest-django's ``live_server`` thread.
They need committed data (``transaction=True``); ``serialized_rollback=True`` restores the
role -> permission rows of the data migration, which the flush after each transactional
test removes (see tests/orders/test_services.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import requests
from oauth2_provider.models import get_application_model

from oauth.registration import register_client
from tests.oauth.helpers import HTTPS_REDIRECT_URI, REDIRECT_URI, USER_SCOPES, Browser

Application = get_application_model()


@dataclass
class Client:
    client_id: str
    client_secret: str | None
    application: object


def _register(**kwargs) -> Client:
    registered = register_client(**kwargs)
    return Client(
        client_id=registered.client_id,
        client_secret=registered.client_secret,
        application=Application.objects.get(client_id=registered.client_id),
    )


@pytest.fixture
def public_client(db) -> Client:
    """Like ``demo-client``: public, authorization code + PKCE, loopback redirect, every user scope."""
    return _register(
        name="Demo App",
        client_type="public",
        grant="authorization-code",
        scopes=USER_SCOPES.split(),
        redirect_uris=[REDIRECT_URI],
        client_id="test-demo-client",
    )


@pytest.fixture
def other_public_client(db) -> Client:
    return _register(
        name="Other App",
        client_type="public",
        grant="authorization-code",
        scopes=USER_SCOPES.split(),
        redirect_uris=[REDIRECT_URI],
        client_id="test-other-client",
    )


@pytest.fixture
def web_client(db) -> Client:
    """A confidential web app with an https redirect URI (exact match, no port leeway)."""
    return _register(
        name="Web App",
        client_type="confidential",
        grant="authorization-code",
        scopes=["openid", "orders:read"],
        redirect_uris=[HTTPS_REDIRECT_URI],
        client_id="test-web-client",
    )


@pytest.fixture
def narrow_client(db) -> Client:
    """A public client registered for openid and orders:read only."""
    return _register(
        name="Narrow App",
        client_type="public",
        grant="authorization-code",
        scopes=["openid", "orders:read"],
        redirect_uris=[REDIRECT_URI],
        client_id="test-narrow-client",
    )


@pytest.fixture
def trusted_client(db) -> Client:
    """A first-party client registered with --skip-consent."""
    return _register(
        name="Trusted App",
        client_type="public",
        grant="authorization-code",
        scopes=USER_SCOPES.split(),
        redirect_uris=[REDIRECT_URI],
        client_id="test-trusted-client",
        skip_consent=True,
    )


@pytest.fixture
def service_client(db) -> Client:
    """Like ``demo-service``: client credentials, role support in region EU, orders:read."""
    return _register(
        name="Service",
        client_type="confidential",
        grant="client-credentials",
        scopes=["orders:read"],
        role="support",
        region="EU",
        client_id="test-service",
    )


@pytest.fixture
def resource_server(db) -> Client:
    """A confidential client registered with --introspect."""
    return _register(
        name="Resource Server",
        client_type="confidential",
        grant="client-credentials",
        scopes=["orders:read"],
        role="support",
        region="EU",
        client_id="test-resource-server",
        introspect=True,
    )


@dataclass
class Provider:
    """The provider on the live server, its endpoints read from discovery."""

    base_url: str
    issuer: str
    metadata: dict

    def endpoint(self, name: str) -> str:
        return self.metadata[name]

    def browser(self) -> Browser:
        return Browser(self.base_url)


@pytest.fixture
def provider(live_server, settings) -> Provider:
    """The live provider, its issuer moved to the live server's origin.

    PUBLIC_ORIGIN and OIDC_ISS_ENDPOINT are computed when the settings load; DOT's
    ``oauth2_settings`` reloads on ``setting_changed``, so overriding both is enough.
    """
    origin = live_server.url
    settings.PUBLIC_ORIGIN = origin
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "OIDC_ISS_ENDPOINT": f"{origin}/o"}
    response = requests.get(f"{origin}/o/.well-known/openid-configuration", timeout=30)
    assert response.status_code == 200, response.text[:500]
    metadata = response.json()
    assert metadata["issuer"] == f"{origin}/o", metadata["issuer"]
    return Provider(base_url=origin, issuer=f"{origin}/o", metadata=metadata)


@pytest.fixture
def issuer(settings) -> str:
    """The issuer for tests on Django's test client (no live server)."""
    return settings.OAUTH2_PROVIDER["OIDC_ISS_ENDPOINT"]
