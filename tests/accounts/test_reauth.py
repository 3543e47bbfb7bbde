"""Admins need a second factor; sensitive actions need a recent authentication (step-up)."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from accounts import reauth, sessions
from accounts.models import AuditEvent
from permissions.access import ACCESS_TABLE, ADMIN
from tests.factories import (
    PASSKEY_ORIGIN,
    PASSWORD,
    OrderFactory,
    RefundRequestFactory,
    admin,
    customer,
    enrol_passkey,
    enrol_totp,
    fresh_totp_code,
    soft_authenticator,
)
from tests.support.clients import api_call, api_client, csrf_token
from tests.support.routes import route_example_path as _example_path
from tests.support.sign_in import page_client

pytestmark = pytest.mark.django_db


# --- An admin without a second factor ------------------------------------------------------------


@pytest.mark.parametrize("route", [r for r in ACCESS_TABLE if r.audience == ADMIN], ids=lambda r: r.name)
@pytest.mark.parametrize("channel", ["page", "api"])
def test_an_admin_without_a_factor_is_refused_on_every_admin_route(route, channel):
    ada = admin(totp=False)
    client = page_client(ada) if channel == "page" else api_client(ada)
    path = _example_path(route)
    for method in route.methods:
        response = api_call(client, method, path, {}) if route.api else client.generic(method, path)
        if route.api:
            assert (response.status_code, response.json()["code"]) == (403, "MFA_ENROLMENT_REQUIRED"), (method, path)
        else:
            assert (response.status_code, response["Location"]) == (302, "/accounts/2fa/totp/"), (method, path)


def test_an_admin_without_a_factor_cannot_decide_refunds_or_change_roles():
    ada, alice = admin(totp=False), customer()
    refund = RefundRequestFactory(order=OrderFactory(owner=alice, status="paid"))
    client = api_client(ada)
    for method, path, body in (
        ("POST", f"/api/refund-requests/{refund.pk}/approve/", {}),
        ("POST", f"/api/refund-requests/{refund.pk}/reject/", {}),
        ("PATCH", f"/api/users/{alice.pk}/", {"role": "manager"}),
        ("DELETE", f"/api/users/{alice.pk}/", None),
        ("GET", "/api/orders/", None),
    ):
        response = api_call(client, method, path, body)
        assert (response.status_code, response.json()["code"]) == (403, "MFA_ENROLMENT_REQUIRED"), path
    page = page_client(ada)
    assert page.post(f"/orders/{refund.order.pk}/", {}).status_code in (302, 405)
    assert page.get("/admin/accounts/user/")["Location"] == "/accounts/2fa/totp/"
    assert page.get("/accounts/2fa/totp/").status_code == 200  # where they are sent works
    assert api_call(client, "GET", "/api/me/").status_code == 200


def test_once_enrolled_the_admin_acts():
    ada, alice = admin(totp=False), customer()
    enrol_totp(ada)
    client = api_client(ada)
    assert api_call(client, "PATCH", f"/api/users/{alice.pk}/", {"role": "manager"}).status_code == 200


def test_other_roles_need_no_factor():
    assert page_client(customer()).get("/orders/").status_code == 200


@pytest.mark.parametrize("setting", [[], ["admin", "customer"]])
def test_the_roles_that_need_a_factor_are_a_setting(settings, setting):
    settings.MFA_REQUIRED_ROLES = setting
    status = page_client(customer()).get("/orders/").status_code
    assert status == (302 if "customer" in setting else 200)


# --- Step-up --------------------------------------------------------------------------------------


def _guarded_views(resolver: URLResolver | None = None, namespace: str = ""):
    """(URL name, method) of every route whose view carries the guard."""
    resolver = resolver or get_resolver()
    for pattern in resolver.url_patterns:
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from _guarded_views(pattern, inner)
        elif isinstance(pattern, URLPattern) and pattern.name:
            name = f"{namespace}{pattern.name}"
            view = pattern.callback
            if getattr(view, "reauth_required", False):
                for method in getattr(view, "reauth_http_methods", ("GET", "POST")):
                    yield name, method
            for method in getattr(getattr(view, "cls", None), "reauth_methods", ()):
                yield name, method


ADMIN_GUARDED = {
    ("admin:accounts_user_change", "POST"),
    ("admin:accounts_user_delete", "GET"),
    ("admin:accounts_user_delete", "POST"),
}


def test_the_list_of_sensitive_actions_matches_the_guarded_views():
    found = set(_guarded_views()) | ADMIN_GUARDED
    sensitive = set(reauth.SENSITIVE)
    # recovery-codes is guarded inside its view for POST only (GET shows how many are left).
    assert sensitive - found == {("accounts:recovery_codes", "POST")}
    assert found - sensitive == set()


def _make_stale(client: Client) -> None:
    session = client.session
    session[sessions.VERIFIED_AT] = time.time() - 301
    session.save()


def _path_for(name: str, target, actor=None) -> str:
    if name in ("accounts:passkey_remove", "api-passkey"):
        passkey = enrol_passkey(actor)  # one of the actor's own (an admin: the app stays her factor)
        return f"/accounts/passkeys/{passkey.pk}/remove/" if name.startswith("accounts:") else (
            f"/api/auth/passkeys/{passkey.pk}/"
        )
    return {
        "accounts:password_change": "/accounts/password/change/",
        "accounts:totp": "/accounts/2fa/totp/",
        "accounts:recovery_codes": "/accounts/2fa/recovery-codes/",
        "api-user": f"/api/users/{target.pk}/",
        "admin:accounts_user_change": f"/admin/accounts/user/{target.pk}/change/",
        "admin:accounts_user_delete": f"/admin/accounts/user/{target.pk}/delete/",
        "oauth:tokens": "/accounts/tokens/",
        "api-tokens": "/api/tokens/",
        "api-passkeys": "/api/auth/passkeys/",
        "api-passkeys-options": "/api/auth/passkeys/options/",
    }[name]


def _body_for(name: str, method: str, client: Client | None = None) -> dict | None:
    if name == "api-passkeys":
        if client is None:  # a stale session: refused before the body is read
            return {"credential": {"id": "x"}}
        options = api_call(client, "POST", "/api/auth/passkeys/options/").json()["publicKey"]
        return {"credential": soft_authenticator().register(options), "name": "Laptop"}
    if name == "api-tokens":
        return {"name": "ci", "scopes": ["orders:read"], "expires_in_days": 1}
    return {"role": "manager"} if method == "PATCH" else None


@pytest.mark.parametrize(("name", "method"), reauth.SENSITIVE, ids=lambda v: str(v))
def test_every_sensitive_action_is_refused_with_a_stale_session(name, method, settings):
    settings.PUBLIC_ORIGIN = PASSKEY_ORIGIN
    ada, alice = admin(), customer()
    client = api_client(ada) if name.startswith("api-") else page_client(ada)
    path = _path_for(name, alice, ada)
    _make_stale(client)
    if name.startswith("api-"):
        response = api_call(client, method, path, _body_for(name, method))
        assert (response.status_code, response.json()["code"]) == (403, "REAUTH_REQUIRED")
    else:
        data = {"role": "manager", "region": "EU", "is_active": "on"} if name.endswith("_change") else {}
        response = client.get(path) if method == "GET" else client.post(path, data)
        assert response.status_code == 302, (name, method, response.status_code)
        location = urlsplit(response["Location"])
        assert location.path == "/accounts/reauthenticate/"
        assert parse_qs(location.query)["next"] == [path]  # back to the form, not a replayed POST
    alice.refresh_from_db()
    assert alice.role == "customer" and alice.is_active and not alice.is_deleted


@pytest.mark.parametrize(("name", "method"), reauth.SENSITIVE, ids=lambda v: str(v))
def test_every_sensitive_action_works_with_a_fresh_session(name, method, settings):
    settings.PUBLIC_ORIGIN = PASSKEY_ORIGIN
    ada, alice = admin(), customer()
    client = api_client(ada) if name.startswith("api-") else page_client(ada)
    path = _path_for(name, alice, ada)
    if name.startswith("api-"):
        response = api_call(client, method, path, _body_for(name, method, client))
        assert response.status_code in (200, 201, 204)
    else:
        response = client.get(path) if method == "GET" else client.post(path, {})
        assert not response.get("Location", "").startswith("/accounts/reauthenticate/")


def test_the_api_step_up_with_the_strongest_factor_refreshes_the_session():
    ada, alice = admin(), customer()
    client = api_client(ada)
    _make_stale(client)
    assert api_call(client, "PATCH", f"/api/users/{alice.pk}/", {"role": "manager"}).status_code == 403
    # Ada has an authenticator app: her password alone is not enough.
    refused = api_call(client, "POST", "/api/auth/reauthenticate/", {"password": PASSWORD})
    assert (refused.status_code, refused.json()["code"]) == (401, "INVALID_CODE")
    ok = api_call(client, "POST", "/api/auth/reauthenticate/", {"code": fresh_totp_code(ada)})
    assert ok.status_code == 200 and ok.json() == {"status": "success"}
    assert api_call(client, "PATCH", f"/api/users/{alice.pk}/", {"role": "manager"}).status_code == 200
    assert AuditEvent.objects.filter(event="reauthenticated", actor=ada).exists()


def test_the_api_step_up_takes_the_password_from_an_account_without_a_factor():
    alice = customer()
    client = api_client(alice)
    wrong = api_call(client, "POST", "/api/auth/reauthenticate/", {"password": "not the password at all"})
    assert (wrong.status_code, wrong.json()["code"]) == (401, "INVALID_CREDENTIALS")
    # A code from an account without a factor is refused, and the answer names what it takes.
    code = api_call(client, "POST", "/api/auth/reauthenticate/", {"code": "123456"})
    assert (code.status_code, code.json()["code"]) == (401, "INVALID_CREDENTIALS")
    assert "with its password" in code.json()["message"]
    assert api_call(client, "POST", "/api/auth/reauthenticate/", {"password": PASSWORD}).status_code == 200


def test_the_step_up_page_brings_the_user_back_to_the_form():
    alice = customer()
    client = page_client(alice)
    _make_stale(client)
    response = client.get("/accounts/password/change/")
    assert response["Location"] == "/accounts/reauthenticate/?next=%2Faccounts%2Fpassword%2Fchange%2F"
    page = client.get(response["Location"])
    assert page.status_code == 200 and 'type="password"' in page.content.decode()
    back = client.post("/accounts/reauthenticate/", {"password": PASSWORD, "next": "/accounts/password/change/"})
    assert (back.status_code, back["Location"]) == (302, "/accounts/password/change/")
    assert client.get("/accounts/password/change/").status_code == 200


def test_step_up_is_throttled_in_the_sign_in_buckets():
    alice = customer()
    client = api_client(alice)  # now a known device: its attempts have a bucket of their own
    for _ in range(5):
        api_call(client, "POST", "/api/auth/reauthenticate/", {"password": "wrong wrong wrong wrong"})
    response = api_call(client, "POST", "/api/auth/reauthenticate/", {"password": PASSWORD})
    assert (response.status_code, response.json()["code"]) == (429, "TOO_MANY_LOGIN_ATTEMPTS")


def test_a_bearer_token_cannot_step_up(client):
    response = client.post("/api/auth/reauthenticate/", {"password": PASSWORD}, content_type="application/json",
                           headers={"X-CSRFToken": csrf_token(client)})
    assert response.status_code == 401
