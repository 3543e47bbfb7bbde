"""Brute-force throttles: per IP and per account, before any hash; known devices; other forms."""

from __future__ import annotations

import time
from types import SimpleNamespace
from unittest import mock

import pytest
from django.conf import settings as django_settings
from django.core import mail
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.models import AuditEvent, User
from tests.accounts.helpers import api_login_response, register_data
from tests.factories import PASSWORD, customer
from tests.support.sign_in import page_login

pytestmark = pytest.mark.django_db

WRONG = "not the right password"


def _fill_account_bucket(client: Client, email: str, attempts: int = 5) -> None:
    for _ in range(attempts):
        assert page_login(client, email, WRONG).status_code == 401


def is_session_user(client: Client) -> bool:
    return client.get("/api/me/").status_code == 200


# --- Per account -----------------------------------------------------------------------


def test_sixth_attempt_for_an_account_is_refused_even_with_the_right_password(client):
    user = customer()
    _fill_account_bucket(client, user.email)

    response = page_login(client, user.email, PASSWORD)

    assert response.status_code == 429
    assert not is_session_user(client)


def test_five_attempts_are_allowed(client):
    user = customer()
    _fill_account_bucket(client, user.email, attempts=4)
    assert page_login(client, user.email, PASSWORD).status_code == 302


def test_successful_attempts_count_too():
    user = customer()
    # Fresh browsers each time: no known-device cookie, so one shared bucket.
    for _ in range(5):
        assert api_login_response(Client(), user.email).status_code == 200
    assert api_login_response(Client(), user.email).status_code == 429


def test_account_bucket_ignores_email_case(client):
    customer(email="frank@example.com")
    for variant in (
        "frank@example.com",
        "Frank@example.com",
        "FRANK@example.com",
        "frank@EXAMPLE.com",
        "fRaNk@example.com",
    ):
        assert page_login(client, variant, WRONG).status_code == 401
    assert page_login(client, "Frank@Example.Com", PASSWORD).status_code == 429
    assert not is_session_user(client)


def test_throttled_attempt_computes_no_hash(client, hash_spy):
    user = customer()
    _fill_account_bucket(client, user.email)
    hash_spy.reset_mock()

    assert page_login(client, user.email, PASSWORD).status_code == 429
    assert api_login_response(client, user.email, PASSWORD).status_code == 429
    assert hash_spy.call_count == 0

    # The spy does see the hash of an attempt that is not throttled.
    assert page_login(client, "someone-else@example.com", PASSWORD).status_code == 401
    assert hash_spy.call_count >= 1


def test_throttled_attempt_is_audited(client):
    user = customer()
    _fill_account_bucket(client, user.email)
    page_login(client, user.email, PASSWORD)
    assert AuditEvent.objects.filter(event="login_throttled").count() == 1
    assert AuditEvent.objects.filter(event="login_failed").count() == 5


def test_a_throttled_attempt_costs_one_statement_its_audit_row(client):
    user = customer()
    _fill_account_bucket(client, user.email)

    statements = []
    for _ in range(3):  # the first refusal writes the bucket's row, the next ones add to its count
        with CaptureQueriesContext(connection) as queries:
            response = api_login_response(client, user.email, PASSWORD)
        assert response.status_code == 429
        statements.append([query["sql"].split(" (")[0].split(" SET")[0] for query in queries])
    assert statements == [
        ['INSERT INTO "accounts_auditevent"'],
        ['UPDATE "accounts_auditevent"'],
        ['UPDATE "accounts_auditevent"'],
    ]
    [row] = AuditEvent.objects.filter(event="login_throttled")
    assert row.count == 3


# --- One audit row per bucket and window, with its count ---------------------------------------


def _throttled_rows():
    return list(AuditEvent.objects.filter(event="login_throttled").order_by("id"))


