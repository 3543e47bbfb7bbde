"""``python -m bench.stock.seed``: migrate the stock project's database and register what the bench uses.

Run by ``bench.cases`` under ``bench.stock.settings`` against the stock database. Prints one
JSON object: the client-credentials client (id and secret), and an access token of a user
for the bearer view and for introspection.

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
    json.dump({"client_id": application.client_id, "client_secret": secret, "token": token}, sys.stdout)


if __name__ == "__main__":
    main()
