"""Record security events: one row in the audit table and one escaped log line each.

A *folded* event (:func:`record_folded`) is one row for many occurrences: throttled sign-in
attempts are recorded as one row per throttle bucket and window, whose ``count`` says how
many attempts that bucket refused in that window (the contract allows it). The first refusal
writes the row (an upsert), every later one adds one to its count (an ``UPDATE`` of one
column, by the row's unique key): one small statement per refusal instead of a new row, and
one log line per bucket and window instead of one per attempt, so a flood of refused guesses
fills neither the table nor the log.

The count is written per refusal, not kept in the cache and written later: the cache may
lose a key (eviction, a restart) and nothing runs when a window closes, so the database row
is the only place where the count is sure to stay exact.
"""

from __future__ import annotations

import functools
import logging
from contextvars import ContextVar, Token
from typing import Any

from django.db import connections, router
from django.http import HttpRequest

from accounts.models import AuditEvent, User
from accounts.net import client_ip, user_agent
from core import rows

logger = logging.getLogger("audit")

Event = AuditEvent.Type
Outcome = AuditEvent.Outcome

# The request being served, for events recorded where no request is at hand (the OAuth
# validator works on oauthlib's request): they still get the client's IP and user agent.
_current_request: ContextVar[HttpRequest | None] = ContextVar("audit_current_request", default=None)


def bind(request: HttpRequest) -> Token[HttpRequest | None]:
    """Make ``request`` the current one; pass the token to :func:`unbind` when it is done."""
    return _current_request.set(request)


def unbind(token: Token[HttpRequest | None]) -> None:
    _current_request.reset(token)


def escape(value: str) -> str:
    """Make a user-supplied string safe for one log line: no CR, LF or other control characters."""
    if value.isprintable():
        return value  # the usual case, checked in one pass instead of character by character
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in value)


def _event(
    event: str,
    *,
    outcome: str,
    request: HttpRequest | None,
    actor: User | None,
    client_id: str,
    target: str,
    reason: str,
) -> AuditEvent:
    """The row of an event (unsaved), with the request's IP, user agent and principal."""
    request = request if request is not None else _current_request.get()
    # A person (User), AnonymousUser, or a client acting for itself (with a client_id).
    principal: Any = getattr(request, "user", None) if request is not None else None
    if actor is None and isinstance(principal, User) and principal.is_authenticated:
        actor = principal
    principal_client_id: str = getattr(principal, "client_id", None) or ""
    if not client_id and principal_client_id:
        client_id = principal_client_id  # a machine client acting for itself
    return AuditEvent(
        event=event,
        outcome=outcome,
        actor=actor,
        client_id=client_id[:100],
        ip=client_ip(request) if request is not None else None,
        user_agent=user_agent(request) if request is not None else "",
        target=target[:200],
        reason=reason[:255],
    )


def _log(row: AuditEvent) -> None:
    logger.info(
        # The user agent comes last: it is free text, and everything after "ua=" is it.
        "event=%s outcome=%s actor=%s client=%s ip=%s target=%s reason=%s ua=%s",
        row.event,
        row.outcome,
        row.actor_id or "-",
        escape(row.client_id) or "-",
        row.ip or "-",
        escape(row.target) or "-",
        escape(row.reason) or "-",
        escape(row.user_agent) or "-",
    )


def record(
    event: str,
    *,
    outcome: str = Outcome.SUCCESS,
    request: HttpRequest | None = None,
    actor: User | None = None,
    client_id: str = "",
    target: str = "",
    reason: str = "",
) -> AuditEvent:
    """Write one audit event. Callers pass descriptions, never a credential."""
    row = _event(
        event, outcome=outcome, request=request, actor=actor, client_id=client_id, target=target, reason=reason
    )
    rows.insert(row)  # an INSERT built once, not compiled per event (core.rows)
    _log(row)
    return row


@functools.cache
def _folded_insert_sql(alias: str) -> str:
    """The upsert of a folded row (the same text for PostgreSQL and SQLite, quoted per vendor)."""
    quote = connections[alias].ops.quote_name
    table, count, key = quote(AuditEvent._meta.db_table), quote("count"), quote("fold_key")
    return (
        f"{rows.insert_sql(AuditEvent, alias)} "
        f"ON CONFLICT ({key}) WHERE {key} IS NOT NULL DO UPDATE SET {count} = {table}.{count} + 1"
    )


@functools.cache
def _folded_count_sql(alias: str) -> str:
    """Add one to the count of the folded row of a key (found by its unique index)."""
    quote = connections[alias].ops.quote_name
    count = quote("count")
    return f"UPDATE {quote(AuditEvent._meta.db_table)} SET {count} = {count} + 1 WHERE {quote('fold_key')} = %s"


def record_folded(
    event: str,
    *,
    fold_key: str,
    is_first: bool,
    outcome: str = Outcome.SUCCESS,
    request: HttpRequest | None = None,
    actor: User | None = None,
    target: str = "",
    reason: str = "",
) -> None:
    """Count one more occurrence in the row of ``fold_key``, writing the row if there is none.

    ``is_first`` (the caller knows which occurrence is the first, e.g. from the throttle's
    own counter) writes the row and the one log line; a later occurrence only adds one to the
    row's count, with no row to build. Either way one statement, and no increment is lost
    whatever the order in which concurrent requests reach the database: the row's upsert
    inserts it with ``count`` 1 or, when the key's row exists, adds one to its count instead
    (row-locked), and a later occurrence that finds no row yet (it overtook the first) writes
    it by that upsert too. The row keeps the details (actor, IP, user agent, time) of the
    occurrence that wrote it.
    """
    alias = router.db_for_write(AuditEvent)
    if not is_first:
        with connections[alias].cursor() as cursor:
            cursor.execute(_folded_count_sql(alias), [fold_key])
            if cursor.rowcount:
                return
    row = _event(event, outcome=outcome, request=request, actor=actor, client_id="", target=target, reason=reason)
    row.fold_key = fold_key
    with connections[alias].cursor() as cursor:
        cursor.execute(_folded_insert_sql(alias), rows.values(row, alias))
    if is_first:
        _log(row)
