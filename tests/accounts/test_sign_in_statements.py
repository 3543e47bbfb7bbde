"""How many SQL statements a password sign-in runs: a regression fails here.

A sign-in's CPU beyond its Argon2 verify is mostly its statements (issue 16): each costs a
round trip and the Python that sends it. The lists below are what the rules need, statement
by statement (comments say what each is for); a change that adds one has to say why here.

Counted on Django's test client with the test's own transaction around it, so the sign-in's
transaction shows as a savepoint and its release (BEGIN and COMMIT on a production
connection, which the capture does not list).
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.accounts.helpers import api_login_response, session_cookie
from tests.factories import customer, enrol_passkey, enrol_totp
from tests.support.sign_in import page_login

pytestmark = pytest.mark.django_db

# The account and whether it has an authenticator app and a passkey, in one SELECT
# (accounts.backends.EmailBackend; the second-step question reads them, no query of its own).
ACCOUNT = ("SELECT", "accounts_user")
SIGNED_IN = [
    ACCOUNT,
    ("SAVEPOINT", ""),  # the sign-in's one transaction (accounts.login.sign_in)
    ("UPDATE", "accounts_user"),  # last_login: it voids every password reset link issued before
    ("INSERT", "django_session"),  # the new session's row, written once, with its signed-in data
    ("INSERT", "accounts_usersession"),  # its entry on the sessions page
    ("INSERT", "accounts_auditevent"),  # login_succeeded
    ("RELEASE", ""),  # one commit for all of it
]


def kind(sql: str) -> tuple[str, str]:
    """A statement as (its verb, its table): a SELECT's is its last FROM's, after any subquery."""
    verb = sql.split(" ", 1)[0]
    marker = {"SELECT": " FROM ", "UPDATE": "UPDATE ", "INSERT": "INSERT INTO ", "DELETE": " FROM "}.get(verb)
    table = sql.rsplit(marker, 1)[1].split(" ", 1)[0].strip('"') if marker else ""
    return verb, table


def statements(send) -> tuple[object, list[tuple[str, str]]]:
    with CaptureQueriesContext(connection) as captured:
        response = send()
    return response, [kind(query["sql"]) for query in captured.captured_queries]


@pytest.mark.parametrize("send", [api_login_response, page_login], ids=["api", "page"])
def test_a_password_sign_in_runs_these_statements_and_no_more(client, send):
    user = customer()
    response, sent = statements(lambda: send(client, user.email))
    assert response.status_code in (200, 302)
    assert sent == SIGNED_IN


def test_signing_in_again_on_a_signed_in_browser_also_ends_its_previous_session(client):
    user = customer()
    assert api_login_response(client, user.email).status_code == 200
    previous = session_cookie(client)
    response, sent = statements(lambda: api_login_response(client, user.email))
    assert response.status_code == 200 and session_cookie(client) != previous
    assert sent == [
        ("SELECT", "django_session"),  # the middleware loads the signed-in session...
        ("SELECT", "accounts_user"),  # ...and its user (a deactivated account's session ends)
        ACCOUNT,
        ("SAVEPOINT", ""),
        ("UPDATE", "accounts_user"),
        ("DELETE", "django_session"),  # the previous session's row: the same user, so its key is rotated
        ("INSERT", "django_session"),
        ("INSERT", "accounts_usersession"),
        ("DELETE", "accounts_usersession"),  # the previous session's entry on the sessions page
        ("INSERT", "accounts_auditevent"),
        ("RELEASE", ""),
    ]


@pytest.mark.parametrize("factor", ["totp", "passkey"])
def test_a_password_step_with_a_second_factor_reads_no_factor_again(client, factor):
    user = customer()
    enrol_totp(user) if factor == "totp" else enrol_passkey(user)
    response, sent = statements(lambda: api_login_response(client, user.email))
    assert response.json()["status"] == "mfa_required"
    assert sent == [
        ACCOUNT,
        ("SELECT", "accounts_recoverycode"),  # recovery codes count only beside a factor: how many are left
        ("INSERT", "django_session"),  # the pending second step, written when the response goes out
    ]
