"""Passkeys: the WebAuthn ceremonies against a soft authenticator's real responses, the pages
and endpoints around them, and the rules (step-up, last factor, throttles, audit)."""

from __future__ import annotations

import time

import pytest
from django.test import Client, RequestFactory
from django.utils import timezone

from accounts import factors, passkeys, services, sessions
from accounts.models import AuditEvent, Passkey, RecoveryCode
from tests.factories import (
    PASSKEY_ORIGIN,
    PASSWORD,
    admin,
    customer,
    enrol_passkey,
    enrol_totp,
    fresh_totp_code,
    soft_authenticator,
)
from tests.support.authenticator import b64url
from tests.support.clients import api_call, api_client, csrf_token

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _host_name_origin(settings):
    settings.PUBLIC_ORIGIN = PASSKEY_ORIGIN


def _stale(client: Client) -> None:
    session = client.session
    session[sessions.VERIFIED_AT] = time.time() - 3600
    session.save()


def _anonymous() -> Client:
    client = Client()
    csrf_token(client)
    return client


def _register(client: Client, authenticator, **forge):
    options = api_call(client, "POST", "/api/auth/passkeys/options/")
    assert options.status_code == 200, options.content
    credential = authenticator.register(options.json()["publicKey"], **forge)
    return api_call(client, "POST", "/api/auth/passkeys/", {"credential": credential, "name": "Laptop"})


def _login_options(client: Client) -> dict:
    response = api_call(client, "POST", "/api/auth/login/passkey/options/")
    assert response.status_code == 200, response.content
    return response.json()["publicKey"]


def _passwordless(client: Client, authenticator, **forge):
    credential = authenticator.authenticate(_login_options(client), **forge)
    return api_call(client, "POST", "/api/auth/login/passkey/", {"credential": credential})


def _password_step(client: Client, user):
    response = api_call(client, "POST", "/api/auth/login/", {"email": user.email, "password": PASSWORD})
    assert response.json()["status"] == "mfa_required", response.content
    return response.json()["methods"]


def _second_step(client: Client, authenticator, **forge):
    options = api_call(client, "POST", "/api/auth/login/2fa/options/")
    assert options.status_code == 200, options.content
    credential = authenticator.authenticate(options.json()["publicKey"], **forge)
    return api_call(client, "POST", "/api/auth/login/2fa/", {"passkey": credential})


def _signed_in(passkey) -> Client:
    """A session signed in with the passkey alone (its account has no password second step)."""
    client = _anonymous()
    assert _passwordless(client, passkey.authenticator).status_code == 200
    return client


def _events(event: str, **filters) -> int:
    return AuditEvent.objects.filter(event=event, **filters).count()


# --- Registration ---------------------------------------------------------------------------------


def test_a_registered_passkey_is_stored_with_its_key_counter_and_flags():
    alice = customer()
    key = soft_authenticator(backup_eligible=True, backup_state=True)
    response = _register(api_client(alice), key)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["name"] == "Laptop" and body["backup_eligible"] is True and body["backup_state"] is True
    stored = Passkey.objects.get(user=alice)
    assert bytes(stored.credential_id) == key.credential_id
    assert bytes(stored.public_key) == key.public_key_cose
    assert stored.sign_count == 0 and stored.transports == ["internal"]
    assert _events("factor_added", actor=alice, reason="passkey") == 1


def test_a_first_passkey_comes_with_recovery_codes_shown_once():
    alice = customer()
    client = api_client(alice)
    first = _register(client, soft_authenticator())
    codes = first.json()["recovery_codes"]
    assert first.status_code == 201 and len(codes) == 10 and len(set(codes)) == 10
    assert factors.recovery_codes_left(alice) == 10
    # Stored hashed only, and each one works once.
    assert not RecoveryCode.objects.filter(code_hash__in=codes).exists()
    assert factors.use_recovery_code(alice, codes[0]) and not factors.use_recovery_code(alice, codes[0])
    # A second passkey keeps the set (no codes in its answer, none replaced).
    second = _register(client, soft_authenticator())
    assert second.status_code == 201 and second.json()["recovery_codes"] == []
    assert factors.recovery_codes_left(alice) == 9
    # A refused registration makes none.
    bob = customer()
    refused = _register(api_client(bob), soft_authenticator(), origin="https://evil.example")
    assert refused.status_code == 400 and factors.recovery_codes_left(bob) == 0


