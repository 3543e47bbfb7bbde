"""core.rows.batch: held writes go out together at the block's end, in its transaction, or not at all."""

from __future__ import annotations

import logging

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from accounts import audit
from accounts.models import AuditEvent
from core import rows
from tests.factories import customer

pytestmark = pytest.mark.django_db


def audit_row(reason: str) -> AuditEvent:
    return AuditEvent(event=AuditEvent.Type.LOGIN_SUCCEEDED, outcome=AuditEvent.Outcome.SUCCESS, reason=reason)


def test_held_writes_are_sent_at_the_end_of_the_block_and_their_keys_are_set():
    alice = customer()
    first, second = audit_row("first"), audit_row("second")
    with CaptureQueriesContext(connection) as captured, transaction.atomic(), rows.batch():
        rows.insert(first)
        alice.name = "Alice Batched"
        rows.update(alice, "name")
        rows.insert(second)
        sent_inside = len([q for q in captured.captured_queries if q["sql"].startswith(("INSERT", "UPDATE"))])
    writes = [q["sql"] for q in captured.captured_queries if q["sql"].startswith(("INSERT", "UPDATE"))]
    if rows.can_batch(connection.alias):
        assert sent_inside == 0 and len(writes) == 1 and writes[0].count("; ") == 2
    else:  # one statement per execute: each is sent at once
        assert sent_inside == 3 and len(writes) == 3
    assert first.pk is not None and second.pk is not None and first.pk != second.pk
    assert set(AuditEvent.objects.filter(pk__in=[first.pk, second.pk]).values_list("reason", flat=True)) == {
        "first", "second"}
    alice.refresh_from_db()
    assert alice.name == "Alice Batched"


def test_a_block_that_fails_writes_nothing_and_runs_no_callback():
    alice = customer()
    before = AuditEvent.objects.count()
    ran = []
    with pytest.raises(RuntimeError), transaction.atomic(), rows.batch():
        rows.insert(audit_row("lost"))
        alice.name = "Never"
        rows.update(alice, "name")
        rows.after_write(lambda: ran.append(True))
        raise RuntimeError("the sign-in failed half-way")
    assert AuditEvent.objects.count() == before and ran == []
    alice.refresh_from_db()
    assert alice.name != "Never"


def test_an_audit_line_is_logged_only_once_its_row_is_written(caplog):
    """In a batch the line waits for the row: a sign-in whose writes fail logs no login_succeeded."""
    caplog.set_level(logging.INFO, logger="audit")
    with transaction.atomic(), rows.batch():
        audit.record(AuditEvent.Type.LOGIN_SUCCEEDED, reason="batched")
        logged_inside = [r for r in caplog.records if "reason=batched" in r.getMessage()]
        if rows.can_batch(connection.alias):
            assert logged_inside == []
    assert len([r for r in caplog.records if "reason=batched" in r.getMessage()]) == 1
    caplog.clear()
    with pytest.raises(RuntimeError), transaction.atomic(), rows.batch():
        audit.record(AuditEvent.Type.LOGIN_SUCCEEDED, reason="failed")
        raise RuntimeError("rolled back")
    if rows.can_batch(connection.alias):
        assert [r for r in caplog.records if "reason=failed" in r.getMessage()] == []


def test_a_nested_batch_joins_the_outer_one():
    with CaptureQueriesContext(connection) as captured, transaction.atomic(), rows.batch():
        with rows.batch():
            rows.insert(audit_row("inner"))
        rows.insert(audit_row("outer"))
    writes = [q["sql"] for q in captured.captured_queries if q["sql"].startswith("INSERT")]
    assert len(writes) == (1 if rows.can_batch(connection.alias) else 2)
