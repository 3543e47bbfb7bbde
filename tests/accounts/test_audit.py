"""Audit rows and log lines: every auth event recorded, never a secret, log lines unforgeable."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client

from accounts import audit
from accounts.models import AuditEvent
from tests.accounts.helpers import api_login_response
from tests.factories import PASSWORD, customer
from tests.support.sign_in import page_login

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "another fine harbour lantern"
WRONG_PASSWORD = "wrong but secret passphrase"


def _all_audit_text() -> str:
    """Every stored value of every audit row, as text."""
    fields = [field.attname for field in AuditEvent._meta.concrete_fields]
    return "\n".join(str(value) for row in AuditEvent.objects.values_list(*fields) for value in row)


def _log_text(caplog) -> str:
    return "\n".join(record.getMessage() for record in caplog.records if record.name == "audit")


def test_sign_in_events_are_recorded(client):
    user = customer()
    page_login(client, user.email, WRONG_PASSWORD)
    page_login(client, "nobody@example.com", WRONG_PASSWORD)
    page_login(client, user.email)
    client.post("/accounts/logout/")

    events = list(AuditEvent.objects.order_by("created_at", "id").values_list("event", "outcome"))
    assert events == [
        ("login_failed", "failure"),
        ("login_failed", "failure"),
        ("login_succeeded", "success"),
        ("logout", "success"),
    ]
    assert AuditEvent.objects.get(event="login_succeeded").actor == user


def test_no_password_in_audit_rows_or_log_lines(client, audit_log):
    user = customer()
    page_login(client, user.email, WRONG_PASSWORD)
    api_login_response(Client(), user.email, WRONG_PASSWORD)
    page_login(client, user.email)
    client.post(
        "/accounts/password/change/",
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )

    assert set(AuditEvent.objects.values_list("event", flat=True)) >= {
        "login_failed",
        "login_succeeded",
        "password_changed",
    }
    stored, logged = _all_audit_text(), _log_text(audit_log)
    assert logged
    for secret in (PASSWORD, WRONG_PASSWORD, NEW_PASSWORD):
        assert secret not in stored
        assert secret not in logged


def test_no_reset_token_or_password_in_audit_rows_or_log_lines(audit_log):
    user = customer()
    resetter = Client()
    resetter.post("/accounts/password/reset/", {"email": user.email})
    link = re.search(r"/accounts/password/reset/(\S+)/(\S+)/", mail.outbox[0].body)
    uidb64, token = link.group(1), link.group(2)
    redirect = resetter.get(f"/accounts/password/reset/{uidb64}/{token}/")
    resetter.post(redirect["Location"], {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})

    assert set(AuditEvent.objects.values_list("event", flat=True)) >= {"password_reset_requested", "password_reset"}
    stored, logged = _all_audit_text(), _log_text(audit_log)
    for secret in (token, NEW_PASSWORD, PASSWORD):
        assert secret not in stored
        assert secret not in logged
    # The address asked for is withheld from the request event.
    assert user.email not in AuditEvent.objects.get(event="password_reset_requested").target


def test_audit_row_keeps_ip_and_user_agent():
    user = customer()
    browser = Client(HTTP_USER_AGENT="AuditBrowser/1.0", REMOTE_ADDR="203.0.113.44")
    page_login(browser, user.email)
    event = AuditEvent.objects.get(event="login_succeeded")
    assert event.ip == "203.0.113.44"
    assert event.user_agent == "AuditBrowser/1.0"


def test_a_recorded_row_is_written_as_save_writes_it_and_has_its_id():
    user = customer()
    row = audit.record(audit.Event.FACTOR_USED, actor=user, target="x" * 300, reason="totp")

    assert row.pk is not None and not row._state.adding  # the database's id, read back (core.rows)
    stored = AuditEvent.objects.get(pk=row.pk)
    assert (stored.event, stored.outcome, stored.actor_id, stored.reason) == ("factor_used", "success", user.pk, "totp")
    assert stored.target == "x" * 200  # cut to the column as before
    assert (stored.count, stored.fold_key, stored.created_at) == (1, None, row.created_at)  # the defaults


def test_a_later_fold_that_overtakes_the_first_still_writes_the_row_and_loses_no_count(audit_log):
    """A later refusal may reach the database before the first one's row: it writes the row."""
    fold = {"fold_key": "login:account:window-1", "outcome": audit.Outcome.DENIED, "target": "email:x@example.com"}

    audit.record_folded(audit.Event.LOGIN_THROTTLED, is_first=False, **fold)  # overtook the first
    audit.record_folded(audit.Event.LOGIN_THROTTLED, is_first=True, **fold)  # the first, arriving late
    audit.record_folded(audit.Event.LOGIN_THROTTLED, is_first=False, **fold)

    [row] = AuditEvent.objects.filter(fold_key=fold["fold_key"])
    assert (row.count, row.event, row.target) == (3, "login_throttled", "email:x@example.com")
    # The one log line is the first occurrence's, whenever it arrives.
    assert len([r for r in audit_log.records if "event=login_throttled" in r.getMessage()]) == 1


def test_log_line_escapes_cr_and_lf_from_the_user_agent(audit_log):
    user = customer()
    browser = Client(HTTP_USER_AGENT="evil\r\nFAKE event=login_succeeded")
    page_login(browser, user.email, WRONG_PASSWORD)

    lines = [record.getMessage() for record in audit_log.records if record.name == "audit"]
    assert len(lines) == 1
    line = lines[0]
    assert "\r" not in line and "\n" not in line
    assert "evil\\r\\nFAKE" in line
    # The raw value is kept in the row, where it cannot forge a line.
    assert AuditEvent.objects.get().user_agent == "evil\r\nFAKE event=login_succeeded"


def test_log_line_escapes_control_characters_in_every_user_supplied_field(audit_log):
    from accounts import audit

    audit.record(
        audit.Event.ACCESS_DENIED, outcome=audit.Outcome.DENIED, target="a\nb", reason="c\rd", client_id="e\x1bf"
    )
    line = _log_text(audit_log)
    assert "\n" not in line and "\r" not in line and "\x1b" not in line
    for escaped in ("a\\nb", "c\\rd", "e\\x1bf"):
        assert escaped in line
