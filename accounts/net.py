"""What a request says about where it comes from."""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    """The client's address: REMOTE_ADDR, or the entry our own trusted proxies added.

    With ``TRUSTED_PROXY_COUNT = n`` the n-th address from the right of
    X-Forwarded-For is the one the outermost trusted proxy saw; everything left of
    it was written by the client and is ignored. With 0, the header is ignored.
    """
    remote = request.META.get("REMOTE_ADDR", "") or "0.0.0.0"
    count = settings.TRUSTED_PROXY_COUNT
    if count <= 0:
        return remote
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    if len(hops) < count:
        return remote
    candidate = hops[-count]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote


def throttle_key(address: str) -> str:
    """The bucket an address counts in: an IPv4 address whole, an IPv6 address by its /64.

    One IPv6 subscriber is given a /64 (often more): keyed on the full address, a single
    client would have 2^64 buckets. An IPv4-mapped IPv6 address (``::ffff:192.0.2.1``) is
    the IPv4 address it maps. Anything unparsable is its own bucket.
    """
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(ip) >> 64 << 64, 64)))
    return str(ip)


def client_ip_key(request: HttpRequest) -> str:
    """The client's per-IP throttle bucket (see :func:`throttle_key`): use it for every per-IP limit."""
    return throttle_key(client_ip(request))


def user_agent(request: HttpRequest) -> str:
    return request.META.get("HTTP_USER_AGENT", "")[:512]
