"""Refuse an action with the contract's message, and audit the refusal with its reason.

- :func:`authorize`: 403 (:class:`Denied`) unless the principal may act; with or without
  a request at hand, so a service that re-checks under a row lock refuses the same way.
- :func:`fetch_authorized`: Zulip's ``access_stream_by_id``: fetch through the policy and
  authorize in one call. What the caller may not view is 404, exactly like an id that was
  never issued; what they may view but not act on is 403, audited.
- :func:`denials_audited`: around a transaction that checks under a lock. A denial raised
  inside it rolls the transaction back, audit row included; the row is written again once
  the transaction is over (one look-up, on refusals only).

Denial rows are rate-limited per actor (``DENIAL_AUDIT_RATE``), so a flood of refused
requests cannot flood the audit table.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django_ratelimit.core import get_usage

from accounts import audit
from accounts.models import AuditEvent, User
from core.rules import registry
from core.unavailable import is_service_outage
from permissions import policy

ModelT = TypeVar("ModelT", bound=models.Model)


def denial_message(perm: str) -> str:
    """The contract's 403 message, with the phrase the permission's owning app declared."""
    declared = registry.permission(perm)
    return f"You do not have permission to {declared.phrase if declared else 'perform this action'}"


class Denied(PermissionDenied):
    """A refusal by the policy, carrying what its audit row needs."""

    def __init__(self, *, principal: Any, perm: str, obj: Any, reason: str):
        super().__init__(denial_message(perm))
        self.principal, self.perm, self.obj, self.reason = principal, perm, obj, reason
        self.audit_row: AuditEvent | None = None


def authorize(principal: Any, perm: str, obj: Any = None, *, request: HttpRequest | None = None) -> None:
    """Raise :class:`Denied` (403) unless ``principal`` may ``perm`` (on ``obj``), and audit it.

    Inside a transaction the audit row is rolled back with it: the caller wraps the
    transaction in :func:`denials_audited`, which writes it again afterwards.
    """
    decision = policy.decide(principal, perm, obj)
    if decision.allowed:
        return
    denied = Denied(principal=principal, perm=perm, obj=obj, reason=decision.reason)
    denied.audit_row = audit_denial(denied, request=request)
    raise denied


def require(request: HttpRequest, perm: str, obj: Any = None) -> None:
    """Raise 403 unless the request's principal may ``perm`` (on ``obj``)."""
    authorize(request.user, perm, obj, request=request)


def fetch_authorized(
    queryset: models.QuerySet[ModelT],
    *,
    fetched_by: Any,
    view_perm: str,
    pk: Any,
    perm: str | None = None,
    request: HttpRequest | None = None,
) -> ModelT:
    """The object ``pk`` if ``fetched_by`` may ``view_perm`` it (else 404), and may ``perm`` it (else 403)."""
    obj = get_object_or_404(policy.restrict(queryset, fetched_by, view_perm), pk=pk)
    if perm is not None and perm != view_perm:
        authorize(fetched_by, perm, obj, request=request)
    return obj


@contextmanager
def denials_audited(request: HttpRequest | None = None) -> Iterator[None]:
    """Audit a :class:`Denied` raised inside the block once the block's transaction has unwound."""
    try:
        yield
    except Denied as denied:
        row = denied.audit_row
        if row is not None and not AuditEvent.objects.filter(pk=row.pk).exists():
            _record(denied, request)  # rolled back with the transaction; already counted by the limiter
        raise


def audit_denial(denied: Denied, *, request: HttpRequest | None = None) -> AuditEvent | None:
    """Write the denial to the audit log, at most DENIAL_AUDIT_RATE per actor (None: not written)."""
    principal = denied.principal
    actor_key = str(getattr(principal, "pk", "") or "") or getattr(principal, "client_id", "") or "anonymous"
    try:
        usage = get_usage(
            request,
            group="audit:denials",
            key=lambda _g, _r: actor_key,
            rate=settings.DENIAL_AUDIT_RATE,
            increment=True,
        )
    except Exception as error:
        if not is_service_outage(error):
            raise
        usage = None  # the cache is down: record the denial rather than lose it
    if usage is not None and usage["should_limit"]:
        return None
    return _record(denied, request)


def _record(denied: Denied, request: HttpRequest | None) -> AuditEvent:
    obj, principal = denied.obj, denied.principal
    target = f"{obj._meta.model_name}:{obj.pk}" if obj is not None and hasattr(obj, "_meta") else ""
    return audit.record(
        audit.Event.ACCESS_DENIED,
        outcome=audit.Outcome.DENIED,
        request=request,
        actor=principal if isinstance(principal, User) and principal.is_authenticated else None,
        target=target,
        reason=f"{denied.perm}: {denied.reason}",
    )
