"""Which addresses a shop may have, and a connection that goes only to the address checked (R-SEC-1).

Role in ``platforms/``: ``http.py`` mounts ``ShopAdapter`` on its session, so every request to a
shop, every redirect hop a caller lets ``requests`` follow, and every retry, opens its socket
here. A store's Website URL is typed by a person, and the wizard sends Cartum passwords and
Shopify tokens there at once; without this check the back office would carry those secrets to
its own Redis or database, to the cloud's metadata service, or to any machine of the private
network, and tell from the answers which ports are open.

* ``is_public``: loopback, private, link-local, multicast, reserved, shared (CGNAT) and
  cloud-metadata addresses are not; an IPv6 form that carries an IPv4 address (mapped
  ``::ffff:a.b.c.d``, NAT64 ``64:ff9b::/96``, 6to4 ``2002::/16``) is judged by that address.
* ``resolve`` is the one place names become addresses (tests replace it to play DNS).
* A connection resolves its host once, refuses it when any address is not public, and connects
  to the address it checked: a name cannot answer the check with a public address and the
  connection with a private one (DNS rebinding). The ``Host`` header, TLS SNI and the
  certificate check still use the name, because only the socket's destination changes.
* ``ALLOW_PRIVATE_SHOP_ADDRESSES=1`` turns the check off: the demo's and the tests'
  simulated shops live on loopback.

Through a proxy (``HTTPS_PROXY``) the proxy connects to the shop, not us: the shop's name is
then checked before sending, but the proxy resolves it again, so pinning is the proxy's job.
"""
from __future__ import annotations

import ipaddress
import os
import socket
import sys
from dataclasses import dataclass
from typing import Any, Union

import requests
from requests.adapters import HTTPAdapter
from requests.utils import select_proxy
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util.connection import allowed_gai_family, create_connection

IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]

SETTING = "ALLOW_PRIVATE_SHOP_ADDRESSES"

CLOUD_METADATA = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254",   # AWS, GCP, Azure IMDS, Oracle, DigitalOcean, OpenStack (link-local anyway)
    "169.254.170.2",     # AWS ECS task credentials
    "100.100.100.200",   # Alibaba Cloud (shared address space anyway)
    "168.63.129.16",     # Azure WireServer: a public-looking address that only the VM reaches
    "fd00:ec2::254",     # AWS IMDS over IPv6 (unique local anyway)
))
"""Listed by name although most are in a refused range already: a change to the ranges must
not let one of these through."""

_ALSO_REFUSED = tuple(ipaddress.ip_network(n) for n in (
    "192.0.0.0/24",      # IETF protocol assignments; older Pythons call parts of it global
    "192.88.99.0/24",    # the retired 6to4 relay anycast
))
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def allowed_by_environment() -> bool:
    """True when ``ALLOW_PRIVATE_SHOP_ADDRESSES=1``: for the demo and the tests, never production."""
    return os.environ.get(SETTING, "0").strip() == "1"


def is_public(address: IPAddress) -> bool:
    """True when a shop may live at ``address``: a global unicast address that is not a cloud's
    metadata service."""
    address = _embedded_ipv4(address)
    if address in CLOUD_METADATA or any(address in network for network in _ALSO_REFUSED):
        return False
    if address.is_multicast or address.is_reserved or address.is_unspecified:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.is_site_local:
        return False
    return address.is_global  # False for loopback, private, link-local, shared (100.64/10)


def _embedded_ipv4(address: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 form stands for, so ``::ffff:127.0.0.1`` is judged as 127.0.0.1."""
    if isinstance(address, ipaddress.IPv4Address):
        return address
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:  # an IPv6-only host reaches IPv4 shops through DNS64/NAT64
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` has, in the order to try them; raises ``socket.gaierror``.

    The only name lookup for shops; tests replace it to play DNS without a DNS server.
    """
    found = socket.getaddrinfo(host.strip("[]"), port, allowed_gai_family(), socket.SOCK_STREAM)
    return list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in found))


def connect(address: IPAddress, port: int, timeout: Any, source_address: Any,
            socket_options: Any) -> socket.socket:
    """Open the socket to an address already checked (a seam the tests watch)."""
    return create_connection((str(address), port), timeout, source_address=source_address,
                             socket_options=socket_options)


class ForbiddenAddress(Exception):
    """``host`` has an address shops may not have. For the log only: the user is told what an
    unreachable shop tells (so the wizard cannot map the private network)."""

    def __init__(self, host: str, address: IPAddress) -> None:
        self.host, self.address = host, address
        super().__init__(f"{host} has the address {address}, which is not public")


