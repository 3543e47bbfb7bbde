"""Consent: the page, its protections, what is remembered, and taking it back at /accounts/apps/."""

from __future__ import annotations

import html
import re

import pytest
from django.test import Client
from oauth2_provider.models import get_access_token_model, get_grant_model, get_refresh_token_model

from oauth.models import Consent
from oauth.registration import register_client
from permissions.scopes import catalogue
from tests.factories import customer
from tests.support.oauth import (
    AUTHORIZE_PATH,
    HTTPS_REDIRECT_URI,
    REDIRECT_URI,
    api_get,
    approve_on,
    authorize_on,
    authorize_url,
    code_from,
    consent_form,
    forms,
    location,
    query,
    refresh,
    tokens_for,
)
from tests.support.sign_in import page_client

AccessToken = get_access_token_model()
RefreshToken = get_refresh_token_model()
Grant = get_grant_model()

pytestmark = pytest.mark.django_db


def section(page_html: str, heading: str) -> list[str]:
    """The scope names listed under a heading of the consent page."""
    match = re.search(re.escape(heading) + r"</h2>\s*<ul[^>]*>(.*?)</ul>", page_html, re.S)
    return re.findall(r"<code>([^<]+)</code>", match.group(1)) if match else []


def is_consent_page(response) -> bool:
    return response.status_code == 200 and b'id="authorizationForm"' in response.content


# --- The page --------------------------------------------------------------------------------------


def test_the_first_authorization_shows_the_consent_page_with_the_app_and_each_scope(browser, public_client):
    scopes = "openid profile email orders:read orders:write"
    request = authorize_url(AUTHORIZE_PATH, public_client.client_id, scope=scopes)

    page = browser.get(request.url)

    assert is_consent_page(page)
    text = html.unescape(page.content.decode())
    assert "Demo App" in text
    for name in scopes.split():
        assert catalogue()[name].description in text
    assert section(text, "asks to") == scopes.split()
    assert "127.0.0.1:8765" in text  # where the user will be sent back
    (form,) = [f for f in forms(text) if f["id"] == "authorizationForm"]
    assert ("allow", "Authorize") in form["buttons"]
    assert len(form["buttons"]) == 2  # Allow, and Deny (which sends no "allow")
    assert ">Allow<" in text and ">Deny<" in text
    assert not Grant.objects.exists()


def test_the_consent_page_cannot_be_framed_and_may_post_back_to_the_client(browser, public_client, web_client):
    page = browser.get(authorize_url(AUTHORIZE_PATH, public_client.client_id).url)
    web_page = browser.get(
        authorize_url(AUTHORIZE_PATH, web_client.client_id, scope="openid", redirect_uri=HTTPS_REDIRECT_URI).url
    )

    for response, origin in ((page, "http://127.0.0.1:8765"), (web_page, "https://app.example.com")):
        assert is_consent_page(response)
        assert response["X-Frame-Options"] == "DENY"
        directives = {
            d.strip().split()[0]: d.strip().split()[1:]
            for d in response["Content-Security-Policy"].split(";")
            if d.strip()
        }
        assert directives["frame-ancestors"] == ["'none'"]
        assert set(directives["form-action"]) == {"'self'", origin}
        assert "'unsafe-inline'" not in directives.get("script-src", [])
        assert response["Referrer-Policy"] == "no-referrer"
        assert response["Cache-Control"] == "no-store"


def test_deny_sends_the_user_back_with_access_denied_and_the_state(browser, public_client, issuer):
    request = authorize_url(AUTHORIZE_PATH, public_client.client_id)
    page = browser.get(request.url)

    response = approve_on(browser, page, allow=False)

    assert response.status_code == 302
    assert location(response).startswith(REDIRECT_URI + "?")
    params = query(location(response))
    assert params["error"] == "access_denied"
    assert params["state"] == request.state
    assert params["iss"] == issuer
    assert "code" not in params
    assert not Grant.objects.exists()
    assert not Consent.objects.exists()


