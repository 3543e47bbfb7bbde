"""Seeding the services tests' database, run inside ``manage.py shell`` of the production profile.

Reads ``{"users": [{"email", "role", "region", "name", "password"}, ...]}`` as JSON on
standard input (passwords never on a command line) and creates each user through the same
service ``manage.py create_user`` uses. Prints ``{email: id}`` as JSON on the last line.
"""

from __future__ import annotations

import json
import sys


def main() -> None:
    from accounts import services

    spec = json.load(sys.stdin)
    created = {}
    for user in spec["users"]:
        created[user["email"]] = str(
            services.user_create(
                email=user["email"],
                password=user["password"],
                role=user["role"],
                region=user.get("region", ""),
                name=user.get("name", ""),
            ).pk
        )
    sys.stdout.write("\n" + json.dumps(created) + "\n")