def test_the_passkeys_page_holds_a_hidden_place_for_first_recovery_codes():
    page = api_client(customer()).get("/accounts/passkeys/")
    html = page.content.decode()
    assert page.status_code == 200 and '<section id="passkey-recovery-codes"' in html
    assert 'aria-labelledby="passkey-recovery-codes-heading" hidden>' in html


def test_registration_options_ask_for_a_discoverable_credential_for_this_site():
    options = api_call(api_client(customer()), "POST", "/api/auth/passkeys/options/").json()["publicKey"]
    assert options["rp"]["id"] == "localhost"
    assert options["authenticatorSelection"]["residentKey"] == "required"


def test_exclude_credentials_lists_the_accounts_existing_passkeys():
    alice = customer()
    client = api_client(alice)
    first, second = enrol_passkey(alice), enrol_passkey(alice)
    enrol_passkey(customer())  # someone else's is not listed
    options = api_call(client, "POST", "/api/auth/passkeys/options/").json()["publicKey"]
    listed = {item["id"] for item in options["excludeCredentials"]}
    assert listed == {b64url(bytes(first.credential_id)), b64url(bytes(second.credential_id))}


def test_the_same_credential_cannot_be_registered_twice():
    alice = customer()
    client, key = api_client(alice), soft_authenticator()
    assert _register(client, key).status_code == 201
    again = _register(client, key)
    assert again.status_code == 400 and again.json()["code"] == "VALIDATION_ERROR"
    assert "already registered" in again.json()["fields"]["credential"][0]
    assert Passkey.objects.filter(user=alice).count() == 1
    # ... nor by another account.
    assert _register(api_client(customer()), key).status_code == 400
    assert Passkey.objects.count() == 1


@pytest.mark.parametrize("forge", [{"origin": "https://evil.example"}, {"rp_id": "evil.example"}],
                         ids=["wrong origin", "wrong rp id"])
def test_a_registration_for_another_site_is_refused(forge):
    alice = customer()
    response = _register(api_client(alice), soft_authenticator(), **forge)
    assert response.status_code == 400
    assert not Passkey.objects.exists()
    assert AuditEvent.objects.filter(event="factor_added", outcome="failure", actor=alice).exists()


def test_adding_a_passkey_needs_a_recent_authentication():
    client = api_client(customer())
    _stale(client)
    response = api_call(client, "POST", "/api/auth/passkeys/options/")
    assert (response.status_code, response.json()["code"]) == (403, "REAUTH_REQUIRED")
    page = client.get("/accounts/passkeys/")
    assert page.status_code == 200 and b"Confirm it is you" in page.content
    assert b'data-passkey="register"' not in page.content


# --- Passwordless sign-in -------------------------------------------------------------------------


def test_a_passwordless_sign_in_rotates_the_session_and_is_audited():
    alice = customer()
    passkey = enrol_passkey(alice)
    client = _anonymous()
    options = _login_options(client)
    assert options["userVerification"] == "required" and options["allowCredentials"] == []
    before = client.cookies["sessionid"].value
    credential = passkey.authenticator.authenticate(options)
    response = api_call(client, "POST", "/api/auth/login/passkey/", {"credential": credential})
    assert response.status_code == 200 and response.json()["user"]["email"] == alice.email
    assert client.cookies["sessionid"].value != before
    assert client.session[sessions.AMR] == ["passkey", "uv"]
    assert api_call(client, "GET", "/api/me/").status_code == 200
    assert _events("login_succeeded", actor=alice) == 1
    assert _events("factor_used", actor=alice, reason="passkey") == 1
    passkey.refresh_from_db()
    assert passkey.sign_count == 1 and passkey.last_used_at is not None


def test_a_passwordless_sign_in_ends_a_second_step_left_pending_by_a_password_step():
    alice = enrol_totp(customer())
    bobs = enrol_passkey(customer())
    client = _anonymous()
    assert _password_step(client, alice) == ["totp"]
    assert _passwordless(client, bobs.authenticator).status_code == 200
    # Alice's pending step is gone: her code now finds no sign-in waiting for it.
    response = api_call(client, "POST", "/api/auth/login/2fa/", {"code": fresh_totp_code(alice)})
    assert response.status_code == 401, response.content
    assert response.json()["code"] == "NOT_AUTHENTICATED"
    assert "No sign-in is waiting for a second step" in response.json()["message"]
    assert api_call(client, "GET", "/api/me/").json()["email"] == bobs.user.email
    assert _events("login_succeeded", actor=alice) == 0