def test_allow_sends_the_user_back_with_a_code(browser, public_client, issuer):
    request = authorize_url(AUTHORIZE_PATH, public_client.client_id)

    response = approve_on(browser, browser.get(request.url))

    params = query(location(response))
    assert params["code"] and params["state"] == request.state and params["iss"] == issuer
    assert Grant.objects.count() == 1
    assert Consent.objects.get().scope_list == sorted("openid profile email orders:read orders:write".split())


# --- Tampering ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "field, value",
    [
        ("scope", "openid profile email orders:read orders:write"),
        ("redirect_uri", "http://127.0.0.1:8765/other"),
        ("client_id", "test-other-client"),
        ("code_challenge", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"),
        ("code_challenge_method", "plain"),
        ("state", "another-state"),
    ],
)
def test_an_altered_consent_form_is_refused_and_no_code_is_issued(
    browser, public_client, other_public_client, field, value
):
    request = authorize_url(AUTHORIZE_PATH, public_client.client_id, scope="openid orders:read")
    page = browser.get(request.url)
    assert consent_form(page.content.decode())[field] != value

    response = approve_on(browser, page, **{field: value})

    assert response.status_code == 400
    assert "Location" not in response.headers
    assert not Grant.objects.exists()
    assert not Consent.objects.exists()


def test_a_consent_form_cannot_be_posted_twice(browser, public_client):
    page = browser.get(authorize_url(AUTHORIZE_PATH, public_client.client_id).url)
    assert approve_on(browser, page).status_code == 302

    again = approve_on(browser, page)

    assert again.status_code == 400
    assert Grant.objects.count() == 1


def test_a_consent_post_without_the_csrf_token_is_refused(alice, public_client):
    browser = Client(enforce_csrf_checks=True)
    browser.cookies = page_client(alice).cookies
    page = browser.get(authorize_url(AUTHORIZE_PATH, public_client.client_id).url)
    fields = consent_form(page.content.decode())
    fields.pop("csrfmiddlewaretoken")
    fields["allow"] = "Authorize"

    response = browser.post(AUTHORIZE_PATH, fields)

    assert response.status_code == 403
    assert not Grant.objects.exists()
    assert not Consent.objects.exists()


# --- Remembered consent ---------------------------------------------------------------------------


def test_an_approval_is_remembered_for_the_same_scopes(browser, public_client):
    first, request = authorize_on(browser, public_client.client_id, scope="openid orders:read")
    code_from(first, request)

    second = browser.get(authorize_url(AUTHORIZE_PATH, public_client.client_id, scope="openid orders:read").url)
    subset = browser.get(authorize_url(AUTHORIZE_PATH, public_client.client_id, scope="orders:read").url)

    assert second.status_code == 302 and "code" in query(location(second))
    assert subset.status_code == 302 and "code" in query(location(subset))


def test_an_approval_is_per_user(public_client, alice):
    authorize_on(page_client(alice), public_client.client_id, scope="openid")

    bob = page_client(customer())

    assert is_consent_page(bob.get(authorize_url(AUTHORIZE_PATH, public_client.client_id, scope="openid").url))


def test_an_approval_is_per_client(browser, public_client, other_public_client):
    authorize_on(browser, public_client.client_id, scope="openid")

    assert is_consent_page(
        browser.get(authorize_url(AUTHORIZE_PATH, other_public_client.client_id, scope="openid").url)
    )


def test_a_new_scope_asks_again_listing_only_the_new_scope(browser, public_client):
    authorize_on(browser, public_client.client_id, scope="openid orders:read")

    page = browser.get(
        authorize_url(AUTHORIZE_PATH, public_client.client_id, scope="openid orders:read orders:write").url
    )

    assert is_consent_page(page)
    text = html.unescape(page.content.decode())
    assert section(text, "asks to") == ["orders:write"]
    assert section(text, "You already allowed it to") == ["openid", "orders:read"]
    approve_on(browser, page)
    assert Consent.objects.get().scope_list == ["openid", "orders:read", "orders:write"]


