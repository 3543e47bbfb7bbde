"""Browser sessions: rotation at sign-in, sign-out, timeouts, the sessions page, deactivation."""

from __future__ import annotations

import time
from unittest import mock

import pytest
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.tokens import default_token_generator
from django.contrib.sessions.backends.base import VALID_KEY_CHARS
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.middleware import SessionMiddleware
from django.contrib.sessions.models import Session
from django.db import connection, connections
from django.http import HttpResponse
from django.test import Client

from accounts import login as login_flow
from accounts.models import AuditEvent, User, UserSession
from accounts.session_store import new_key
from tests.accounts.helpers import ME_API, api_login_response, client_with_session, is_signed_in, session_cookie
from tests.factories import customer
from tests.support.clients import api_login
from tests.support.sign_in import page_login

pytestmark = pytest.mark.django_db


def session_exists(key: str) -> bool:
    return Session.objects.filter(session_key=key).exists()


# --- Rotation at sign-in ----------------------------------------------------------


@pytest.mark.parametrize("channel", ["page", "api"])
def test_session_id_is_rotated_at_sign_in(client, channel):
    user = customer()
    planted = client.session.session_key  # an anonymous session the browser already holds
    assert session_cookie(client) == planted

    response = page_login(client, user.email) if channel == "page" else api_login_response(client, user.email)

    assert response.status_code in (200, 302)
    new_key = session_cookie(client)
    assert new_key and new_key != planted
    assert not is_signed_in(client_with_session(planted))
    assert is_signed_in(client)


def test_session_id_is_rotated_when_the_same_user_signs_in_again(client):
    user = customer()
    page_login(client, user.email)
    first = session_cookie(client)

    assert page_login(client, user.email).status_code == 302

    second = session_cookie(client)
    assert second != first
    assert not session_exists(first)
    assert not is_signed_in(client_with_session(first))
    assert is_signed_in(client)


def test_signing_in_again_leaves_one_listed_session(client):
    user = customer()
    page_login(client, user.email)
    page_login(client, user.email)
    assert list(UserSession.objects.filter(user=user).values_list("session_key", flat=True)) == [session_cookie(client)]


def test_another_user_signing_in_on_the_same_browser_ends_the_first_users_session(client):
    first, second = customer(), customer()
    page_login(client, first.email)
    first_key = session_cookie(client)

    page_login(client, second.email)

    assert not session_exists(first_key)
    assert not UserSession.objects.filter(user=first).exists()
    assert client.get(ME_API).json()["id"] == str(second.pk)


# --- One transaction, one session write --------------------------------------------

WRITES = ("INSERT", "UPDATE", "DELETE")


# Commits are only seen outside the test's own transaction; serialized_rollback restores the
# data-migration rows that the flush after a transactional test removes.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_sign_in_commits_once_and_writes_its_session_row_once(client):
    user = customer()
    statements: list[tuple[str, bool]] = []

    def record(execute, sql, params, many, context):
        statements.append((sql, context["connection"].in_atomic_block))
        return execute(sql, params, many, context)

    database = type(connections["default"])
    with connection.execute_wrapper(record), mock.patch.object(
        database, "commit", autospec=True, side_effect=database.commit
    ) as commits:
        response = api_login_response(client, user.email)

    assert response.status_code == 200
    writes = [(sql, in_block) for sql, in_block in statements if sql.startswith(WRITES)]
    assert writes and all(in_block for _sql, in_block in writes), writes
    assert commits.call_count == 1
    # Inserted once with the signed-in data: no query for a free key, no update at the response.
    session_statements = [sql for sql, _in_block in statements if '"django_session"' in sql]
    assert len(session_statements) == 1 and session_statements[0].startswith("INSERT"), session_statements
    assert is_signed_in(client)