def test_a_passwordless_sign_in_without_user_verification_is_refused():
    passkey = enrol_passkey(customer())
    response = _passwordless(_anonymous(), passkey.authenticator, user_verified=False)
    assert (response.status_code, response.json()["code"]) == (401, "INVALID_CREDENTIALS")
    assert _events("login_failed", reason="passkey") == 1


@pytest.mark.parametrize("forge", [{"origin": "https://evil.example"}, {"rp_id": "evil.example"}],
                         ids=["wrong origin", "wrong rp id"])
def test_an_assertion_for_another_site_is_refused(forge):
    passkey = enrol_passkey(customer())
    client = _anonymous()
    response = _passwordless(client, passkey.authenticator, **forge)
    assert response.status_code == 401
    assert api_call(client, "GET", "/api/me/").status_code == 401


def test_a_challenge_is_answered_once_even_when_the_first_answer_was_wrong():
    passkey = enrol_passkey(customer())
    client = _anonymous()
    options = _login_options(client)
    wrong = passkey.authenticator.authenticate(options, origin="https://evil.example")
    assert api_call(client, "POST", "/api/auth/login/passkey/", {"credential": wrong}).status_code == 401
    right = passkey.authenticator.authenticate(options)
    assert api_call(client, "POST", "/api/auth/login/passkey/", {"credential": right}).status_code == 401


def test_a_replayed_assertion_is_refused():
    passkey = enrol_passkey(customer())
    client = _anonymous()
    credential = passkey.authenticator.authenticate(_login_options(client))
    assert api_call(client, "POST", "/api/auth/login/passkey/", {"credential": credential}).status_code == 200
    api_call(client, "POST", "/api/auth/logout/")
    csrf_token(client)
    replay = api_call(client, "POST", "/api/auth/login/passkey/", {"credential": credential})
    assert replay.status_code == 401


def test_an_expired_challenge_is_refused():
    passkey = enrol_passkey(customer())
    client = _anonymous()
    options = _login_options(client)
    session = client.session
    session[passkeys.CHALLENGE_KEY]["expires_at"] = time.time() - 1
    session.save()
    response = api_call(client, "POST", "/api/auth/login/passkey/",
                        {"credential": passkey.authenticator.authenticate(options)})
    assert response.status_code == 401


def test_a_counter_that_goes_backwards_is_refused_and_audited():
    alice = customer()
    passkey = enrol_passkey(alice)
    assert _passwordless(_anonymous(), passkey.authenticator).status_code == 200  # counter now 1
    cloned = _passwordless(_anonymous(), passkey.authenticator, sign_count=1)
    assert cloned.status_code == 401
    row = AuditEvent.objects.get(event="passkey_counter_regressed")
    assert row.actor == alice and row.outcome == "denied" and row.target == f"passkey:{passkey.pk}"
    passkey.refresh_from_db()
    assert passkey.sign_count == 1


def test_an_authenticator_without_a_counter_keeps_working():
    passkey = enrol_passkey(customer())
    for _ in range(2):
        assert _passwordless(_anonymous(), passkey.authenticator, sign_count=0).status_code == 200
    assert not AuditEvent.objects.filter(event="passkey_counter_regressed").exists()


def test_a_user_handle_of_another_account_is_refused():
    passkey = enrol_passkey(customer())
    response = _passwordless(_anonymous(), passkey.authenticator, user_handle=customer().pk.bytes)
    assert response.status_code == 401


@pytest.mark.parametrize("credential", [
    {"id": "x"}, {"id": "AAAA", "rawId": "AAAA", "type": "public-key", "response": {"clientDataJSON": 5}},
    {"id": "AAAA", "rawId": "AAAA", "type": "public-key",
     "response": {"clientDataJSON": "e30", "authenticatorData": "AA", "signature": "AA", "userHandle": "@@"}},
])
def test_malformed_or_unknown_credentials_are_a_401_not_a_500(credential):
    client = _anonymous()
    _login_options(client)
    response = api_call(client, "POST", "/api/auth/login/passkey/", {"credential": credential})
    assert (response.status_code, response.json()["code"]) == (401, "INVALID_CREDENTIALS")