def test_prompt_consent_asks_again_even_when_remembered(browser, public_client):
    authorize_on(browser, public_client.client_id, scope="openid")

    page = browser.get(authorize_url(AUTHORIZE_PATH, public_client.client_id, scope="openid", prompt="consent").url)

    assert is_consent_page(page)


def test_a_client_registered_with_skip_consent_never_shows_the_page(browser, trusted_client):
    response, request = authorize_on(browser, trusted_client.client_id, allow=False)

    assert code_from(response, request)
    assert not Consent.objects.exists()


# --- A loopback redirect URI on another port (RFC 8252 8.6) ------------------------------------------

OTHER_PORT_URI = "http://127.0.0.1:9999/callback"  # any local process may listen there


@pytest.fixture
def confidential_loopback_client(db):
    return register_client(
        name="Desktop App With A Secret", client_type="confidential", grant="authorization-code",
        scopes=["openid", "orders:read"], redirect_uris=[REDIRECT_URI], client_id="test-confidential-loopback",
    )


def test_a_remembered_approval_is_asked_again_on_another_loopback_port(browser, public_client):
    authorize_on(browser, public_client.client_id, scope="openid")

    page = browser.get(
        authorize_url(AUTHORIZE_PATH, public_client.client_id, scope="openid", redirect_uri=OTHER_PORT_URI).url
    )

    assert is_consent_page(page)
    assert b"127.0.0.1:9999" in page.content  # the user sees where the answer goes
    assert Grant.objects.count() == 1  # the first authorization's code only


def test_prompt_none_on_another_loopback_port_is_consent_required_even_when_remembered(browser, public_client, issuer):
    authorize_on(browser, public_client.client_id, scope="openid")
    request = authorize_url(
        AUTHORIZE_PATH, public_client.client_id, scope="openid", prompt="none", redirect_uri=OTHER_PORT_URI
    )

    response = browser.get(request.url)

    assert response.status_code == 302
    assert location(response).startswith(OTHER_PORT_URI + "?"), location(response)
    params = query(location(response))
    assert params["error"] == "consent_required"
    assert params["state"] == request.state and params["iss"] == issuer
    assert "code" not in params
    assert Grant.objects.count() == 1  # the first authorization's code only


def test_the_registered_loopback_port_keeps_the_remembered_approval_silent(browser, public_client, issuer):
    authorize_on(browser, public_client.client_id, scope="openid")
    request = authorize_url(
        AUTHORIZE_PATH, public_client.client_id, scope="openid", prompt="none", redirect_uri=REDIRECT_URI
    )

    response = browser.get(request.url)

    assert location(response).startswith(REDIRECT_URI + "?")
    assert code_from(response, request) and query(location(response))["iss"] == issuer


def test_another_loopback_port_shows_the_page_even_for_a_client_registered_with_skip_consent(
    browser, trusted_client, issuer
):
    assert is_consent_page(
        browser.get(authorize_url(AUTHORIZE_PATH, trusted_client.client_id, redirect_uri=OTHER_PORT_URI).url)
    )
    request = authorize_url(AUTHORIZE_PATH, trusted_client.client_id, prompt="none", redirect_uri=OTHER_PORT_URI)
    assert query(location(browser.get(request.url)))["error"] == "consent_required"
    # On its registered port it still skips the page.
    response, request = authorize_on(browser, trusted_client.client_id, allow=False)
    assert code_from(response, request)


def test_approving_on_another_loopback_port_gives_that_uri_a_code_once_and_is_asked_again_next_time(
    browser, public_client
):
    request = authorize_url(AUTHORIZE_PATH, public_client.client_id, scope="openid", redirect_uri=OTHER_PORT_URI)
    response = approve_on(browser, browser.get(request.url))
    assert location(response).startswith(OTHER_PORT_URI + "?") and code_from(response, request)

    again = browser.get(
        authorize_url(AUTHORIZE_PATH, public_client.client_id, scope="openid", redirect_uri=OTHER_PORT_URI).url
    )

    assert is_consent_page(again)


