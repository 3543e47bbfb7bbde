"""``python -m bench.stock.seed [POOL]``: migrate the stock project's database and register what the bench uses.

Run by ``bench.cases`` under ``bench.stock.settings`` against the stock database. Prints one
JSON object: the client-credentials client (id and secret), an access token of a user for
the bearer view and for introspection, and for a public client (authorization code with
PKCE S256, as DOT requires by default) ``POOL`` single-use codes and ``POOL`` refresh tokens,
stored as DOT stores them, with the PKCE verifier of the codes.

The client is registered with ``hash_client_secret=False``. DOT's default hashes a client
secret with the first password hasher (Django's PBKDF2, 1,000,000 iterations, hundreds of ms
per request): this project's HMAC hasher would then look ever so many times faster for a
reason no one would ship. Unhashed, the stock side compares the secret as sent, which is
cheaper than this project's HMAC: the comparison favours the stock side.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from datetime import timedelta

import django

REDIRECT_URI = "http://127.0.0.1:8765/callback"


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.stock.settings")
    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.utils import timezone
    from oauth2_provider.models import AccessToken, Application, set_token_value

    call_command("migrate", interactive=False, verbosity=0)
    user = get_user_model().objects.create_user("bench-stock", password=None)
    secret = secrets.token_urlsafe(48)
    application = Application.objects.create(
        name="Bench stock service",
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
        client_secret=secret,
        hash_client_secret=False,
    )
    token = secrets.token_urlsafe(30)
    access_token = AccessToken(user=user, application=application, scope="read write",
                               expires=timezone.now() + timedelta(days=1))
    set_token_value(access_token, token)  # as DOT's validator stores it, with its defaults
    access_token.save()
    pool = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    public = Application.objects.create(
        name="Bench stock public client",
        client_type=Application.CLIENT_PUBLIC,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris=REDIRECT_URI,
    )
    codes, refresh, verifier = seed_pools(user, public, pool)
    json.dump({"client_id": application.client_id, "client_secret": secret, "token": token,
               "public_client_id": public.client_id, "codes": codes, "refresh_tokens": refresh,
               "verifier": verifier}, sys.stdout)


def seed_pools(user, application, count: int) -> tuple[list[str], list[str], str]:
    """Codes (with their PKCE challenge) and refresh tokens (with their access token), in bulk."""
    import base64
    import hashlib

    from django.utils import timezone
    from oauth2_provider.models import AccessToken, Grant, RefreshToken, set_token_value

    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    expires = timezone.now() + timedelta(hours=2)
    codes = [secrets.token_urlsafe(24) for _ in range(count)]
    Grant.objects.bulk_create(
        [Grant(user=user, code=code, application=application, expires=expires, redirect_uri=REDIRECT_URI,
               scope="read write", code_challenge=challenge, code_challenge_method="S256") for code in codes],
        batch_size=2000,
    )
    access_tokens = []
    for _ in range(count):
        access_token = AccessToken(user=user, application=application, scope="read write", expires=expires)
        set_token_value(access_token, secrets.token_urlsafe(30))
        access_tokens.append(access_token)
    access_tokens = AccessToken.objects.bulk_create(access_tokens, batch_size=2000)
    refresh, rows = [secrets.token_urlsafe(30) for _ in range(count)], []
    for raw, access_token in zip(refresh, access_tokens, strict=True):
        row = RefreshToken(user=user, application=application, access_token=access_token)
        set_token_value(row, raw)
        rows.append(row)
    RefreshToken.objects.bulk_create(rows, batch_size=2000)
    return codes, refresh, verifier


if __name__ == "__main__":
    main()