@pytest.mark.parametrize("body", [{"credential": "text"}, {"credential": {}}, {"credential": []}, {}, {"x": 1}])
def test_a_credential_that_is_not_an_object_is_a_400(body):
    response = api_call(_anonymous(), "POST", "/api/auth/login/passkey/", body)
    assert (response.status_code, response.json()["code"]) == (400, "VALIDATION_ERROR")


def test_failed_assertions_count_against_the_sign_in_throttle(settings):
    settings.LOGIN_RATE_PER_ACCOUNT = "2/5m"
    passkey = enrol_passkey(customer())
    client = _anonymous()
    statuses = [_passwordless(client, passkey.authenticator, user_verified=False).status_code for _ in range(3)]
    assert statuses == [401, 401, 429]
    # Throttled, even with a good answer now.
    assert _passwordless(client, passkey.authenticator).status_code == 429
    # One folded row for the account's bucket and this window, counting both refusals.
    row = AuditEvent.objects.get(event="login_throttled", reason="passkey, per account")
    assert (row.actor_id, row.count) == (passkey.user_id, 2)


def test_failed_passkey_second_steps_share_the_password_throttle(settings):
    settings.LOGIN_RATE_PER_ACCOUNT = "3/5m"
    alice = customer()
    passkey = enrol_passkey(alice)
    client = _anonymous()
    _password_step(client, alice)  # 1
    assert _second_step(client, passkey.authenticator, origin="https://evil.example").status_code == 401  # 2
    assert _second_step(client, passkey.authenticator, origin="https://evil.example").status_code == 401  # 3
    response = _second_step(client, passkey.authenticator)
    assert (response.status_code, response.json()["code"]) == (429, "TOO_MANY_LOGIN_ATTEMPTS")


# Where each passkey sign-in ceremony asks for its options and takes its answer (and the answer's field).
CEREMONIES = {
    "passwordless": ("/api/auth/login/passkey/options/", "/api/auth/login/passkey/", "credential"),
    "second step": ("/api/auth/login/2fa/options/", "/api/auth/login/2fa/", "passkey"),
    "step-up": ("/api/auth/reauthenticate/options/", "/api/auth/reauthenticate/", "passkey"),
}


@pytest.mark.parametrize("kind", list(CEREMONIES))
def test_a_throttled_passkey_answer_still_uses_its_challenge_up(settings, kind):
    options_url, answer_url, field = CEREMONIES[kind]
    passkey = enrol_passkey(customer())
    if kind == "passwordless":
        client = _anonymous()
    elif kind == "second step":
        client = _anonymous()
        _password_step(client, passkey.user)
    else:
        client = _signed_in(passkey)

    def answer(credential):
        return api_call(client, "POST", answer_url, {field: credential})

    options = api_call(client, "POST", options_url).json()["publicKey"]
    credential = passkey.authenticator.authenticate(options)
    opened = settings.LOGIN_RATE_PER_IP
    settings.LOGIN_RATE_PER_IP = "0/m"  # the sign-in throttle refuses the answer
    throttled = answer(credential)
    assert (throttled.status_code, throttled.json()["code"]) == (429, "TOO_MANY_LOGIN_ATTEMPTS")
    settings.LOGIN_RATE_PER_IP = opened  # it reopens: the same answer now finds no challenge waiting
    again = answer(credential)
    assert again.status_code == 401, again.content
    assert passkeys.CHALLENGE_KEY not in client.session
    # New options are answered as usual: the 401 was the spent challenge, not the throttle.
    fresh = answer(passkey.authenticator.authenticate(api_call(client, "POST", options_url).json()["publicKey"]))
    assert fresh.status_code == 200, fresh.content


# --- Second step, step-up ---------------------------------------------------------------------------


def test_the_api_second_step_takes_a_passkey():
    alice = enrol_totp(customer())
    passkey = enrol_passkey(alice)
    client = _anonymous()
    assert _password_step(client, alice) == ["passkey", "totp"]
    assert api_call(client, "GET", "/api/me/").status_code == 401
    response = _second_step(client, passkey.authenticator, user_verified=False)
    assert response.status_code == 200 and response.json()["status"] == "success"
    assert client.session[sessions.AMR] == ["pwd", "passkey"]
    assert _events("factor_used", actor=alice, reason="passkey") == 1


def test_another_accounts_passkey_is_refused_as_a_second_step():
    alice, bob = customer(), customer()
    enrol_passkey(alice)
    bobs = enrol_passkey(bob)
    client = _anonymous()
    _password_step(client, alice)
    response = _second_step(client, bobs.authenticator)
    assert (response.status_code, response.json()["code"]) == (401, "INVALID_CODE")
    assert api_call(client, "GET", "/api/me/").status_code == 401
    assert _events("second_step_failed", actor=alice, reason="passkey") == 1


