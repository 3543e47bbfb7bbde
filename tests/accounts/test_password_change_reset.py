"""Changing the password (signed in) and resetting it by email."""

from __future__ import annotations

import re
from importlib import import_module
from unittest import mock

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.core import mail
from django.test import Client, RequestFactory

from accounts import services
from accounts.models import AuditEvent, User, UserSession
from tests.accounts.helpers import is_signed_in, session_cookie
from tests.factories import PASSWORD, customer
from tests.support.sign_in import page_login

pytestmark = pytest.mark.django_db

CHANGE = "/accounts/password/change/"
RESET = "/accounts/password/reset/"
NEW_PASSWORD = "brand new harbour lantern"


def change_data(old: str = PASSWORD, new: str = NEW_PASSWORD) -> dict:
    return {"old_password": old, "new_password1": new, "new_password2": new}


# --- Change --------------------------------------------------------------------------


def test_password_change_needs_the_current_password(client):
    user = customer()
    page_login(client, user.email)

    response = client.post(CHANGE, change_data(old="not my current password"))

    assert response.status_code == 200
    assert "old_password" in response.context["form"].errors
    assert User.objects.get(pk=user.pk).check_password(PASSWORD)
    assert not AuditEvent.objects.filter(event="password_changed").exists()


def test_password_change_applies_the_password_rules(client):
    user = customer()
    page_login(client, user.email)
    response = client.post(CHANGE, change_data(new="password1234"))
    assert response.status_code == 200
    assert "new_password2" in response.context["form"].errors
    assert User.objects.get(pk=user.pk).check_password(PASSWORD)


def test_password_change_keeps_this_session_and_ends_the_others(client):
    user = customer()
    other = Client()
    page_login(client, user.email)
    page_login(other, user.email)
    other_key = session_cookie(other)

    response = client.post(CHANGE, change_data())

    assert response.status_code == 302
    fresh = User.objects.get(pk=user.pk)
    assert fresh.check_password(NEW_PASSWORD)
    assert is_signed_in(client)
    assert not is_signed_in(other)
    assert not UserSession.objects.filter(session_key=other_key).exists()
    # The session that changed the password is still listed, under its current key.
    assert list(UserSession.objects.filter(user=user).values_list("session_key", flat=True)) == [session_cookie(client)]
    assert AuditEvent.objects.filter(event="password_changed", actor=user).exists()


def test_password_change_page_needs_sign_in(client):
    response = client.get(CHANGE)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


# --- Reset by email ------------------------------------------------------------------


def _reset_link(message) -> str:
    match = re.search(r"https?://\S+/accounts/password/reset/\S+/\S+/", message.body)
    assert match, message.body
    return match.group(0)


def test_reset_answers_the_same_for_existing_and_unknown_addresses(client):
    user = customer()
    known = client.post(RESET, {"email": user.email})
    unknown = client.post(RESET, {"email": "nobody@example.com"})

    assert known.status_code == unknown.status_code == 302
    assert known["Location"] == unknown["Location"]
    known_page = client.get(known["Location"])
    unknown_page = client.get(unknown["Location"])
    assert known_page.status_code == unknown_page.status_code == 200
    assert known_page.content == unknown_page.content


def test_reset_sends_mail_only_to_an_existing_account(client):
    user = customer()
    client.post(RESET, {"email": "nobody@example.com"})
    assert mail.outbox == []

    client.post(RESET, {"email": user.email})
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [user.email]


def test_reset_link_uses_public_origin_not_the_host_header(client, settings):
    settings.PUBLIC_ORIGIN = "https://auth.example.com"
    user = customer()

    client.post(RESET, {"email": user.email}, HTTP_HOST="testserver")

    body = mail.outbox[0].body
    assert "https://auth.example.com/accounts/password/reset/" in body
    assert "testserver" not in body
    assert _reset_link(mail.outbox[0]).startswith("https://auth.example.com/")


def _complete_reset(client: Client, link: str, new_password: str = NEW_PASSWORD):
    path = re.sub(r"^https?://[^/]+", "", link)
    response = client.get(path)
    assert response.status_code == 302, response.content  # to the set-password URL
    form_url = response["Location"]
    return client.post(form_url, {"new_password1": new_password, "new_password2": new_password})


def test_completing_a_reset_ends_every_session():
    user = customer()
    laptop, phone = Client(), Client()
    page_login(laptop, user.email)
    page_login(phone, user.email)
    resetter = Client()
    resetter.post(RESET, {"email": user.email})

    response = _complete_reset(resetter, _reset_link(mail.outbox[0]))

    assert response.status_code == 302
    fresh = User.objects.get(pk=user.pk)
    assert fresh.check_password(NEW_PASSWORD)
    assert fresh.email_verified  # following the emailed link proved the address
    assert not is_signed_in(laptop)
    assert not is_signed_in(phone)
    assert not UserSession.objects.filter(user=user).exists()
    assert AuditEvent.objects.filter(event="password_reset", actor=user).exists()


def test_reset_link_works_once():
    user = customer()
    resetter = Client()
    resetter.post(RESET, {"email": user.email})
    link = _reset_link(mail.outbox[0])
    _complete_reset(resetter, link)

    again = Client().get(re.sub(r"^https?://[^/]+", "", link))
    # Django renders the "invalid link" page instead of redirecting to the form.
    assert again.status_code == 200
    assert not again.context["validlink"]


def test_a_reset_that_fails_after_the_password_is_set_keeps_the_old_password():
    """The new password and ending every session land together: never one without the other."""
    user = customer()
    laptop = Client()
    page_login(laptop, user.email)
    resetter = Client(raise_request_exception=False)
    resetter.post(RESET, {"email": user.email})

    with mock.patch("accounts.services.revoke_credentials", side_effect=RuntimeError("sessions table unavailable")):
        response = _complete_reset(resetter, _reset_link(mail.outbox[0]))

    assert response.status_code == 500
    assert User.objects.get(pk=user.pk).check_password(PASSWORD)
    assert is_signed_in(laptop)


def test_password_change_writes_the_new_session_row_in_its_own_transaction(client):
    """The rotated key's row exists as soon as the change commits, not only once the response is sent."""
    user = customer()
    page_login(client, user.email)
    request = RequestFactory().post(CHANGE)
    request.user = User.objects.get(pk=user.pk)
    request.session = import_module(settings.SESSION_ENGINE).SessionStore(session_cookie(client))
    request.session.load()

    services.password_change(request=request, user=request.user, new_password=NEW_PASSWORD)

    new_key = request.session.session_key
    assert new_key != session_cookie(client)
    assert Session.objects.filter(session_key=new_key).exists()
    assert list(UserSession.objects.filter(user=user).values_list("session_key", flat=True)) == [new_key]