def test_a_new_session_key_is_32_characters_each_drawn_from_the_whole_alphabet():
    keys = [new_key() for _ in range(2000)]
    assert len(set(keys)) == len(keys)
    assert all(len(key) == 32 and set(key) <= set(VALID_KEY_CHARS) for key in keys)
    # Every character at every position: no position is narrowed (as a too-small draw would
    # narrow the first), 2000 draws leave a gap with odds of about 1e-21.
    assert all({key[position] for key in keys} == set(VALID_KEY_CHARS) for position in range(32))


def test_a_sign_in_that_fails_midway_leaves_nothing_behind():
    user = customer()
    browser = Client(raise_request_exception=False)

    with mock.patch("accounts.login.audit.record", side_effect=RuntimeError("audit table unavailable")):
        response = api_login_response(browser, user.email)

    assert response.status_code == 500
    assert not Session.objects.exists()
    assert not UserSession.objects.filter(user=user).exists()
    user.refresh_from_db()
    assert user.last_login is None
    assert not is_signed_in(browser)


def test_the_session_changed_later_in_the_sign_in_request_is_saved_as_changed(rf):
    user = customer()

    def view(request):
        request.session["basket"] = {"items": 1}  # before the sign-in: kept by login()
        login_flow.sign_in(request, user)
        request.session["basket"]["items"] = 2  # changed in place after the sign-in's write
        request.session.modified = True
        request.session["later"] = "kept"
        return HttpResponse()

    response = SessionMiddleware(view)(rf.post("/accounts/login/"))

    key = response.cookies[settings.SESSION_COOKIE_NAME].value
    stored = SessionStore(session_key=key).load()  # read back by Django's own store
    assert stored[SESSION_KEY] == str(user.pk)
    assert stored["basket"] == {"items": 2}
    assert stored["later"] == "kept"


# --- Sign-out ---------------------------------------------------------------------


def test_logout_page_refuses_get(client):
    user = customer()
    page_login(client, user.email)
    assert client.get("/accounts/logout/").status_code == 405
    assert is_signed_in(client)


def test_logout_deletes_the_session_server_side(client):
    user = customer()
    page_login(client, user.email)
    key = session_cookie(client)

    response = client.post("/accounts/logout/")

    assert response.status_code == 302
    assert not session_exists(key)
    assert not UserSession.objects.filter(session_key=key).exists()
    replay = client_with_session(key)
    me = replay.get(ME_API)
    assert me.status_code == 401
    assert me.json()["code"] == "NOT_AUTHENTICATED"
    page = replay.get("/accounts/profile/")
    assert page.status_code == 302
    assert page["Location"].startswith("/accounts/login/")
    assert AuditEvent.objects.filter(event="logout", actor=user).exists()


def test_api_logout_deletes_the_session_server_side(client):
    user = customer()
    api_login(client, user)
    key = session_cookie(client)

    response = client.post("/api/auth/logout/")

    assert response.status_code == 200
    assert response.json() == {"status": "success"}
    assert not session_exists(key)
    assert client_with_session(key).get(ME_API).status_code == 401


def test_api_logout_refuses_get(client):
    user = customer()
    api_login(client, user)
    response = client.get("/api/auth/logout/")
    assert response.status_code == 405
    assert response.json()["code"] == "METHOD_NOT_ALLOWED"
    assert is_signed_in(client)


def test_signing_out_ends_this_browser_session_only(client):
    user = customer()
    other = Client()
    page_login(client, user.email)
    page_login(other, user.email)

    client.post("/accounts/logout/")

    assert not is_signed_in(client)
    assert is_signed_in(other)


# --- Idle and absolute timeouts ------------------------------------------------------


def _shift_session(client: Client, **seconds_ago: float) -> None:
    """Move the session's auth_at/seen_at into the past, in the session store."""
    session = client.session
    for name, ago in seconds_ago.items():
        session[name] = time.time() - ago
    session.save()


