"""Record security events: one row in the audit table and one escaped log line each."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.http import HttpRequest

from accounts.models import AuditEvent, User
from accounts.net import client_ip, user_agent

logger = logging.getLogger("audit")

Event = AuditEvent.Type
Outcome = AuditEvent.Outcome

# The request being served, for events recorded where no request is at hand (the OAuth
# validator works on oauthlib's request): they still get the client's IP and user agent.
_current_request: ContextVar[HttpRequest | None] = ContextVar("audit_current_request", default=None)


@contextmanager
def bound_to(request: HttpRequest) -> Iterator[None]:
    token = _current_request.set(request)
    try:
        yield
    finally:
        _current_request.reset(token)


def escape(value: str) -> str:
    """Make a user-supplied string safe for one log line: no CR, LF or other control characters."""
    if value.isprintable():
        return value  # the usual case, checked in one pass instead of character by character
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in value)


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
    request = request if request is not None else _current_request.get()
    # A person (User), AnonymousUser, or a client acting for itself (with a client_id).
    principal: Any = getattr(request, "user", None) if request is not None else None
    if actor is None and isinstance(principal, User) and principal.is_authenticated:
        actor = principal
    principal_client_id: str = getattr(principal, "client_id", None) or ""
    if not client_id and principal_client_id:
        client_id = principal_client_id  # a machine client acting for itself
    row = AuditEvent.objects.create(
        event=event,
        outcome=outcome,
        actor=actor,
        client_id=client_id[:100],
        ip=client_ip(request) if request is not None else None,
        user_agent=user_agent(request) if request is not None else "",
        target=target[:200],
        reason=reason[:255],
    )
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
    return row
