"""Per-IP throttle buckets: IPv4 addresses whole, IPv6 addresses by their /64."""

from __future__ import annotations

import ipaddress

from hypothesis import given, strategies as st

from accounts.net import throttle_key

ipv6 = (
    st.integers(min_value=0, max_value=2**128 - 1).map(ipaddress.IPv6Address).filter(lambda ip: ip.ipv4_mapped is None)
)
interface_id = st.integers(min_value=0, max_value=2**64 - 1)


@given(ipv6, interface_id, interface_id)
def test_two_addresses_in_one_64_share_a_bucket(address, first, second):
    prefix = int(address) >> 64 << 64
    a, b = str(ipaddress.IPv6Address(prefix | first)), str(ipaddress.IPv6Address(prefix | second))
    assert throttle_key(a) == throttle_key(b)


@given(ipv6, ipv6)
def test_addresses_in_different_64s_never_share_a_bucket(a, b):
    if int(a) >> 64 != int(b) >> 64:
        assert throttle_key(str(a)) != throttle_key(str(b))


@given(
    st.integers(min_value=0, max_value=2**32 - 1).map(ipaddress.IPv4Address),
    st.integers(min_value=0, max_value=2**32 - 1),
)
def test_ipv4_addresses_are_buckets_of_their_own_and_mapped_ipv6_is_the_same_bucket(address, other):
    mapped = f"::ffff:{address}"
    assert throttle_key(str(address)) == throttle_key(mapped) == str(address)
    if other != int(address):
        assert throttle_key(str(ipaddress.IPv4Address(other))) != throttle_key(str(address))


def test_the_bucket_is_the_64_in_its_usual_spelling():
    assert throttle_key("2001:DB8:0:1:aaaa::1") == "2001:db8:0:1::/64"
    assert throttle_key("not an address") == "not an address"
