"""Fixtures of the OAuth/OIDC tests: registered clients, the live provider, browsers.

Live tests run the real application over HTTP in pytest-django's ``live_server`` thread.
They need committed data (``transaction=True``); ``serialized_rollback=True`` restores the
role -> permission rows of the data migration, which the flush after each transactional
test removes (see tests/orders/test_services.py).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import pytest
import requests
from django.core.signals import request_finished, request_started
from oauth2_provider.models import get_application_model

from oauth.registration import register_client
from tests.factories import customer
from tests.support.oauth import HTTPS_REDIRECT_URI, REDIRECT_URI, USER_SCOPES, Browser
from tests.support.sign_in import page_client

Application = get_application_model()


@dataclass
class RegisteredClient:
    client_id: str
    client_secret: str | None
    application: object


def _register(**kwargs) -> RegisteredClient:
    registered = register_client(**kwargs)
    return RegisteredClient(
        client_id=registered.client_id,
        client_secret=registered.client_secret,
        application=Application.objects.get(client_id=registered.client_id),
    )


@pytest.fixture
def public_client(db) -> RegisteredClient:
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
def other_public_client(db) -> RegisteredClient:
    return _register(
        name="Other App",
        client_type="public",
        grant="authorization-code",
        scopes=USER_SCOPES.split(),
        redirect_uris=[REDIRECT_URI],
        client_id="test-other-client",
    )


@pytest.fixture
def web_client(db) -> RegisteredClient:
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
def narrow_client(db) -> RegisteredClient:
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
def trusted_client(db) -> RegisteredClient:
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
def service_client(db) -> RegisteredClient:
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
def resource_server(db) -> RegisteredClient:
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


class InFlight:
    """Counts requests the live server has started and not yet finished.

    A client has the whole response before the server thread runs ``request_finished``
    (which touches the database connection); the test must not tear the database down
    under it, so teardown waits until the server is idle.
    """

    def __init__(self) -> None:
        self.count = 0
        self.condition = threading.Condition()

    def started(self, **kwargs) -> None:
        with self.condition:
            self.count += 1

    def finished(self, **kwargs) -> None:
        with self.condition:
            self.count -= 1
            self.condition.notify_all()

    def wait_idle(self, timeout: float = 30) -> bool:
        with self.condition:
            return self.condition.wait_for(lambda: self.count <= 0, timeout)


@pytest.fixture
def provider(live_server, settings, transactional_db):
    """The live provider, its issuer moved to the live server's origin.

    PUBLIC_ORIGIN and OIDC_ISS_ENDPOINT are computed when the settings load; DOT's
    ``oauth2_settings`` reloads on ``setting_changed``, so overriding both is enough.
    Set up after the database fixture, so it is torn down first: it waits for the
    server to finish every request before the database is flushed.
    """
    in_flight = InFlight()
    request_started.connect(in_flight.started, weak=False, dispatch_uid="oauth-tests-in-flight")
    request_finished.connect(in_flight.finished, weak=False, dispatch_uid="oauth-tests-in-flight")
    try:
        yield _provider(live_server, settings)
    finally:
        idle = in_flight.wait_idle()
        request_started.disconnect(dispatch_uid="oauth-tests-in-flight")
        request_finished.disconnect(dispatch_uid="oauth-tests-in-flight")
    assert idle, "the live server is still handling a request"


def _provider(live_server, settings) -> Provider:
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


@pytest.fixture
def alice():
    """A customer in EU."""
    return customer()


@pytest.fixture
def browser(alice):
    """Alice's browser, signed in through the login page."""
    return page_client(alice)