def test_throttled_attempts_of_one_window_are_one_row_with_their_count(client, audit_log):
    user = customer()
    _fill_account_bucket(client, user.email)
    for attempt in range(7):
        login = page_login if attempt % 2 else api_login_response
        assert login(client, user.email, PASSWORD).status_code == 429

    [row] = _throttled_rows()
    assert (row.count, row.target, row.reason, row.outcome) == (7, f"email:{user.email}", "per account", "denied")
    assert row.ip == "127.0.0.1"
    # One log line for the bucket's window, not one per refusal.
    assert len([r for r in audit_log.records if "event=login_throttled" in r.getMessage()]) == 1


def test_a_new_window_of_the_bucket_is_a_new_row(client):
    user = customer()
    _fill_account_bucket(client, user.email)
    for _ in range(3):
        assert page_login(client, user.email, PASSWORD).status_code == 429
    [first] = _throttled_rows()
    # The account bucket's window (5 minutes, staggered per key) ends: a fresh count, a fresh row.
    later = SimpleNamespace(time=lambda: time.time() + 301)
    with mock.patch("django_ratelimit.core.time", later):
        _fill_account_bucket(client, user.email)
        for _ in range(2):
            assert page_login(client, user.email, PASSWORD).status_code == 429

    first.refresh_from_db()
    assert [row.count for row in _throttled_rows()] == [3, 2]
    assert first.count == 3


def test_each_bucket_that_refuses_an_attempt_has_its_own_row(settings):
    settings.LOGIN_RATE_PER_IP = "3/m"
    user = customer()
    attacker = Client(REMOTE_ADDR="203.0.113.5")
    # Three accounts fill the IP bucket; then the same account twice more fills its own too.
    for index in range(3):
        assert page_login(attacker, f"spray{index}@example.com", WRONG).status_code == 401
    statuses = [page_login(attacker, other, WRONG).status_code for other in ("spray9@example.com", user.email)]
    others = [page_login(Client(REMOTE_ADDR=f"203.0.113.{10 + n}"), user.email, WRONG).status_code for n in range(5)]
    statuses.append(page_login(attacker, user.email, WRONG).status_code)

    assert statuses == [429, 429, 429]
    assert others == [401, 401, 401, 401, 429]  # the account's 6th attempt
    rows = {row.target: (row.count, row.reason) for row in _throttled_rows()}
    # The IP bucket refused the attacker's last three; the account bucket its 6th and 7th
    # attempts, the last one also refused by the IP bucket: one attempt, counted in both rows.
    assert rows == {"ip:203.0.113.5": (3, "per IP"), f"email:{user.email}": (2, "per account")}


def test_the_security_page_and_the_admin_show_an_events_count():
    from tests.factories import admin
    from tests.support.sign_in import page_client

    alice = customer()
    AuditEvent.objects.create(event="login_throttled", outcome="denied", actor=alice, count=7, fold_key="rl:test")
    page = page_client(alice).get("/accounts/security/").content.decode()
    assert "Sign-in throttled (7 attempts)" in page.split('id="security-events"')[1]

    changelist = page_client(admin()).get("/admin/accounts/auditevent/").content.decode()
    assert "column-count" in changelist and '<td class="field-count">7</td>' in changelist


def test_page_throttle_is_429_with_a_clear_message(client):
    user = customer()
    _fill_account_bucket(client, user.email)

    response = page_login(client, user.email, PASSWORD)

    assert response.status_code == 429
    assert b"Too many sign-in attempts" in response.content
    assert int(response["Retry-After"]) > 0


def test_api_throttle_is_429_with_code_and_retry_after(client):
    user = customer()
    _fill_account_bucket(client, user.email)

    response = api_login_response(client, user.email, PASSWORD)

    assert response.status_code == 429
    body = response.json()
    assert body["status"] == "error"
    assert body["code"] == "TOO_MANY_LOGIN_ATTEMPTS"
    assert body["message"]
    retry_after = response["Retry-After"]
    assert retry_after.isdigit() and int(retry_after) > 0
    assert int(retry_after) <= 300


def test_account_rate_comes_from_settings(client, settings):
    settings.LOGIN_RATE_PER_ACCOUNT = "2/5m"
    user = customer()
    _fill_account_bucket(client, user.email, attempts=2)
    assert page_login(client, user.email, PASSWORD).status_code == 429


# --- Per IP ------------------------------------------------------------------------------


