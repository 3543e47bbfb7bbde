"""Signals other apps listen to, so that accounts never imports them."""

from django.dispatch import Signal

# Sent inside the transaction that ends every session of ``user`` (password change or reset,
# deactivation, deletion). ``oauth`` revokes the user's tokens on it.
credentials_revoked = Signal()