@dataclass(frozen=True)
class AddressPolicy:
    """Where requests to shops may go. ``allow_private`` is ``ALLOW_PRIVATE_SHOP_ADDRESSES``."""

    allow_private: bool = False

    def addresses(self, host: str, port: int) -> list[IPAddress]:
        """``host``'s addresses, resolved once; ForbiddenAddress when any is not public.

        Any, not all: a name with one public and one private address is a rebinding trick or a
        misconfiguration, and either way we would not know which one we end up talking to."""
        found = resolve(host, port)
        if not self.allow_private:
            refused = next((address for address in found if not is_public(address)), None)
            if refused is not None:
                raise ForbiddenAddress(host, refused)
        return found

    def refusal(self, host: str | None, port: int) -> ForbiddenAddress | None:
        """Why a request to ``host`` would be refused, or None (also when it does not resolve:
        then there is nothing to reach)."""
        if self.allow_private or not host:
            return None
        try:
            self.addresses(host, port)
        except ForbiddenAddress as refused:
            return refused
        except (OSError, UnicodeError):
            return None
        return None


class AddressRefused(requests.ConnectionError):
    """A request refused because the shop's address is not public. A ``ConnectionError``, so
    whoever does not look closer reads it as an unreachable shop, as the user should."""

    def __init__(self, refused: ForbiddenAddress, **kwargs: Any) -> None:
        self.refused = refused
        super().__init__(str(refused), **kwargs)


class _Refused(NewConnectionError):
    """urllib3's side of AddressRefused: raised where the socket would have been opened."""

    def __init__(self, conn: HTTPConnection, refused: ForbiddenAddress) -> None:
        self.refused = refused
        super().__init__(conn, str(refused))


class _CheckedConnection:
    """Mixed into urllib3's connections: open the socket to a checked address only."""

    policy: AddressPolicy

    def _new_conn(self) -> socket.socket:
        conn: Any = self
        try:
            targets = self.policy.addresses(conn._dns_host, conn.port)
        except ForbiddenAddress as refused:
            raise _Refused(conn, refused) from None
        except socket.gaierror as error:
            raise NameResolutionError(conn.host, conn, error) from error
        failure: Exception | None = None
        for address in targets:  # as urllib3 does: the next address when one fails
            try:
                sock = connect(address, conn.port, conn.timeout, conn.source_address, conn.socket_options)
            except socket.timeout:
                failure = ConnectTimeoutError(
                    conn, f"Connection to {conn.host} timed out. (connect timeout={conn.timeout})")
            except OSError as error:
                failure = NewConnectionError(conn, f"Failed to establish a new connection: {error}")
            else:
                sys.audit("http.client.connect", conn, conn.host, conn.port)
                return sock
        raise failure or NewConnectionError(conn, "The name has no address.")


class ShopAdapter(HTTPAdapter):
    """``requests``' adapter whose connections go only where ``policy`` allows (see module)."""

    def __init__(self, policy: AddressPolicy, **kwargs: Any) -> None:
        self.policy = policy
        plain = type("ShopHTTPConnection", (_CheckedConnection, HTTPConnection), {"policy": policy})
        secure = type("ShopHTTPSConnection", (_CheckedConnection, HTTPSConnection), {"policy": policy})
        self._pool_classes = {
            "http": type("ShopHTTPConnectionPool", (HTTPConnectionPool,), {"ConnectionCls": plain}),
            "https": type("ShopHTTPSConnectionPool", (HTTPSConnectionPool,), {"ConnectionCls": secure}),
        }
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = self._pool_classes

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        if select_proxy(request.url, kwargs.get("proxies")):
            self._check_before_proxy(request)
        try:
            return super().send(request, *args, **kwargs)
        except requests.ConnectionError as error:
            refused = _refusal_in(error)
            if refused is None:
                raise
            raise AddressRefused(refused, request=request) from None

    def _check_before_proxy(self, request: requests.PreparedRequest) -> None:
        parts = requests.utils.urlparse(request.url)
        refused = self.policy.refusal(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
        if refused is not None:
            raise AddressRefused(refused, request=request)


def _refusal_in(error: requests.ConnectionError) -> ForbiddenAddress | None:
    reason = getattr(error.args[0], "reason", None) if error.args else None
    return reason.refused if isinstance(reason, _Refused) else None


def shop_session(policy: AddressPolicy) -> requests.Session:
    """A ``requests.Session`` whose every connection passes ``policy``."""
    session = requests.Session()
    for prefix in ("http://", "https://"):
        session.mount(prefix, ShopAdapter(policy))
    return session
