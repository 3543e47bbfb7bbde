"""The session engine (``SESSION_ENGINE``): Django's database sessions, written once per sign-in.

A sign-in costs little beyond its Argon2 verify only if its writes are few and share one
commit (``accounts.login.sign_in``). Django's store writes a new session's row twice and
commits on its own; this one writes it once, in the caller's transaction. The class keeps
Django's name, so the data is signed (``key_salt``) as Django's own store signs it.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib.sessions.backends import db
from django.contrib.sessions.backends.base import VALID_KEY_CHARS

from core import rows

KEY_LENGTH = 32  # Django's own (SessionBase._get_new_session_key)


def new_key() -> str:
    """A session key: 32 characters of Django's alphabet, each uniform and independent.

    What ``get_random_string(32, VALID_KEY_CHARS)`` draws, from one call to the system's
    random source where it makes one per character (about a tenth of its time).
    """
    number = secrets.randbelow(len(VALID_KEY_CHARS) ** KEY_LENGTH)
    key = []
    for _ in range(KEY_LENGTH):
        number, digit = divmod(number, len(VALID_KEY_CHARS))
        key.append(VALID_KEY_CHARS[digit])
    return "".join(key)


class SessionStore(db.SessionStore):
    """Django's database session store, writing a new session's row once.

    Django's store inserts the row of a new key as soon as the key is drawn (after a query
    that checks the key is free), in a commit of its own, and the session middleware
    updates that row again when the response goes out. Here a new key is drawn without a
    query and without a write; the first :meth:`save` inserts its row, with the signed-in
    data, in whatever transaction is open (``accounts.sessions.start`` calls it inside the
    sign-in's), as one INSERT built once (``core.rows``).
    The middleware's save at the end of the response then writes only if the session
    changed after that, and still sets the cookie.
    """

    _unwritten_key: str | None = None  # drawn by create(), no row yet
    _written: bytes | None = None  # the data as last written, serialized

    def create(self) -> None:
        # A clash of 32 random characters out of 36 with a live key is not a practical
        # event; were it to happen, the insert's unique key refuses it and the sign-in
        # fails whole (its transaction rolls back): no session is ever overwritten.
        self._session_key = self._unwritten_key = new_key()
        if not hasattr(self, "_session_cache"):
            self._session_cache: dict[str, Any] = {}  # a new key has no row to load: never look for one
        self._written = None
        self.modified = True

    def save(self, must_create: bool = False) -> None:
        if self.session_key is None:
            self.create()
        if self.session_key == self._unwritten_key:
            self._insert()
        elif self._written is not None and self._serialized() == self._written:
            return  # written as it is, earlier in this request
        else:
            super().save(must_create=must_create)
        self._written = self._serialized()

    def delete(self, session_key: str | None = None) -> None:
        """Delete a row in one statement, where Django's store reads it first."""
        session_key = session_key or self.session_key
        if session_key:
            self.model.objects.filter(session_key=session_key).delete()

    def _insert(self) -> None:
        # No savepoint of its own (Django's save opens one): the caller's transaction is enough.
        # SessionBase._get_session is Django's own, left out of django-stubs.
        rows.insert(self.create_model_instance(self._get_session(no_load=True)))  # type: ignore[attr-defined]
        self._unwritten_key = None

    def _serialized(self) -> bytes:
        # Compared as serialized, so a nested value changed in place still counts as a change.
        return self.serializer().dumps(self._get_session(no_load=True))  # type: ignore[attr-defined]

