"""Every route of the site with a concrete example path, for tests that walk the access table."""

from __future__ import annotations

import re
import uuid

from django.urls import URLPattern, URLResolver, get_resolver


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


def route_example_path(route) -> str:
    """An example path for an access-table entry (``admin:*`` stands for the whole admin)."""
    return "/admin/" if route.name == "admin:*" else ROUTE_PATHS[route.name]
