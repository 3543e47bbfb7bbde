"""Sign-in by page and API: one message for every failure, safe redirects, case-insensitive email."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from accounts.models import User
from tests.accounts.helpers import INVALID_CREDENTIALS_BODY, LOGIN_PAGE, api_login_response, is_signed_in, register_data
from tests.factories import PASSWORD, customer
from tests.support.sign_in import page_login

pytestmark = pytest.mark.django_db


def _form_errors(response) -> list[str]:
    return list(response.context["form"].non_field_errors())


# --- One message for a wrong email and a wrong password -------------------------


def test_page_gives_the_same_error_for_unknown_email_and_wrong_password(client):
    user = customer()
    unknown = page_login(client, "nobody@example.com", PASSWORD)
    wrong = page_login(client, user.email, "not the right password")

    assert unknown.status_code == wrong.status_code == 401
    assert _form_errors(unknown) == _form_errors(wrong) == ["Invalid email or password"]
    assert b"Invalid email or password" in unknown.content
    assert b"Invalid email or password" in wrong.content
    assert not is_signed_in(client)


def test_api_gives_the_same_error_for_unknown_email_and_wrong_password(client):
    user = customer()
    unknown = api_login_response(client, "nobody@example.com", PASSWORD)
    wrong = api_login_response(client, user.email, "not the right password")

    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json() == wrong.json() == INVALID_CREDENTIALS_BODY


def test_inactive_account_with_right_password_gets_the_same_error(client):
    user = customer(is_active=False)
    response = api_login_response(client, user.email, PASSWORD)
    assert response.status_code == 401
    assert response.json() == INVALID_CREDENTIALS_BODY


@pytest.mark.parametrize("channel", ["page", "api"])
def test_unknown_email_still_computes_a_password_hash(client, hash_spy, channel):
    login = page_login if channel == "page" else api_login_response
    hash_spy.reset_mock()

    response = login(client, "nobody@example.com", PASSWORD)

    assert response.status_code == 401
    assert hash_spy.call_count >= 1, "no hash was computed for an unknown email"


def test_unknown_email_goes_through_set_password(client, monkeypatch):
    calls = []
    original = User.set_password

    def spy(self, raw_password):
        calls.append(raw_password)
        return original(self, raw_password)

    monkeypatch.setattr(User, "set_password", spy)
    assert page_login(client, "nobody@example.com", PASSWORD).status_code == 401
    assert calls == [PASSWORD]


# --- Success -----------------------------------------------------------------


def test_page_sign_in_redirects_home_and_signs_in(client):
    user = customer()
    response = page_login(client, user.email)
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.get("/api/me/").json()["id"] == str(user.pk)


def test_email_is_case_insensitive_at_sign_in(client):
    user = customer(email="carol@example.com")
    response = api_login_response(client, "Carol@EXAMPLE.com")
    assert response.status_code == 200
    assert response.json()["user"]["id"] == str(user.pk)


def test_email_is_stored_lower_case():
    user = customer(email="Dave.Smith@Example.COM")
    assert User.objects.get(pk=user.pk).email == "dave.smith@example.com"


def test_database_refuses_two_emails_differing_only_in_case():
    customer(email="erin@example.com")
    other = customer(email="other@example.com")
    with pytest.raises(IntegrityError), transaction.atomic():
        # Bypass save()'s normalisation: the constraint itself must refuse it.
        User.objects.filter(pk=other.pk).update(email="ERIN@example.com")


# --- Open redirect -------------------------------------------------------------

EVIL_TARGETS = [
    "https://evil.example/",
    "//evil.example/",
    "///evil.example/",
    "/\\evil.example/",
    "javascript:alert(1)",
]


@pytest.mark.parametrize("target", EVIL_TARGETS)
def test_login_refuses_an_offsite_next(client, target):
    user = customer()
    response = page_login(client, user.email, next=target)
    assert response.status_code == 302
    assert response["Location"] == "/"


@pytest.mark.parametrize("target", EVIL_TARGETS[:2])
def test_login_refuses_an_offsite_next_in_the_query_string(client, target):
    user = customer()
    response = client.post(f"{LOGIN_PAGE}?next={target}", {"email": user.email, "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == "/"


def test_login_honours_a_local_next(client):
    user = customer()
    response = page_login(client, user.email, next="/orders/")
    assert response.status_code == 302
    assert response["Location"] == "/orders/"


def test_login_form_carries_only_a_safe_next(client):
    response = client.get(f"{LOGIN_PAGE}?next=https://evil.example/")
    assert response.status_code == 200
    assert b"evil.example" not in response.content
    response = client.get(f"{LOGIN_PAGE}?next=/orders/")
    assert b'value="/orders/"' in response.content


@pytest.mark.parametrize("target", EVIL_TARGETS[:2])
def test_register_refuses_an_offsite_next(client, target):
    response = client.post("/accounts/register/", register_data(next=target))
    assert response.status_code == 302
    assert response["Location"] == "/"


def test_register_honours_a_local_next(client):
    response = client.post("/accounts/register/", register_data(next="/orders/"))
    assert response.status_code == 302
    assert response["Location"] == "/orders/"


def test_anonymous_visit_of_a_protected_page_redirects_to_login_with_next(client):
    response = client.get("/accounts/profile/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/accounts/profile/"
