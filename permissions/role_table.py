"""What each role may do: the RolePermission table, kept per process between requests.

Every request needs its principal's role permissions. Reading them is a three-table join
that costs about 1 ms through the ORM (0.06 ms of it in PostgreSQL), and the table changes
only through a migration or an administrator. So each process keeps the answer per role,
tagged with a version that all processes share through the cache:

- Any change to RolePermission (a save, a delete, a migration) sets a new version, at once
  and again after its transaction commits. The process that made the change sees it at
  once; every other process reads the version again at most ``VERSION_CHECK_INTERVAL``
  seconds later (a cache GET per request would cost more than it saves), then reads the
  table again.
- An entry is also read again after ``MAX_AGE`` seconds, so a version lost with the
  cache's data, or a change rolled back after this process read it, cannot keep a wrong
  answer for long.
- While the cache is unreachable, the table is read from the database every time, from
  the first version check that fails (at most ``VERSION_CHECK_INTERVAL`` seconds after
  the cache went away).
"""

from __future__ import annotations

import logging
import time
import uuid

from django.core.cache import cache
from django.db import transaction

from core.unavailable import is_service_outage
from permissions.models import RolePermission

log = logging.getLogger(__name__)

VERSION_KEY = "permissions:role-table-version"
VERSION_CHECK_INTERVAL = 1.0  # seconds
MAX_AGE = 60  # seconds

# role -> (version, read at (monotonic seconds), permissions)
_by_role: dict[str, tuple[str, float, frozenset[str]]] = {}
# The shared version as this process last read it, and when (monotonic seconds).
_version_seen: tuple[str, float] | None = None


def permissions_of(role: str) -> frozenset[str]:
    """The permissions the role holds now, as ``app_label.codename`` strings."""
    version = _current_version()
    now = time.monotonic()
    if version is not None:
        entry = _by_role.get(role)
        if entry is not None and entry[0] == version and now - entry[1] < MAX_AGE:
            return entry[2]
    permissions = _read(role)
    if version is not None:
        _by_role[role] = (version, now, permissions)
    return permissions


def changed() -> None:
    """The role table has changed (or is about to, in this transaction): every process reads it again."""
    _new_version()
    transaction.on_commit(_new_version_quietly)


def forget_local() -> None:
    """Drop what this process holds; the next call reads the version and the table again."""
    global _version_seen
    _by_role.clear()
    _version_seen = None


def _read(role: str) -> frozenset[str]:
    rows = RolePermission.objects.filter(role=role).values_list(
        "permission__content_type__app_label", "permission__codename"
    )
    return frozenset(f"{app}.{codename}" for app, codename in rows)


def _current_version() -> str | None:
    """The shared version (read at most every VERSION_CHECK_INTERVAL), or None while the cache is unreachable."""
    global _version_seen
    now = time.monotonic()
    seen = _version_seen
    if seen is not None and now - seen[1] < VERSION_CHECK_INTERVAL:
        return seen[0]
    try:
        version = cache.get(VERSION_KEY)
        if version is None:
            # First reader after a cache flush: any value new to every process will do.
            cache.add(VERSION_KEY, uuid.uuid4().hex, timeout=None)
            version = cache.get(VERSION_KEY)
    except Exception as exc:
        if not is_service_outage(exc):
            raise
        _version_seen = None
        return None
    _version_seen = (version, now) if version is not None else None
    return version


def _new_version() -> None:
    global _version_seen
    version = uuid.uuid4().hex
    cache.set(VERSION_KEY, version, timeout=None)
    _version_seen = (version, time.monotonic())


def _new_version_quietly() -> None:
    """After a commit nothing can be rolled back: an unreachable cache is logged, and MAX_AGE bounds the rest."""
    try:
        _new_version()
    except Exception as exc:
        if not is_service_outage(exc):
            raise
        log.warning("role table changed while the cache was unreachable: processes re-read it within %s s", MAX_AGE)


def on_row_changed(sender, **kwargs) -> None:
    """post_save / post_delete of a RolePermission row (the admin, a shell, a test)."""
    changed()


def on_migrate(sender, **kwargs) -> None:
    """After ``migrate``: data migrations write the table through historical models, which send no row signals."""
    _new_version_quietly()
