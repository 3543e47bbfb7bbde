"""Swap one permission's rules for a test, without touching the apps' declarations."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager

from core.rules import RuleBuilder, registry


@contextmanager
def rules_overridden(perm: str, rules: RuleBuilder) -> Iterator[None]:
    declared = registry.permission(perm)
    assert declared is not None, perm
    registry._permissions[perm] = dataclasses.replace(declared, rules=rules)
    try:
        yield
    finally:
        registry._permissions[perm] = declared


def override_rules(monkeypatch, perm: str, rules: RuleBuilder) -> None:
    declared = registry.permission(perm)
    assert declared is not None, perm
    monkeypatch.setitem(registry._permissions, perm, dataclasses.replace(declared, rules=rules))