def _assert_expired(client: Client, key: str, user: User, reason: str) -> None:
    response = client.get(ME_API)
    assert response.status_code == 401
    assert response.json()["code"] == "NOT_AUTHENTICATED"
    assert not session_exists(key)
    assert not UserSession.objects.filter(session_key=key).exists()
    event = AuditEvent.objects.get(event="session_expired", actor=user)
    assert event.reason == reason


def test_idle_session_expires(client, settings):
    settings.SESSION_IDLE_TIMEOUT = 100
    user = customer()
    page_login(client, user.email)
    key = session_cookie(client)

    _shift_session(client, seen_at=101)

    _assert_expired(client, key, user, "idle timeout")


def test_idle_session_within_the_limit_still_works(client, settings):
    settings.SESSION_IDLE_TIMEOUT = 100
    user = customer()
    page_login(client, user.email)
    _shift_session(client, seen_at=90)
    assert is_signed_in(client)
    assert not AuditEvent.objects.filter(event="session_expired").exists()


def test_expired_session_on_a_page_redirects_to_login(client, settings):
    settings.SESSION_IDLE_TIMEOUT = 100
    user = customer()
    page_login(client, user.email)
    key = session_cookie(client)
    _shift_session(client, seen_at=101)

    response = client.get("/accounts/profile/")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert not session_exists(key)
    page = client.get(response["Location"])
    assert b"Your session has expired" in page.content


def test_activity_slides_the_idle_timeout(client, settings):
    settings.SESSION_IDLE_TIMEOUT = 100
    settings.SESSION_ABSOLUTE_TIMEOUT = 10_000
    user = customer()
    start = time.time()
    page_login(client, user.email)

    with mock.patch("accounts.middleware.time") as clock:
        clock.time.return_value = start + 80
        assert is_signed_in(client)
        clock.time.return_value = start + 160  # 160 s after sign-in, 80 s after the last use
        assert is_signed_in(client)
        clock.time.return_value = start + 261  # 101 s idle
        assert not is_signed_in(client)


def test_absolute_timeout_ends_an_active_session(client, settings):
    settings.SESSION_IDLE_TIMEOUT = 100
    settings.SESSION_ABSOLUTE_TIMEOUT = 1000
    user = customer()
    page_login(client, user.email)
    key = session_cookie(client)

    _shift_session(client, auth_at=1001, seen_at=5)

    _assert_expired(client, key, user, "absolute timeout")


def test_absolute_timeout_not_reached_yet(client, settings):
    settings.SESSION_IDLE_TIMEOUT = 100
    settings.SESSION_ABSOLUTE_TIMEOUT = 1000
    user = customer()
    page_login(client, user.email)
    _shift_session(client, auth_at=990, seen_at=5)
    assert is_signed_in(client)


def test_absolute_timeout_is_not_slid_by_activity(client, settings):
    settings.SESSION_IDLE_TIMEOUT = 100
    settings.SESSION_ABSOLUTE_TIMEOUT = 250
    user = customer()
    start = time.time()
    page_login(client, user.email)

    with mock.patch("accounts.middleware.time") as clock:
        for offset in (80, 160, 240):
            clock.time.return_value = start + offset
            assert is_signed_in(client), offset
        clock.time.return_value = start + 260
        assert not is_signed_in(client)
    assert AuditEvent.objects.get(event="session_expired").reason == "absolute timeout"


# --- The sessions page ---------------------------------------------------------------


def _browser(user_agent: str, ip: str) -> Client:
    return Client(HTTP_USER_AGENT=user_agent, REMOTE_ADDR=ip)


def test_sessions_page_lists_own_sessions_with_user_agent_and_ip():
    user, stranger = customer(), customer()
    laptop = _browser("LaptopBrowser/1.0", "203.0.113.10")
    phone = _browser("PhoneBrowser/2.0", "198.51.100.20")
    outsider = _browser("StrangerBrowser/3.0", "192.0.2.30")
    page_login(laptop, user.email)
    page_login(phone, user.email)
    page_login(outsider, stranger.email)

    response = laptop.get("/accounts/sessions/")

    assert response.status_code == 200
    body = response.content.decode()
    for text in ("LaptopBrowser/1.0", "203.0.113.10", "PhoneBrowser/2.0", "198.51.100.20"):
        assert text in body
    assert "StrangerBrowser/3.0" not in body
    assert "192.0.2.30" not in body


