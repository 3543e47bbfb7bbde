"""Authentication: email and password. What a user may do is asked of ``permissions``."""

from __future__ import annotations

from django.contrib.auth.backends import BaseBackend
from django.db.models import Exists, OuterRef

from accounts.models import Passkey, User, normalize_email


class EmailBackend(BaseBackend):
    """Check an email and password, paying for one hash whether or not the account exists."""

    def authenticate(self, request, email: str | None = None, password: str | None = None, **kwargs):
        if email is None or password is None:
            return None
        try:
            # The authenticator app and whether a passkey exists come in the same statement: the
            # sign-in asks for both next (accounts.factors.has_totp and accounts.passkeys.has_passkey
            # read them instead of querying again).
            user = (
                User.objects.select_related("totp_device")
                .annotate(joined_has_passkey=Exists(Passkey.objects.filter(user=OuterRef("pk"))))
                .get(email=normalize_email(email), deleted_at__isnull=True)
            )
        except User.DoesNotExist:
            # Hash anyway, so an unknown email takes as long as a wrong password.
            User().set_password(password)
            return None
        if user.check_password(password) and user.is_active:
            return user
        return None

    def get_user(self, user_id):
        try:
            user = User.objects.get(pk=user_id)
        except (User.DoesNotExist, ValueError):
            return None
        return user if user.is_active and not user.is_deleted else None
