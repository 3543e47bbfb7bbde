"""The second sign-in step: pending state, API and pages, expiry, throttle, the admin."""

from __future__ import annotations

import time
from unittest import mock

import pytest
from django.core import mail
from django.test import Client

from accounts import services
from accounts.models import AuditEvent
from permissions.access import ACCESS_TABLE
from tests.factories import PASSWORD, admin, customer, enrol_totp, fresh_totp_code
from tests.support.clients import csrf_token
from tests.support.routes import route_example_path as _example_path

pytestmark = pytest.mark.django_db

LOGIN = "/api/auth/login/"
SECOND = "/api/auth/login/2fa/"


def password_step(client: Client, user) -> dict:
    response = client.post(
        LOGIN, {"email": user.email, "password": PASSWORD}, content_type="application/json",
        headers={"X-CSRFToken": csrf_token(client)},
    )
    assert response.status_code == 200, response.content
    return response.json()


def second_step(client: Client, body: dict):
    return client.post(SECOND, body, content_type="application/json", headers={"X-CSRFToken": csrf_token(client)})


@pytest.fixture
def totp_user():
    return enrol_totp(customer())


def test_the_password_step_answers_mfa_required_and_signs_nobody_in(client, totp_user):
    services.recovery_codes_regenerate(user=totp_user)
    assert password_step(client, totp_user) == {"status": "mfa_required", "methods": ["totp", "recovery_code"]}
    assert client.get("/api/me/").status_code == 401
    assert not AuditEvent.objects.filter(event="login_succeeded").exists()


def test_the_right_code_signs_in_with_the_usual_answer(client, totp_user):
    password_step(client, totp_user)
    response = second_step(client, {"code": fresh_totp_code(totp_user)})
    assert response.status_code == 200
    assert response.json() == {
        "status": "success",
        "user": {"id": str(totp_user.pk), "email": totp_user.email, "name": totp_user.name, "role": "customer"},
    }
    assert client.get("/api/me/").status_code == 200
    assert AuditEvent.objects.filter(event="factor_used", actor=totp_user).exists()


def test_a_wrong_code_is_401_invalid_code_and_audited(client, totp_user):
    password_step(client, totp_user)
    response = second_step(client, {"code": "000000" if fresh_totp_code(totp_user) != "000000" else "111111"})
    assert response.status_code == 401
    assert response.json()["code"] == "INVALID_CODE"
    assert client.get("/api/me/").status_code == 401
    assert AuditEvent.objects.filter(event="second_step_failed", actor=totp_user, outcome="failure").exists()


def test_a_recovery_code_signs_in_once_and_is_audited_and_mailed(client, totp_user):
    codes = services.recovery_codes_regenerate(user=totp_user)
    password_step(client, totp_user)
    assert second_step(client, {"recovery_code": codes[0]}).status_code == 200
    assert AuditEvent.objects.filter(event="recovery_code_used", actor=totp_user, reason="9 left").exists()
    assert "A recovery code was used to sign in to your account" in [m.subject for m in mail.outbox]
    other = Client()
    password_step(other, totp_user)
    assert second_step(other, {"recovery_code": codes[0]}).json()["code"] == "INVALID_CODE"


def test_the_second_step_without_a_first_is_401_not_authenticated(client):
    response = second_step(client, {"code": "123456"})
    assert response.status_code == 401
    assert response.json()["code"] == "NOT_AUTHENTICATED"


def test_the_pending_state_expires_after_300_seconds(client, totp_user):
    password_step(client, totp_user)
    later = time.time() + 301
    with mock.patch("accounts.login.time.time", return_value=later):
        response = second_step(client, {"code": fresh_totp_code(totp_user)})
    assert (response.status_code, response.json()["code"]) == (401, "NOT_AUTHENTICATED")


