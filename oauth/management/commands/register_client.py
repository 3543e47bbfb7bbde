"""python manage.py register_client NAME --type ... --grant ... --scopes "..." [...]"""

from __future__ import annotations

import json

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from oauth.registration import GRANTS, register_client


class Command(BaseCommand):
    help = "Register an OAuth client with the scopes it may ask for. Prints its id (and secret, once)."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--type", required=True, choices=["public", "confidential"], dest="client_type")
        parser.add_argument("--grant", required=True, choices=list(GRANTS))
        parser.add_argument("--redirect-uri", action="append", default=[], dest="redirect_uris")
        parser.add_argument("--post-logout-redirect-uri", action="append", default=[], dest="post_logout_redirect_uris")
        parser.add_argument("--scopes", required=True, help='Space-separated, e.g. "openid orders:read"')
        parser.add_argument("--role", default="")
        parser.add_argument("--region", default="")
        parser.add_argument("--client-id", default=None)
        parser.add_argument("--skip-consent", action="store_true")
        parser.add_argument("--introspect", action="store_true")

    def handle(self, *args, name, client_type, grant, scopes, **options):
        try:
            registered = register_client(
                name=name,
                client_type=client_type,
                grant=grant,
                scopes=scopes.split(),
                redirect_uris=options["redirect_uris"],
                post_logout_redirect_uris=options["post_logout_redirect_uris"],
                role=options["role"],
                region=options["region"],
                client_id=options["client_id"],
                skip_consent=options["skip_consent"],
                introspect=options["introspect"],
            )
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from None
        self.stdout.write(json.dumps({"client_id": registered.client_id, "client_secret": registered.client_secret}))
