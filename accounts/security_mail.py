"""Mail to the account's owner when its second factors change: a task run after the response.

A factor added or removed, or a recovery code used, is something the owner must hear of
even when it was not them: the mail says what happened and where to look.
"""

from __future__ import annotations

from django.conf import settings
from django.core.mail import EmailMessage
from django.template.loader import render_to_string

from accounts.models import User

CHANGES = {
    "totp_added": "An authenticator app was added to your account",
    "totp_removed": "An authenticator app was removed from your account",
    "passkey_added": "A passkey was added to your account",
    "passkey_removed": "A passkey was removed from your account",
    "recovery_code_used": "A recovery code was used to sign in to your account",
}


def factor_mail(*, user_id: str, change: str) -> None:
    """Tell an active account's owner about a change to its second factors."""
    user = User.objects.filter(pk=user_id, is_active=True, deleted_at__isnull=True).first()
    if user is None or change not in CHANGES:
        return
    context = {"user": user, "what": CHANGES[change], "security_url": f"{settings.PUBLIC_ORIGIN}/accounts/security/"}
    body = render_to_string("accounts/email/factor_changed.txt", context)
    EmailMessage(CHANGES[change], body, settings.DEFAULT_FROM_EMAIL, [user.email]).send()
