"""email_verified is true only for an address the user has confirmed."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client

from accounts import email_confirmation
from tests.factories import PASSWORD, customer

pytestmark = pytest.mark.django_db


def test_registration_sends_a_link_from_public_origin_and_confirming_sets_email_verified(client, settings):
    settings.PUBLIC_ORIGIN = "https://auth.example.com"
    response = client.post(
        "/accounts/register/",
        {
            "email": "new@example.com",
            "name": "New Person",
            "region": "EU",
            "password1": PASSWORD,
            "password2": PASSWORD,
        },
    )
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    link = re.search(r"https://auth\.example\.com(/accounts/email/confirm/[^/\s]+/)", mail.outbox[0].body).group(1)
    from accounts.models import User

    user = User.objects.get(email="new@example.com")
    assert user.email_verified is False
    assert client.get(link).status_code == 200
    user.refresh_from_db()
    assert user.email_verified is False  # a GET (link preview) confirms nothing
    assert client.post(link).status_code == 302
    user.refresh_from_db()
    assert user.email_verified is True


def test_a_forged_or_stale_token_confirms_nothing():
    user = customer()
    token = email_confirmation.make_token(user)
    client = Client()
    assert client.post(f"/accounts/email/confirm/{token}x/").status_code == 400
    user.email = "changed@example.com"
    user.save()
    assert client.post(f"/accounts/email/confirm/{token}/").status_code == 400
    user.refresh_from_db()
    assert user.email_verified is False


def test_resending_is_throttled_per_account(settings):
    settings.EMAIL_CONFIRM_RATE = "2/h"
    user = customer()
    client = Client()
    client.post("/accounts/login/", {"email": user.email, "password": PASSWORD})
    for _ in range(3):
        assert client.post("/accounts/email/confirm/send/").status_code == 302
    assert len(mail.outbox) == 2