def _attempt_from(xff: str, index: int, remote: str = "10.0.0.1"):
    client = Client(REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=xff)
    return page_login(client, f"someone{index}@example.com", WRONG)


def test_ip_bucket_counts_attempts_on_different_accounts(settings):
    settings.LOGIN_RATE_PER_IP = "3/m"
    statuses = [page_login(Client(REMOTE_ADDR="10.0.0.1"), f"x{i}@example.com", WRONG).status_code for i in range(4)]
    assert statuses == [401, 401, 401, 429]
    # Another address is not affected.
    assert page_login(Client(REMOTE_ADDR="10.0.0.2"), "x9@example.com", WRONG).status_code == 401


def test_spoofed_forwarded_for_is_ignored_without_trusted_proxies(settings):
    settings.LOGIN_RATE_PER_IP = "3/m"
    settings.TRUSTED_PROXY_COUNT = 0
    statuses = [_attempt_from(f"198.51.100.{i}", i).status_code for i in range(4)]
    assert statuses == [401, 401, 401, 429]
    assert set(AuditEvent.objects.filter(event="login_failed").values_list("ip", flat=True)) == {"10.0.0.1"}


def test_right_most_forwarded_for_entry_is_the_client_behind_one_proxy(settings):
    settings.LOGIN_RATE_PER_IP = "3/m"
    settings.TRUSTED_PROXY_COUNT = 1
    # Different clients behind the proxy: separate buckets.
    statuses = [_attempt_from(f"1.2.3.4, 198.51.100.{i}", i).status_code for i in range(4)]
    assert statuses == [401, 401, 401, 401]
    assert AuditEvent.objects.filter(event="login_failed", ip="198.51.100.3").exists()


def test_client_written_forwarded_for_entries_do_not_escape_the_bucket(settings):
    settings.LOGIN_RATE_PER_IP = "3/m"
    settings.TRUSTED_PROXY_COUNT = 1
    # The same client forging the left part of the header: one bucket.
    statuses = [_attempt_from(f"192.0.2.{i}, 203.0.113.9", i).status_code for i in range(4)]
    assert statuses == [401, 401, 401, 429]
    assert set(AuditEvent.objects.filter(event="login_failed").values_list("ip", flat=True)) == {"203.0.113.9"}


# --- Known device --------------------------------------------------------------------------


def test_successful_sign_in_sets_the_known_device_cookie(client):
    user = customer()
    response = page_login(client, user.email)
    cookie = response.cookies[django_settings.KNOWN_DEVICE_COOKIE_NAME]
    assert cookie.value
    assert cookie["httponly"]
    assert int(cookie["max-age"]) > 0


def test_failed_sign_in_sets_no_known_device_cookie(client):
    user = customer()
    response = page_login(client, user.email, WRONG)
    assert django_settings.KNOWN_DEVICE_COOKIE_NAME not in response.cookies


@pytest.mark.parametrize("channel", ["page", "api"])
def test_owner_on_a_known_device_signs_in_while_the_attacker_is_throttled(channel):
    user = customer()
    owner = Client()
    login = page_login if channel == "page" else api_login_response
    ok = 302 if channel == "page" else 200
    assert login(owner, user.email).status_code == ok
    assert django_settings.KNOWN_DEVICE_COOKIE_NAME in owner.cookies
    owner.post("/accounts/logout/")

    attacker = Client()
    # The owner's first sign-in (before the device was known) used one attempt of the shared bucket.
    _fill_account_bucket(attacker, user.email, attempts=4)
    assert page_login(attacker, user.email, PASSWORD).status_code == 429
    # A browser without the cookie (a new device of the owner) shares the attacker's bucket.
    assert login(Client(), user.email).status_code == 429

    assert login(owner, user.email).status_code == ok


def test_known_device_cookie_only_helps_the_account_it_was_earned_on():
    own, victim = customer(), customer()
    attacker = Client()
    assert page_login(attacker, own.email).status_code == 302  # a cookie earned on the attacker's own account
    attacker.post("/accounts/logout/")
    _fill_account_bucket(Client(), victim.email)

    assert page_login(attacker, victim.email, PASSWORD).status_code == 429


