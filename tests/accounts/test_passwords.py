"""Hash format and parameters, hash upgrade, and the password rules."""

from __future__ import annotations

import argon2
import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher, identify_hasher

from accounts.models import User
from tests.accounts.helpers import api_login_response, register_data
from tests.factories import PASSWORD, customer
from tests.support.sign_in import page_login

ARGON2ID_PREFIX = "argon2$argon2id$v=19$m=19456,t=2,p=1$"
REGISTER = "/accounts/register/"


@pytest.fixture
def argon2_first(settings):
    settings.PASSWORD_HASHERS = [
        "accounts.hashers.Argon2idHasher",
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    ]


def pbkdf2_hash(raw: str) -> str:
    # Few iterations keep the test fast; the algorithm alone is reason to upgrade.
    return PBKDF2PasswordHasher().encode(raw, "pbkdf2saltvalue", iterations=1000)


def weak_argon2_hash(raw: str) -> str:
    """An argon2id hash made with other (cheaper) parameters than the project's."""
    return "argon2" + argon2.PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(raw)


# --- Hash format --------------------------------------------------------------


def test_new_hash_is_argon2id_with_the_chosen_parameters(argon2_first):
    user = User(email="hash@example.com")
    user.set_password(PASSWORD)
    assert user.password.startswith(ARGON2ID_PREFIX)
    assert user.check_password(PASSWORD)
    assert not user.check_password(PASSWORD + "x")


@pytest.mark.django_db
def test_registration_stores_an_argon2id_hash(argon2_first, client):
    response = client.post(REGISTER, register_data(email="argon@example.com"))
    assert response.status_code == 302
    assert User.objects.get(email="argon@example.com").password.startswith(ARGON2ID_PREFIX)


def test_argon2_keeps_every_character_of_a_long_password(argon2_first):
    long_password = ("tall ships sail north " * 7)[:128]
    user = User(email="long@example.com")
    user.set_password(long_password)
    assert user.check_password(long_password)
    assert not user.check_password(long_password[:127])


# --- Hash upgrade on sign-in ----------------------------------------------------


def _pbkdf2_user() -> User:
    user = customer()
    User.objects.filter(pk=user.pk).update(password=pbkdf2_hash(PASSWORD))
    return user


@pytest.mark.django_db
def test_pbkdf2_hash_is_upgraded_to_argon2id_on_page_sign_in(argon2_first, client):
    user = _pbkdf2_user()
    assert identify_hasher(User.objects.get(pk=user.pk).password).algorithm == "pbkdf2_sha256"

    assert page_login(client, user.email).status_code == 302

    stored = User.objects.get(pk=user.pk).password
    assert stored.startswith(ARGON2ID_PREFIX)
    assert User.objects.get(pk=user.pk).check_password(PASSWORD)


@pytest.mark.django_db
def test_pbkdf2_hash_is_upgraded_to_argon2id_on_api_sign_in(argon2_first, client):
    user = _pbkdf2_user()

    assert api_login_response(client, user.email).status_code == 200

    assert User.objects.get(pk=user.pk).password.startswith(ARGON2ID_PREFIX)


@pytest.mark.django_db
def test_argon2_hash_with_other_parameters_is_rehashed_on_sign_in(argon2_first, client):
    user = customer()
    User.objects.filter(pk=user.pk).update(password=weak_argon2_hash(PASSWORD))

    assert page_login(client, user.email).status_code == 302

    assert User.objects.get(pk=user.pk).password.startswith(ARGON2ID_PREFIX)


@pytest.mark.django_db
def test_failed_sign_in_does_not_touch_the_stored_hash(argon2_first, client):
    user = _pbkdf2_user()
    before = User.objects.get(pk=user.pk).password

    assert page_login(client, user.email, "not the right password").status_code == 401

    assert User.objects.get(pk=user.pk).password == before


# --- Password rules, through the registration page -------------------------------


def _register(client, password: str, **overrides):
    return client.post(REGISTER, register_data(password=password, **overrides))


def _assert_refused(response, email: str, fragment: str) -> None:
    assert response.status_code == 200
    assert not User.objects.filter(email=email).exists()
    errors = " ".join(response.context["form"].errors.get("password1", []))
    assert fragment in errors, response.context["form"].errors


@pytest.mark.django_db
def test_password_shorter_than_12_characters_is_refused(client):
    password = "k3y zebra q"  # 11
    assert len(password) == 11
    _assert_refused(_register(client, password, email="short@example.com"), "short@example.com", "too short")


@pytest.mark.django_db
def test_password_of_exactly_12_characters_is_accepted(client):
    password = "k3y zebra qx"
    assert len(password) == 12
    response = _register(client, password, email="twelve@example.com")
    assert response.status_code == 302
    assert User.objects.get(email="twelve@example.com").check_password(password)


@pytest.mark.django_db
def test_128_character_password_is_accepted_and_needed_whole(client):
    password = ("tall ships sail north " * 7)[:128]
    assert len(password) == 128
    assert _register(client, password, email="long@example.com").status_code == 302
    client.post("/accounts/logout/")

    assert page_login(client, "long@example.com", password[:127]).status_code == 401
    assert page_login(client, "long@example.com", password).status_code == 302


@pytest.mark.django_db
def test_spaces_are_allowed_and_kept(client):
    password = "  spaces around my phrase  "
    assert _register(client, password, email="spaces@example.com").status_code == 302
    client.post("/accounts/logout/")

    assert page_login(client, "spaces@example.com", password.strip()).status_code == 401
    assert page_login(client, "spaces@example.com", password).status_code == 302


@pytest.mark.django_db
def test_common_password_is_refused(client):
    _assert_refused(_register(client, "password1234", email="common@example.com"), "common@example.com", "too common")


@pytest.mark.django_db
def test_password_like_the_email_is_refused(client):
    email = "margaretthatcher@example.com"
    _assert_refused(_register(client, "margaretthatcher", email=email), email, "too similar")


@pytest.mark.django_db
def test_password_like_the_name_is_refused(client):
    email = "bf@example.com"
    response = _register(client, "featherstonehaugh", email=email, name="Bartholomew Featherstonehaugh")
    _assert_refused(response, email, "too similar")


@pytest.mark.django_db
def test_no_composition_rules_for_a_lowercase_passphrase(client):
    password = "quiet meadow under winter stars"
    assert password == password.lower() and not any(ch.isdigit() for ch in password)
    assert _register(client, password, email="lower@example.com").status_code == 302
    assert User.objects.filter(email="lower@example.com").exists()

