"""The scope catalogue: what a third-party app may ask for, and what each scope allows.

Scopes are declared by the apps (:class:`core.rules.Scope` records in their ``policy.py``),
and each permission record names the scope that covers it: the catalogue and the
scope -> permissions map below are read from that one declaration.

A token never grants more than its user (or machine client) may do now: the policy
computes the principal's permissions from the current role, then these scopes narrow
them. ``openid``, ``profile`` and ``email`` allow identity claims only.
"""

from __future__ import annotations

from core.rules import Scope, registry


def catalogue() -> dict[str, Scope]:
    """Every scope, in the order the apps declared them."""
    return registry.scopes()


def is_known(name: str) -> bool:
    return registry.scope(name) is not None


def permissions_for_scopes(scopes: list[str] | tuple[str, ...] | set[str]) -> frozenset[str]:
    """The permissions a set of scopes lets a token use (before the role is applied)."""
    allowed: set[str] = set()
    for name in scopes:
        allowed |= registry.permissions_of_scope(name)
    return frozenset(allowed)


def describe(scopes: list[str]) -> list[Scope]:
    return [scope for scope in (registry.scope(name) for name in scopes) if scope is not None]