def test_forged_known_device_cookie_does_not_help():
    user = customer()
    attacker = Client()
    attacker.cookies[django_settings.KNOWN_DEVICE_COOKIE_NAME] = "forged-value"
    _fill_account_bucket(attacker, user.email)
    assert page_login(attacker, user.email, PASSWORD).status_code == 429


# --- Registration, password reset, password change -------------------------------------------


def test_registration_is_throttled_per_ip(client, settings):
    settings.REGISTER_RATE_PER_IP = "2/h"
    for i in range(2):
        response = Client().post("/accounts/register/", register_data(email=f"reg{i}@example.com"))
        assert response.status_code == 302
    response = Client().post("/accounts/register/", register_data(email="reg9@example.com"))
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert not User.objects.filter(email="reg9@example.com").exists()


def test_password_reset_is_throttled_per_account(client):
    user = customer()
    responses = [client.post("/accounts/password/reset/", {"email": user.email}) for _ in range(4)]
    # The throttled answer looks like the others (no account enumeration) but sends nothing.
    assert {r.status_code for r in responses} == {302}
    assert {r["Location"] for r in responses} == {responses[0]["Location"]}
    assert len(mail.outbox) == int(django_settings.PASSWORD_RESET_RATE_PER_ACCOUNT.split("/")[0])


def test_password_reset_is_throttled_per_ip(settings):
    settings.PASSWORD_RESET_RATE_PER_IP = "2/h"
    users = [customer() for _ in range(3)]
    for user in users:
        Client(REMOTE_ADDR="10.9.9.9").post("/accounts/password/reset/", {"email": user.email})
    assert [m.to for m in mail.outbox] == [[users[0].email], [users[1].email]]


def test_password_change_is_throttled(client):
    user = customer()
    page_login(client, user.email)
    for _ in range(5):
        response = client.post(
            "/accounts/password/change/",
            {"old_password": WRONG, "new_password1": "fresh quiet harbour", "new_password2": "fresh quiet harbour"},
        )
        assert response.status_code == 200
    response = client.post(
        "/accounts/password/change/",
        {"old_password": PASSWORD, "new_password1": "fresh quiet harbour", "new_password2": "fresh quiet harbour"},
    )
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert User.objects.get(pk=user.pk).check_password(PASSWORD)


# --- IPv6 -------------------------------------------------------------------------------


def test_an_ipv6_client_cannot_escape_the_ip_bucket_by_changing_addresses_in_its_64(settings):
    settings.LOGIN_RATE_PER_IP = "3/m"
    addresses = [f"2001:db8:1:2::{i:x}" for i in range(3)] + ["2001:db8:1:2:ffff:ffff:ffff:ffff"]
    statuses = [
        page_login(Client(REMOTE_ADDR=ip), f"v6-{i}@example.com", WRONG).status_code for i, ip in enumerate(addresses)
    ]
    assert statuses == [401, 401, 401, 429]
    # The neighbouring /64 is someone else.
    assert page_login(Client(REMOTE_ADDR="2001:db8:1:3::1"), "v6-9@example.com", WRONG).status_code == 401


def test_registration_and_reset_per_ip_limits_key_ipv6_on_the_64(settings):
    settings.REGISTER_RATE_PER_IP = "1/h"
    settings.PASSWORD_RESET_RATE_PER_IP = "1/h"
    first = Client(REMOTE_ADDR="2001:db8:7:7::1").post("/accounts/register/", register_data(email="v6-one@example.com"))
    again = Client(REMOTE_ADDR="2001:db8:7:7::2").post("/accounts/register/", register_data(email="v6-two@example.com"))
    assert (first.status_code, again.status_code) == (302, 429)
    user = customer()
    Client(REMOTE_ADDR="2001:db8:7:7::3").post("/accounts/password/reset/", {"email": user.email})
    Client(REMOTE_ADDR="2001:db8:7:7::4").post("/accounts/password/reset/", {"email": user.email})
    assert [message.to for message in mail.outbox if message.to == [user.email]] == [[user.email]]