def test_the_pending_state_lives_until_300_seconds(client, totp_user):
    password_step(client, totp_user)
    with mock.patch("accounts.login.time.time", return_value=time.time() + 299):
        assert second_step(client, {"code": fresh_totp_code(totp_user)}).status_code == 200


def test_a_password_changed_since_the_first_step_voids_it(client, totp_user):
    password_step(client, totp_user)
    totp_user.set_password("another long passphrase 77")
    totp_user.save()
    assert second_step(client, {"code": fresh_totp_code(totp_user)}).json()["code"] == "NOT_AUTHENTICATED"


def test_the_second_step_is_throttled_in_the_first_steps_buckets(client, totp_user):
    password_step(client, totp_user)  # attempt 1 of 5 for the account
    for _ in range(4):  # attempts 2..5
        assert second_step(client, {"code": "000000"}).status_code in (401, 200)
    response = second_step(client, {"code": fresh_totp_code(totp_user)})
    assert response.status_code == 429
    assert response.json()["code"] == "TOO_MANY_LOGIN_ATTEMPTS"
    assert int(response["Retry-After"]) > 0
    assert client.get("/api/me/").status_code == 401


def test_failed_second_steps_fill_the_account_bucket_for_the_first_step(totp_user):
    attacker = Client()
    password_step(attacker, totp_user)
    for _ in range(4):
        second_step(attacker, {"code": "000000"})
    response = Client().post(LOGIN, {"email": totp_user.email, "password": PASSWORD}, content_type="application/json")
    assert response.status_code == 429


def test_both_codes_at_once_are_refused(client, totp_user):
    password_step(client, totp_user)
    response = second_step(client, {"code": "123456", "recovery_code": "abcde-fghij"})
    assert response.status_code == 400


# --- Pages ----------------------------------------------------------------------------------


def test_the_login_page_sends_an_enrolled_user_to_the_second_step_and_back_to_next(client, totp_user):
    response = client.post("/accounts/login/", {"email": totp_user.email, "password": PASSWORD, "next": "/orders/"})
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/2fa/?next=%2Forders%2F"
    assert client.get("/accounts/profile/").status_code == 302  # not signed in yet
    wrong_code = "000000" if fresh_totp_code(totp_user) != "000000" else "111111"
    wrong = client.post(response["Location"], {"code": wrong_code})
    assert wrong.status_code == 401
    done = client.post(response["Location"], {"code": fresh_totp_code(totp_user)})
    assert (done.status_code, done["Location"]) == (302, "/orders/")
    assert client.get("/accounts/profile/").status_code == 200


def test_the_second_step_page_without_a_first_goes_back_to_the_login_page(client):
    response = client.get("/accounts/login/2fa/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


# --- The pending state authenticates nothing ----------------------------------------------------


@pytest.mark.parametrize("route", [r for r in ACCESS_TABLE if not r.is_public], ids=lambda r: r.name)
def test_the_pending_state_authenticates_nothing(route):
    ada = admin()  # the most powerful account: its pending state must open nothing either
    client = Client()
    password_step(client, ada)
    path = _example_path(route)
    response = client.generic(route.methods[0], path, content_type="application/json", data="{}")
    if route.audience == "token" or route.api:
        assert response.status_code == 401, (path, response.status_code)
    else:
        assert response.status_code == 302, (path, response.status_code)
        assert "/login/" in response["Location"]


def test_the_django_admin_cannot_be_reached_with_only_the_password_step():
    ada = admin()
    client = Client()
    response = client.post("/accounts/login/", {"email": ada.email, "password": PASSWORD, "next": "/admin/"})
    assert response["Location"].startswith("/accounts/login/2fa/")
    for path in ("/admin/", "/admin/accounts/user/", f"/admin/accounts/user/{customer().pk}/change/"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert "/login/" in response["Location"], path
    client.post("/accounts/login/2fa/", {"code": fresh_totp_code(ada), "next": "/admin/"})
    assert client.get("/admin/").status_code == 200