def test_a_confidential_client_on_another_loopback_port_keeps_its_remembered_approval(
    browser, confidential_loopback_client
):
    """Its secret identifies it at the token endpoint; a code sent to another process is useless."""
    client_id = confidential_loopback_client.client_id
    authorize_on(browser, client_id, scope="openid")
    request = authorize_url(AUTHORIZE_PATH, client_id, scope="openid", prompt="none", redirect_uri=OTHER_PORT_URI)

    response = browser.get(request.url)

    assert location(response).startswith(OTHER_PORT_URI + "?")
    assert code_from(response, request)


# --- Connected apps -----------------------------------------------------------------------------


def test_connected_apps_lists_the_app_with_its_scopes(browser, public_client):
    authorize_on(browser, public_client.client_id, scope="openid orders:read")

    page = browser.get("/accounts/apps/")

    assert page.status_code == 200
    text = html.unescape(page.content.decode())
    assert "Demo App" in text
    assert catalogue()["orders:read"].description in text
    assert catalogue()["openid"].description in text
    assert catalogue()["orders:write"].description not in text


def test_revoking_an_app_kills_its_tokens_for_that_user_and_forgets_the_consent(
    alice, browser, public_client, other_public_client
):
    tokens, _request = tokens_for(browser, public_client.client_id, scope="openid orders:read")
    kept_other_app, _ = tokens_for(browser, other_public_client.client_id, scope="openid orders:read")
    bob_browser = page_client(customer())
    kept_other_user, _ = tokens_for(bob_browser, public_client.client_id, scope="openid orders:read")

    response = browser.post(f"/accounts/apps/{public_client.application.pk}/revoke/")

    assert response.status_code == 302
    assert api_get(Client(), "/api/orders/", tokens["access_token"]).status_code == 401
    assert refresh(public_client.client_id, tokens["refresh_token"]).json()["error"] == "invalid_grant"
    assert api_get(Client(), "/api/orders/", kept_other_app["access_token"]).status_code == 200
    assert api_get(Client(), "/api/orders/", kept_other_user["access_token"]).status_code == 200
    assert not Consent.objects.filter(user=alice, application=public_client.application).exists()
    assert is_consent_page(
        browser.get(authorize_url(AUTHORIZE_PATH, public_client.client_id, scope="openid orders:read").url)
    )
    assert "Demo App" not in html.unescape(browser.get("/accounts/apps/").content.decode())


def test_revoking_needs_a_post_with_the_csrf_token(alice, public_client):
    browser = Client(enforce_csrf_checks=True)
    browser.cookies = page_client(alice).cookies
    tokens, _request = tokens_for(browser, public_client.client_id, scope="openid orders:read")

    assert browser.get(f"/accounts/apps/{public_client.application.pk}/revoke/").status_code == 405
    assert browser.post(f"/accounts/apps/{public_client.application.pk}/revoke/").status_code == 403
    assert api_get(Client(), "/api/orders/", tokens["access_token"]).status_code == 200


def test_a_consent_post_with_the_null_origin_of_no_referrer_works_only_with_the_token(alice, public_client):
    """Chromium posts the no-referrer consent page with Origin: null; the CSRF token still decides."""
    browser = Client(enforce_csrf_checks=True)
    browser.cookies = page_client(alice).cookies

    def consent_fields() -> dict:
        page = browser.get(authorize_url(AUTHORIZE_PATH, public_client.client_id).url)
        return {**consent_form(page.content.decode()), "allow": "Authorize"}

    fields = consent_fields()
    tokenless = {k: v for k, v in fields.items() if k != "csrfmiddlewaretoken"}
    assert browser.post(AUTHORIZE_PATH, tokenless, headers={"Origin": "null"}).status_code == 403
    assert browser.post(AUTHORIZE_PATH, consent_fields(), headers={"Origin": "https://evil.example"}).status_code == 403
    answer = browser.post(AUTHORIZE_PATH, consent_fields(), headers={"Origin": "null"})
    assert answer.status_code == 302 and "code=" in answer["Location"]