def test_a_second_step_challenge_issued_for_one_account_cannot_finish_another_accounts_sign_in():
    """Same session, same ceremony, a valid signature by the pending account's own passkey:
    only the account the challenge was issued for differs."""
    alice, bob = customer(), customer()
    enrol_passkey(alice)
    bobs = enrol_passkey(bob)
    client = _anonymous()
    _password_step(client, alice)
    alices = api_call(client, "POST", "/api/auth/login/2fa/options/").json()["publicKey"]
    _password_step(client, bob)  # Bob's password step replaces Alice's; her challenge is still waiting
    response = api_call(client, "POST", "/api/auth/login/2fa/", {"passkey": bobs.authenticator.authenticate(alices)})
    assert response.status_code == 401, response.content
    assert response.json()["code"] == "INVALID_CODE"
    assert api_call(client, "GET", "/api/me/").status_code == 401
    assert _events("login_succeeded") == 0
    assert _events("second_step_failed", actor=bob, reason="passkey") == 1
    # A challenge issued for Bob finishes his sign-in: the refusal was the challenge's account.
    assert _second_step(client, bobs.authenticator).status_code == 200


def test_second_step_options_need_a_pending_sign_in():
    response = api_call(_anonymous(), "POST", "/api/auth/login/2fa/options/")
    assert (response.status_code, response.json()["code"]) == (401, "NOT_AUTHENTICATED")


def test_a_passkey_second_step_challenge_cannot_sign_in_without_a_password():
    alice = customer()
    passkey = enrol_passkey(alice)
    client = _anonymous()
    _password_step(client, alice)
    options = api_call(client, "POST", "/api/auth/login/2fa/options/").json()["publicKey"]
    credential = passkey.authenticator.authenticate(options)
    response = api_call(client, "POST", "/api/auth/login/passkey/", {"credential": credential})
    assert response.status_code == 401  # the challenge was for a second step


def test_step_up_accepts_a_passkey():
    alice = customer()
    passkey = enrol_passkey(alice)
    client = Client()
    _passwordless(client, passkey.authenticator)
    _stale(client)
    options = api_call(client, "POST", "/api/auth/reauthenticate/options/").json()["publicKey"]
    assert [item["id"] for item in options["allowCredentials"]] == [b64url(bytes(passkey.credential_id))]
    refused = api_call(client, "POST", "/api/auth/reauthenticate/", {"password": PASSWORD})
    assert refused.status_code == 401  # a passkey is the account's strongest factor
    options = api_call(client, "POST", "/api/auth/reauthenticate/options/").json()["publicKey"]
    ok = api_call(client, "POST", "/api/auth/reauthenticate/",
                  {"passkey": passkey.authenticator.authenticate(options)})
    assert ok.status_code == 200
    assert _events("reauthenticated", actor=alice, reason="passkey") == 1


def test_a_challenge_issued_for_one_ceremony_cannot_finish_another():
    """Same session, same account, a valid signature: only the challenge's purpose differs."""
    alice = customer()
    passkey = enrol_passkey(alice)
    client = _signed_in(passkey)
    registration = api_call(client, "POST", "/api/auth/passkeys/options/").json()["publicKey"]
    # The registration's challenge, signed by Alice's passkey as if it were a step-up's.
    signed_as_step_up = {"challenge": registration["challenge"], "rpId": registration["rp"]["id"]}
    answer = passkey.authenticator.authenticate(signed_as_step_up)
    response = api_call(client, "POST", "/api/auth/reauthenticate/", {"passkey": answer})
    assert (response.status_code, response.json()["code"]) == (401, "INVALID_CODE")
    assert _events("reauthenticated", actor=alice) == 0
    assert _events("reauth_failed", actor=alice, reason="passkey") == 1


# --- Managing passkeys -------------------------------------------------------------------------------


def test_passkeys_count_as_a_second_factor_everywhere():
    ada = admin(totp=False)
    assert factors.needs_enrolment(ada)
    passkey = enrol_passkey(ada)
    ada = type(ada).objects.get(pk=ada.pk)
    assert not factors.needs_enrolment(ada) and factors.has_second_factor(ada)
    assert factors.methods_for(ada) == ["passkey"]
    page = Client()
    assert _passwordless(page, passkey.authenticator).status_code == 200
    assert page.get("/admin/").status_code == 200  # the admin enrolment gate is satisfied
    assert b"Passkeys</th><td>1</td>" in page.get("/accounts/security/").content


