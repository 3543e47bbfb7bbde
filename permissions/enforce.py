"""Refuse an action with the contract's message, and audit the refusal with its reason."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django_ratelimit.core import get_usage

from accounts import audit
from core.rules import registry
from core.unavailable import is_service_outage
from permissions import policy

def denial_message(perm: str) -> str:
    """The contract's 403 message, with the phrase the permission's owning app declared."""
    declared = registry.permission(perm)
    return f"You do not have permission to {declared.phrase if declared else 'perform this action'}"


def require(request: HttpRequest, perm: str, obj=None) -> None:
    """Raise 403 unless the request's principal may ``perm`` (on ``obj``)."""
    principal = request.user
    decision = policy.decide(principal, perm, obj)
    if decision.allowed:
        return
    audit_denial(request, perm, obj, decision.reason)
    raise PermissionDenied(denial_message(perm))


def audit_denial(request: HttpRequest, perm: str, obj, reason: str) -> None:
    """Write the denial to the audit log, at most DENIAL_AUDIT_RATE per actor."""
    principal = request.user
    actor_key = str(getattr(principal, "pk", "") or "") or getattr(principal, "client_id", "") or "anonymous"
    try:
        usage = get_usage(
            request, group="audit:denials", key=lambda _g, _r: actor_key, rate=settings.DENIAL_AUDIT_RATE, increment=True
        )
    except Exception as error:  # noqa: BLE001 - re-raised unless the cache is merely down
        if not is_service_outage(error):
            raise
        usage = None  # the cache is down: record the denial rather than lose it
    if usage is not None and usage["should_limit"]:
        return
    target = f"{obj._meta.model_name}:{obj.pk}" if obj is not None and hasattr(obj, "_meta") else ""
    audit.record(
        audit.Event.ACCESS_DENIED,
        outcome=audit.Outcome.DENIED,
        request=request,
        target=target,
        reason=f"{perm}: {reason}",
    )
