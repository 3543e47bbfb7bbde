"""Browser sessions: start, list, touch and end them, on the server side."""

from __future__ import annotations

import time
from importlib import import_module

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone

from accounts.models import User, UserSession
from accounts.net import client_ip, user_agent
from core import rows

AUTH_AT = "auth_at"  # when this session signed in (the absolute timeout, OIDC auth_time)
SEEN_AT = "seen_at"
VERIFIED_AT = "verified_at"  # when the user last proved who they are: sign-in or step-up
AMR = "amr"  # how: the methods of that authentication ("pwd", "totp", "recovery_code", "passkey", "uv")


def _store(session_key: str):
    return import_module(settings.SESSION_ENGINE).SessionStore(session_key=session_key)


def start(request: HttpRequest, user: User, methods: list[str]) -> UserSession:
    """Record the session that was just signed in (its key already rotated), and write it."""
    now = time.time()
    request.session[AUTH_AT] = now
    request.session[SEEN_AT] = now
    request.session[VERIFIED_AT] = now
    request.session[AMR] = list(methods)
    request.session.save()  # in the sign-in's transaction; accounts.session_store writes it once
    session_key = request.session.session_key
    assert session_key is not None, "save() gives the session its key"
    user_session = UserSession(
        user=user, session_key=session_key, user_agent=user_agent(request), ip=client_ip(request)
    )
    rows.insert(user_session)  # in the sign-in's transaction too
    return user_session


def rekey(old_key: str | None, new_key: str | None) -> None:
    """Follow a session whose key was rotated while signed in (password change)."""
    if old_key and new_key and old_key != new_key:
        UserSession.objects.filter(session_key=old_key).update(session_key=new_key)


def touch_interval() -> float:
    return min(60.0, settings.SESSION_IDLE_TIMEOUT / 10)


def expired_reason(request: HttpRequest, now: float) -> str | None:
    """Why this signed-in session has ended, or None while it is alive."""
    auth_at = request.session.get(AUTH_AT)
    seen_at = request.session.get(SEEN_AT)
    if not isinstance(auth_at, (int, float)) or not isinstance(seen_at, (int, float)):
        return "session without sign-in time"
    if now - auth_at > settings.SESSION_ABSOLUTE_TIMEOUT:
        return "absolute timeout"
    if now - seen_at > settings.SESSION_IDLE_TIMEOUT:
        return "idle timeout"
    return None


def touch(request: HttpRequest, now: float) -> None:
    """Slide the idle timeout; writes at most once per touch interval."""
    if now - request.session[SEEN_AT] < touch_interval():
        return
    request.session[SEEN_AT] = now
    UserSession.objects.filter(session_key=request.session.session_key).update(
        last_seen_at=timezone.now(), ip=client_ip(request)
    )


def end(user_session: UserSession) -> None:
    """End one session: its server-side data goes, so a replayed cookie is anonymous."""
    _store(user_session.session_key).delete()
    user_session.delete()


def end_all(user: User, *, except_key: str | None = None) -> int:
    """End every session of the user, or every one but the current."""
    sessions = UserSession.objects.filter(user=user)
    if except_key:
        sessions = sessions.exclude(session_key=except_key)
    ended = 0
    for user_session in sessions:
        end(user_session)
        ended += 1
    return ended


def forget(session_key: str | None) -> None:
    """Drop the record of a session that was just signed out or flushed."""
    if session_key:
        UserSession.objects.filter(session_key=session_key).delete()


def forget_on_logout(sender, request, user, **kwargs) -> None:
    """Signal receiver for ``user_logged_out``: the session is about to be flushed."""
    if request is not None and hasattr(request, "session"):
        forget(request.session.session_key)
