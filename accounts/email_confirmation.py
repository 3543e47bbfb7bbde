"""Confirming that a user controls their email address (``email_verified`` in OIDC)."""

from __future__ import annotations

from django.conf import settings
from django.core import signing
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse

from accounts import mail
from accounts.models import User

SALT = "accounts.email-confirmation"
MAX_AGE = 3 * 24 * 60 * 60


def make_token(user: User) -> str:
    """A signed token naming the user and the address; it stops working if the address changes."""
    return signing.dumps({"user": str(user.pk), "email": user.email}, salt=SALT)


def user_for_token(token: str) -> User | None:
    try:
        data = signing.loads(token, salt=SALT, max_age=MAX_AGE)
    except signing.BadSignature:
        return None
    user = User.objects.filter(pk=data.get("user"), deleted_at__isnull=True, is_active=True).first()
    if user is None or user.email != data.get("email"):
        return None
    return user


def send_confirmation(user: User) -> None:
    """Email a confirmation link, after the response (see accounts/mail.py)."""
    mail.send_later(confirmation_mail, user_id=str(user.pk))


def confirmation_mail(*, user_id: str) -> None:
    """The mail task: a link for the account's current address, from PUBLIC_ORIGIN (never the Host header)."""
    user = User.objects.filter(pk=user_id, deleted_at__isnull=True, is_active=True, email_verified=False).first()
    if user is None:
        return  # confirmed, deactivated or deleted in the meantime
    link = settings.PUBLIC_ORIGIN + reverse("accounts:email_confirm", args=[make_token(user)])
    body = render_to_string("accounts/email/confirm_email.txt", {"user": user, "link": link})
    send_mail("Confirm your email address", body, None, [user.email])


def confirm(user: User) -> None:
    if not user.email_verified:
        user.email_verified = True
        user.save(update_fields=["email_verified"])