def test_removing_the_last_factor_of_an_admin_is_refused():
    ada = admin(totp=False)
    passkey = enrol_passkey(ada)
    client = Client()
    _passwordless(client, passkey.authenticator)
    response = api_call(client, "DELETE", f"/api/auth/passkeys/{passkey.pk}/")
    assert (response.status_code, response.json()["code"]) == (403, "FORBIDDEN")
    page = client.post(f"/accounts/passkeys/{passkey.pk}/remove/")
    assert page.status_code == 302 and Passkey.objects.filter(pk=passkey.pk).exists()
    second = enrol_passkey(ada)
    assert api_call(client, "DELETE", f"/api/auth/passkeys/{passkey.pk}/").status_code == 204
    assert list(Passkey.objects.filter(user=ada)) == [second]


def test_a_customer_may_remove_the_last_passkey_and_its_recovery_codes_go():
    alice = customer()
    passkey = enrol_passkey(alice)
    services.recovery_codes_regenerate(user=alice)
    client = _signed_in(passkey)
    assert client.post(f"/accounts/passkeys/{passkey.pk}/remove/").status_code == 302
    assert not Passkey.objects.filter(user=alice).exists()
    assert factors.recovery_codes_left(alice) == 0
    assert _events("factor_removed", actor=alice, reason="passkey") == 1


def test_removing_a_passkey_needs_a_recent_authentication():
    alice = customer()
    passkey = enrol_passkey(alice)
    client = _signed_in(passkey)
    _stale(client)
    assert client.post(f"/accounts/passkeys/{passkey.pk}/remove/")["Location"].startswith("/accounts/reauthenticate/")
    response = api_call(client, "DELETE", f"/api/auth/passkeys/{passkey.pk}/")
    assert (response.status_code, response.json()["code"]) == (403, "REAUTH_REQUIRED")
    assert Passkey.objects.filter(pk=passkey.pk).exists()


def test_another_accounts_passkey_cannot_be_renamed_or_removed():
    bobs = enrol_passkey(customer(), name="Bob's key")
    client = api_client(customer())
    assert client.post(f"/accounts/passkeys/{bobs.pk}/rename/", {f"{bobs.pk}-name": "mine"}).status_code == 404
    assert client.get(f"/accounts/passkeys/{bobs.pk}/remove/").status_code == 404
    assert client.post(f"/accounts/passkeys/{bobs.pk}/remove/").status_code == 404
    assert api_call(client, "PATCH", f"/api/auth/passkeys/{bobs.pk}/", {"name": "mine"}).status_code == 404
    assert api_call(client, "DELETE", f"/api/auth/passkeys/{bobs.pk}/").status_code == 404
    bobs.refresh_from_db()
    assert bobs.name == "Bob's key"


def test_a_passkey_is_renamed_and_listed_with_its_last_use():
    alice = customer()
    passkey = enrol_passkey(alice)
    client = _signed_in(passkey)
    assert client.post(f"/accounts/passkeys/{passkey.pk}/rename/", {f"{passkey.pk}-name": "Phone"}).status_code == 302
    assert api_call(client, "GET", "/api/auth/passkeys/").json()[0]["name"] == "Phone"
    assert _events("passkey_renamed", actor=alice) == 1
    page = client.get("/accounts/passkeys/")
    assert b"Phone" in page.content and b"Never" not in page.content  # used to sign in just now


def test_a_password_reset_keeps_passkeys_and_deleting_the_user_removes_them():
    alice, ada = enrol_totp(customer()), admin()
    enrol_passkey(alice)
    # A reset ends sessions and tokens; the factors stay (the reset link proves the mailbox, not the rest).
    services.password_reset_complete(request=RequestFactory().get("/"), user=alice)
    assert Passkey.objects.filter(user=alice).exists() and factors.has_totp(alice)
    services.user_delete(user=alice, acting_user=ada)
    assert not Passkey.objects.filter(user=alice).exists()


