"""Deny by default: every route is declared, and undeclared access is refused."""

from __future__ import annotations

import pytest

from permissions.access import ACCESS_TABLE, route_for
from tests.support.routes import ROUTE_PATHS, route_example_path


def test_every_route_is_in_the_access_table():
    missing = sorted(name for name in ROUTE_PATHS if route_for(name) is None)
    assert missing == [], f"routes missing from permissions/access.py: {missing}"


def test_the_table_names_only_existing_routes():
    stale = [route.name for route in ACCESS_TABLE if not route.name.endswith(":*") and route.name not in ROUTE_PATHS]
    assert stale == []


@pytest.mark.django_db
@pytest.mark.parametrize("route", [r for r in ACCESS_TABLE if not r.is_public], ids=lambda r: r.name)
def test_anonymous_is_refused_everywhere_not_public(client, route):
    path = route_example_path(route)
    method = route.methods[0]
    response = client.generic(method, path, content_type="application/json", data="{}")
    if route.audience == "token":
        assert response.status_code == 401, (path, response.status_code)
        assert response["WWW-Authenticate"].startswith("Bearer")
    elif route.api:
        assert response.status_code == 401, (path, response.status_code)
        assert response.json()["code"] == "NOT_AUTHENTICATED"
        assert response["WWW-Authenticate"].startswith("Bearer")
    else:
        assert response.status_code == 302, (path, response.status_code)
        assert "/login/" in response["Location"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "route", [r for r in ACCESS_TABLE if r.is_public and r.methods == ("GET",)], ids=lambda r: r.name
)
def test_public_pages_answer_anonymous_callers(client, route):
    response = client.get(route_example_path(route))
    if route.name == "admin-login":
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    else:
        assert response.status_code == 200
