"""Deny by default: every route is declared, and undeclared access is refused."""

from __future__ import annotations

import re
import uuid

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from permissions.access import ACCESS_TABLE, route_for


def iter_routes(resolver: URLResolver | None = None, namespace: str = "", prefix: str = ""):
    """Yield (view name, example path) for every URL pattern of the site."""
    resolver = resolver or get_resolver()
    for pattern in resolver.url_patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from iter_routes(pattern, inner, route)
        elif isinstance(pattern, URLPattern):
            name = f"{namespace}{pattern.name}" if pattern.name else f"{namespace}<unnamed {route}>"
            yield name, example_path(route)


def example_path(route: str) -> str:
    """A concrete path for a route: converters filled in, regex anchors removed."""
    route = route.replace("^", "").replace("/?$", "/").replace("$", "").replace("\\.", ".")
    route = re.sub(r"<uuid:\w+>", str(uuid.uuid4()), route)
    route = re.sub(r"<int:\w+>", "1", route)
    return "/" + re.sub(r"<(str:|path:)?\w+>", "x", route)


ROUTE_PATHS = dict(iter_routes())


def test_every_route_is_in_the_access_table():
    missing = sorted(name for name in ROUTE_PATHS if route_for(name) is None)
    assert missing == [], f"routes missing from permissions/access.py: {missing}"


def test_the_table_names_only_existing_routes():
    stale = [route.name for route in ACCESS_TABLE if not route.name.endswith(":*") and route.name not in ROUTE_PATHS]
    assert stale == []


def _example_path(route) -> str:
    return "/admin/" if route.name == "admin:*" else ROUTE_PATHS[route.name]


@pytest.mark.django_db
@pytest.mark.parametrize("route", [r for r in ACCESS_TABLE if not r.is_public], ids=lambda r: r.name)
def test_anonymous_is_refused_everywhere_not_public(client, route):
    path = _example_path(route)
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
    response = client.get(_example_path(route))
    if route.name == "admin-login":
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    else:
        assert response.status_code == 200