def test_an_ip_address_origin_explains_that_passkeys_need_a_host_name(settings):
    settings.PUBLIC_ORIGIN = "http://127.0.0.1:8000"
    alice = customer()
    client = api_client(alice)
    page = client.get("/accounts/passkeys/")
    assert page.status_code == 200 and b"need the site to be reached by a host name" in page.content
    assert b"localhost:8000" in page.content
    response = api_call(client, "POST", "/api/auth/passkeys/options/")
    assert response.status_code == 403 and "host name" in response.json()["message"]
    login = Client().get("/accounts/login/")
    assert login.status_code == 200 and b"host name" in login.content


# --- Pages ---------------------------------------------------------------------------------------


def test_the_pages_offer_passkeys_through_the_script_without_inline_code():
    login = Client().get("/accounts/login/")
    assert b'data-passkey="login"' in login.content and b"Sign in with a passkey" in login.content
    assert b'autocomplete="username webauthn"' in login.content
    assert b"/static/js/passkeys.js" in login.content and b"<script>" not in login.content
    alice = customer()
    passkey = enrol_passkey(alice)
    client = Client()
    client.post("/accounts/login/", {"email": alice.email, "password": PASSWORD})
    second = client.get("/accounts/login/2fa/")
    assert b'data-passkey="second-step"' in second.content
    signed_in = _signed_in(passkey)
    _stale(signed_in)
    reauth = signed_in.get("/accounts/reauthenticate/?next=/accounts/passkeys/")
    assert b'data-passkey="reauthenticate"' in reauth.content and b'name="password"' not in reauth.content


# --- Rules a review found untested -------------------------------------------------------------------


@pytest.mark.parametrize("gone", ["deactivated", "deleted"])
def test_a_passkey_of_a_deactivated_or_deleted_account_signs_nobody_in(gone):
    alice = customer()
    passkey = enrol_passkey(alice)
    if gone == "deactivated":
        alice.is_active = False
    else:
        alice.deleted_at = timezone.now()
    alice.save()
    client = _anonymous()
    response = _passwordless(client, passkey.authenticator)
    assert (response.status_code, response.json()["code"]) == (401, "INVALID_CREDENTIALS")
    assert _events("login_succeeded", actor=alice) == 0
    assert "_auth_user_id" not in client.session


def test_an_assertion_whose_backup_eligibility_changed_is_refused():
    alice = customer()
    passkey = enrol_passkey(alice)  # registered as a single-device credential
    before = Passkey.objects.get(pk=passkey.pk)
    passkey.authenticator.backup_eligible = True  # another credential claiming the same id
    response = _passwordless(_anonymous(), passkey.authenticator)
    assert response.status_code == 401
    after = Passkey.objects.get(pk=passkey.pk)
    assert (after.sign_count, after.last_used_at) == (before.sign_count, before.last_used_at)
    assert _events("login_succeeded", actor=alice) == 0


def test_an_account_holds_at_most_max_passkeys():
    alice = customer()
    client = api_client(alice)
    for _ in range(passkeys.MAX_PASSKEYS - 1):
        enrol_passkey(alice)
    assert api_call(client, "POST", "/api/auth/passkeys/options/").status_code == 200
    issued = client.session[passkeys.CHALLENGE_KEY]
    enrol_passkey(alice)
    refused = api_call(client, "POST", "/api/auth/passkeys/options/")
    assert refused.status_code == 403 and f"at most {passkeys.MAX_PASSKEYS}" in refused.json()["message"]
    assert client.session[passkeys.CHALLENGE_KEY] == issued  # no new challenge was issued


def test_passwordless_attempts_count_per_ip_whatever_credential_they_name(settings):
    settings.LOGIN_RATE_PER_IP = "2/m"
    client = _anonymous()
    statuses = [_passwordless(client, soft_authenticator()).status_code for _ in range(3)]  # unknown credentials
    assert statuses == [401, 401, 429]
    row = AuditEvent.objects.get(event="login_throttled", reason="passkey, per IP")
    assert row.count == 1 and row.target.startswith("ip:")


def test_recovery_codes_stay_while_another_factor_remains():
    alice = enrol_totp(customer())
    first, second = enrol_passkey(alice), enrol_passkey(alice)
    services.recovery_codes_regenerate(user=alice)
    services.passkey_remove(passkey=first)  # a passkey and the app remain
    assert factors.recovery_codes_left(alice) == 10
    services.totp_disable(user=alice)  # a passkey remains
    assert factors.recovery_codes_left(alice) == 10
    services.passkey_remove(passkey=second)  # nothing remains
    assert factors.recovery_codes_left(alice) == 0