def test_revoking_another_session_signs_that_browser_out():
    user = customer()
    laptop, phone = Client(), Client()
    page_login(laptop, user.email)
    page_login(phone, user.email)
    phone_session = UserSession.objects.get(session_key=session_cookie(phone))

    response = laptop.post(f"/accounts/sessions/{phone_session.pk}/revoke/")

    assert response.status_code == 302
    assert not is_signed_in(phone)
    assert not session_exists(phone_session.session_key)
    assert is_signed_in(laptop)
    assert AuditEvent.objects.filter(event="session_revoked", actor=user).exists()


def test_revoking_the_current_session_signs_out(client):
    user = customer()
    page_login(client, user.email)
    current = UserSession.objects.get(session_key=session_cookie(client))
    response = client.post(f"/accounts/sessions/{current.pk}/revoke/")
    assert response.status_code == 302
    assert not is_signed_in(client)


def test_sign_out_all_other_sessions_keeps_the_current_one():
    user = customer()
    laptop, phone, tablet = Client(), Client(), Client()
    for browser in (laptop, phone, tablet):
        page_login(browser, user.email)

    response = laptop.post("/accounts/sessions/others/revoke/")

    assert response.status_code == 302
    assert is_signed_in(laptop)
    assert not is_signed_in(phone)
    assert not is_signed_in(tablet)
    assert list(UserSession.objects.filter(user=user).values_list("session_key", flat=True)) == [session_cookie(laptop)]


def test_sign_out_others_leaves_other_users_alone():
    user, stranger = customer(), customer()
    mine, theirs = Client(), Client()
    page_login(mine, user.email)
    page_login(theirs, stranger.email)
    mine.post("/accounts/sessions/others/revoke/")
    assert is_signed_in(theirs)


def test_cannot_revoke_someone_elses_session():
    user, stranger = customer(), customer()
    mine, theirs = Client(), Client()
    page_login(mine, user.email)
    page_login(theirs, stranger.email)
    their_session = UserSession.objects.get(session_key=session_cookie(theirs))

    response = mine.post(f"/accounts/sessions/{their_session.pk}/revoke/")

    assert response.status_code == 404
    assert is_signed_in(theirs)
    assert UserSession.objects.filter(pk=their_session.pk).exists()


def test_revoke_needs_post(client):
    user = customer()
    page_login(client, user.email)
    current = UserSession.objects.get(session_key=session_cookie(client))
    assert client.get(f"/accounts/sessions/{current.pk}/revoke/").status_code == 405
    assert client.get("/accounts/sessions/others/revoke/").status_code == 405
    assert is_signed_in(client)


# --- Deactivation ------------------------------------------------------------------------


def test_deactivated_user_is_anonymous_on_the_next_request_and_the_session_is_flushed(client):
    user = customer()
    page_login(client, user.email)
    key = session_cookie(client)

    User.objects.filter(pk=user.pk).update(is_active=False)

    response = client.get(ME_API)
    assert response.status_code == 401
    assert not session_exists(key)
    assert not UserSession.objects.filter(session_key=key).exists()


def test_deactivated_user_on_a_page_is_redirected_to_login(client):
    user = customer()
    page_login(client, user.email)
    User.objects.filter(pk=user.pk).update(is_active=False)
    response = client.get("/accounts/profile/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_a_sign_in_stamps_last_login_and_so_voids_earlier_password_reset_links(client):
    user = customer()
    link_token = default_token_generator.make_token(user)

    assert api_login_response(client, user.email).status_code == 200

    user.refresh_from_db()
    assert user.last_login is not None
    assert not default_token_generator.check_token(user, link_token)
