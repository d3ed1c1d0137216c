"""R-SEC-1: which addresses a shop may have, without any network (names are resolved by a
stand-in for DNS at ``addresses.resolve``, the one place the product turns names into addresses)."""
from __future__ import annotations

import ipaddress
import socket

import pytest

from webapp.platforms import addresses
from webapp.platforms.addresses import AddressPolicy, ForbiddenAddress, is_public

REFUSED = [
    "127.0.0.1", "127.8.9.10", "0.0.0.0", "::1", "::", "::ffff:127.0.0.1", "::ffff:10.0.0.1",
    "10.1.2.3", "172.16.0.1", "172.31.255.254", "192.168.1.1", "169.254.169.254", "169.254.170.2",
    "100.64.0.1", "100.100.100.200", "168.63.129.16", "192.0.0.8", "198.18.0.1", "240.0.0.1",
    "255.255.255.255", "224.0.0.1", "239.255.255.250", "fd00::1", "fd00:ec2::254", "fc00::1",
    "fe80::1", "fec0::1", "ff02::1", "ff05::2", "2001:db8::1", "::7f00:1",
    "2002:7f00:1::1", "2002:a00:1::1", "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe",
]
PUBLIC = ["8.8.8.8", "93.184.215.14", "2606:4700::1111", "2a00:1450:4001::200e", "64:ff9b::808:808",
          "2002:808:808::1"]


@pytest.mark.parametrize("text", REFUSED)
def test_R_SEC_1_loopback_private_link_local_multicast_reserved_and_metadata_are_not_public(text):
    """Every refused range, in IPv4 and IPv6, mapped (::ffff:), NAT64 and 6to4 forms included.
    Choice: the shared range 100.64/10 (CGNAT, Alibaba's metadata) and Azure's 168.63.129.16
    are refused too."""
    assert not is_public(ipaddress.ip_address(text))


@pytest.mark.parametrize("text", PUBLIC)
def test_R_SEC_1_global_unicast_addresses_are_public(text):
    """A shop on the internet stays reachable, also through NAT64 or 6to4 (IPv6-only hosts)."""
    assert is_public(ipaddress.ip_address(text))


@pytest.fixture
def dns(monkeypatch):
    """A stand-in for DNS: the names it knows, gaierror for the rest."""
    table: dict[str, list[str]] = {}

    def resolve(host, port):
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [ipaddress.ip_address(a) for a in table[host]]

    monkeypatch.setattr(addresses, "resolve", resolve)
    return table


def test_R_SEC_1_a_name_is_judged_by_every_address_it_resolves_to(dns):
    """A name with one private address among public ones is refused: we could not tell which
    one a connection would reach."""
    dns.update({"shop.example": ["8.8.8.8"], "mixed.example": ["8.8.8.8", "10.0.0.5"],
                "inside.example": ["192.168.0.10"]})
    policy = AddressPolicy()
    assert policy.addresses("shop.example", 443) == [ipaddress.ip_address("8.8.8.8")]
    for name, address in (("mixed.example", "10.0.0.5"), ("inside.example", "192.168.0.10")):
        with pytest.raises(ForbiddenAddress) as refused:
            policy.addresses(name, 443)
        assert refused.value.address == ipaddress.ip_address(address) and refused.value.host == name
    assert policy.refusal("inside.example", 443) is not None
    assert policy.refusal("unknown.example", 443) is None  # nothing there to reach


def test_R_SEC_1_the_setting_lets_private_addresses_through(dns):
    """ALLOW_PRIVATE_SHOP_ADDRESSES=1 (the demo and the tests' simulators)."""
    dns["inside.example"] = ["127.0.0.1"]
    assert AddressPolicy(allow_private=True).addresses("inside.example", 80) == [ipaddress.ip_address("127.0.0.1")]
    assert AddressPolicy(allow_private=True).refusal("inside.example", 80) is None


def test_R_SEC_1_the_setting_is_off_unless_set_to_1(monkeypatch):
    """Off by default; only "1" turns it on (like SESSION_COOKIE_SECURE)."""
    monkeypatch.delenv(addresses.SETTING, raising=False)
    assert not addresses.allowed_by_environment()
    for value, allowed in (("0", False), ("yes", False), ("1", True)):
        monkeypatch.setenv(addresses.SETTING, value)
        assert addresses.allowed_by_environment() is allowed


def test_R_SEC_1_the_app_reads_the_same_setting_off_by_default(monkeypatch, tmp_path):
    """The app's config (which the web process and the workers hand to PlatformHttp) is off
    unless ALLOW_PRIVATE_SHOP_ADDRESSES=1."""
    from webapp import config

    overrides = {"SECRET_KEY": "x", "INSTANCE_PATH": str(tmp_path)}
    monkeypatch.delenv(addresses.SETTING, raising=False)
    assert config.load(overrides)["ALLOW_PRIVATE_SHOP_ADDRESSES"] is False
    monkeypatch.setenv(addresses.SETTING, "1")
    assert config.load(overrides)["ALLOW_PRIVATE_SHOP_ADDRESSES"] is True
