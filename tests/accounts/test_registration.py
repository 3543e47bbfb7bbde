"""Self-registration: a customer in the chosen region, signed in; refusals re-render the form."""

from __future__ import annotations

import pytest

from accounts.models import AuditEvent, User, UserSession
from tests.accounts.helpers import ME_API, register_data, session_cookie
from tests.factories import customer

pytestmark = pytest.mark.django_db

REGISTER = "/accounts/register/"


def test_registration_creates_a_customer_in_the_chosen_region_and_signs_in(client):
    response = client.post(REGISTER, register_data(email="Heidi@Example.com", name="Heidi", region="US"))

    assert response.status_code == 302
    assert response["Location"] == "/"
    user = User.objects.get(email="heidi@example.com")
    assert (user.role, user.region, user.name, user.is_active) == ("customer", "US", "Heidi", True)
    me = client.get(ME_API)
    assert me.status_code == 200
    assert me.json()["id"] == str(user.pk)
    assert UserSession.objects.filter(user=user, session_key=session_cookie(client)).exists()
    assert AuditEvent.objects.filter(event="registered", actor=user).exists()


def test_registration_rotates_the_session_id(client):
    planted = client.session.session_key
    client.post(REGISTER, register_data())
    assert session_cookie(client) != planted


def test_registration_cannot_choose_a_role(client):
    client.post(REGISTER, {**register_data(email="ivan@example.com"), "role": "admin"})
    assert User.objects.get(email="ivan@example.com").role == "customer"


def test_registration_refuses_an_unknown_region(client):
    response = client.post(REGISTER, register_data(email="judy@example.com", region="XX"))
    assert response.status_code == 200
    assert "region" in response.context["form"].errors
    assert not User.objects.filter(email="judy@example.com").exists()


def test_refused_form_is_shown_again_with_200_and_its_errors(client):
    response = client.post(REGISTER, register_data(email="not-an-email", password="short"))

    assert response.status_code == 200
    errors = response.context["form"].errors
    assert "email" in errors
    assert b'class="error"' in response.content
    assert client.get(ME_API).status_code == 401


def test_mismatched_passwords_are_refused(client):
    response = client.post(REGISTER, {**register_data(email="kim@example.com"), "password2": "something else entirely"})
    assert response.status_code == 200
    assert "password2" in response.context["form"].errors
    assert not User.objects.filter(email="kim@example.com").exists()


@pytest.mark.parametrize("variant", ["liam@example.com", "LIAM@example.com", "Liam@Example.Com"])
def test_duplicate_email_is_refused_whatever_its_case(client, variant):
    existing = customer(email="liam@example.com")

    response = client.post(REGISTER, register_data(email=variant))

    assert response.status_code == 200
    assert "email" in response.context["form"].errors
    assert User.objects.filter(email__iexact="liam@example.com").count() == 1
    assert client.get(ME_API).status_code == 401
    assert User.objects.get(pk=existing.pk).check_password("a long test passphrase 42")


def test_signed_in_user_visiting_register_is_sent_home(client):
    client.post(REGISTER, register_data())
    response = client.get(REGISTER)
    assert response.status_code == 302
    assert response["Location"] == "/"
