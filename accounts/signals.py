"""Signals other apps listen to, so that accounts never imports them."""

from django.dispatch import Signal

# Sent inside the transaction that ends every session of ``user`` (password change or reset,
# deactivation, deletion), with ``deleting=True`` for a deletion. ``oauth`` revokes the
# user's tokens on it, and on a deletion removes the personal tokens' rows as well.
credentials_revoked = Signal()
