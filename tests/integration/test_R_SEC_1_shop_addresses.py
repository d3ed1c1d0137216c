"""R-SEC-1: requests to shops go only to public addresses, and a refusal reads like an
unreachable shop.

Everything stays on loopback. The internet is played by ``network``: a stand-in for DNS at
``addresses.resolve`` (the product's one name lookup), the loopback alias 127.0.0.2 counted as
a public address (the "shop on the internet"), and a watch on ``addresses.connect`` that records
every socket the product opens and refuses any that is not loopback, so no test can send a
packet to a private or public network even if the product were wrong. Listeners on 127.0.0.1
and ::1 witness, at the operating system's level, that nothing connected to them.

Each test switches the setting off for itself (the session turns ALLOW_PRIVATE_SHOP_ADDRESSES
on for the simulators, see the root conftest.py).
"""
from __future__ import annotations

import html
import ipaddress
import json
import re
import shutil
import socket
import ssl
import subprocess
import sys
import threading
from contextlib import contextmanager

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

import simulators
from simulators.woocommerce import CONSUMER_KEY, CONSUMER_SECRET
from tests.integration.conftest import post, sign_in
from tests.support import factories
from tests.support.services import free_port
from tests.support.simulators import serving
from webapp.extensions import db
from webapp.models import Store
from webapp.platforms import addresses
from webapp.platforms.base import NotEncrypted, StoreMoved, Unreachable
from webapp.platforms.cartum import CartumPlatform
from webapp.platforms.http import HttpSettings, PlatformHttp
from webapp.platforms.shopify import ShopifyPlatform
from webapp.platforms.woocommerce import WooCommercePlatform
from webapp.store_check_messages import wizard_message

STAND_IN = "127.0.0.2"
"""The public shop's address: loopback, counted as public by ``network``."""
FAST = HttpSettings(connect_timeout=1.0, read_timeout=2.5, attempts=2, backoff=0.02, max_backoff=0.05,
                    max_retry_wait=1.0, short_retry_after=0.5, max_budget_wait=2.0)


# --- the world on loopback ------------------------------------------------------------------

class Network:
    """DNS answers (``names``: a list of addresses, or a function giving the next list), the
    names looked up, and every address the product opened a socket to."""

    def __init__(self):
        self.names: dict = {}
        self.lookups: list[str] = []
        self.sockets: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = []


@pytest.fixture(autouse=True)
def network(monkeypatch):
    real_resolve, real_is_public, real_connect = addresses.resolve, addresses.is_public, addresses.connect
    world = Network()

    def resolve(host, port):
        world.lookups.append(host)
        if host in world.names:
            answer = world.names[host]
            return [ipaddress.ip_address(a) for a in (answer() if callable(answer) else answer)]
        if host == "localhost" or _is_literal(host):
            return real_resolve(host, port)  # /etc/hosts or the literal itself: no DNS traffic
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    def connect(address, port, *args):
        world.sockets.append(address)
        if not address.is_loopback:
            raise ConnectionRefusedError("the tests open sockets on loopback only")
        return real_connect(address, port, *args)

    monkeypatch.setattr(addresses, "resolve", resolve)
    monkeypatch.setattr(addresses, "connect", connect)
    monkeypatch.setattr(addresses, "is_public",
                        lambda address: address == ipaddress.ip_address(STAND_IN) or real_is_public(address))
    return world


def _is_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


class Listener:
    """A private service (say Redis) on 127.0.0.1 and, where the machine has IPv6, on ::1, on
    one port. Nothing accepts: a connection waits in the backlog, where ``connected`` finds it."""

    def __init__(self, port: int = 0):
        self.sockets = [self._listen(socket.AF_INET, "127.0.0.1", port)]
        self.port = self.sockets[0].getsockname()[1]
        try:
            self.sockets.append(self._listen(socket.AF_INET6, "::1", self.port))
        except OSError:
            pass  # no IPv6 here: [::1] is refused all the same, with no witness

    @staticmethod
    def _listen(family, host, port):
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.bind((host, port))
        sock.listen(16)
        sock.setblocking(False)
        return sock

    def connected(self) -> int:
        count = 0
        for sock in self.sockets:
            while True:
                try:
                    peer, _ = sock.accept()
                except BlockingIOError:
                    break
                peer.close()
                count += 1
        return count

    def close(self):
        for sock in self.sockets:
            sock.close()


@pytest.fixture
def private_service():
    listener = Listener()
    yield listener
    listener.close()


class StandInShop:
    """The public shop at 127.0.0.2: answers /ok, redirects /redirect?to=..., and records the
    Host header and TLS name (SNI) of every request."""

    def __init__(self):
        self.hosts: list[str] = []
        self.server_names: list[str | None] = []

    @Request.application
    def __call__(self, request: Request) -> Response:
        self.hosts.append(request.headers.get("Host", ""))
        if request.path == "/redirect":
            return Response(status=302, headers={"Location": request.args["to"]})
        return Response(json.dumps({"ok": True}), content_type="application/json")


@contextmanager
def running(app, host: str = STAND_IN, port: int = 0, ssl_context=None):
    server = make_server(host, port, app, threaded=True, ssl_context=ssl_context)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def shop():
    app = StandInShop()
    with running(app) as port:
        app.port = port
        yield app


def refused_http() -> PlatformHttp:
    return PlatformHttp(None, FAST, allow_private=False)


def get(http: PlatformHttp, url: str, **kwargs):
    return http.request("GET", url, budget_key="r-sec-1", rate="100/second", **kwargs)


def unreachable_message(host: str) -> str:
    """What a shop that cannot be reached reads like (``http._unreachable`` for a failed
    connection); test_R_SEC_1_a_refused_address_reads_like_a_closed_port checks it is."""
    return Unreachable(host=host, reason="connection failed").message


# --- refused before connecting --------------------------------------------------------------

@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "0.0.0.0", "[::1]", "[::ffff:127.0.0.1]"])
def test_R_SEC_1_loopback_in_every_form_is_refused_before_connecting(private_service, network, host):
    """127.0.0.1, localhost, 0.0.0.0 (Linux connects it to loopback), [::1] and the mapped
    [::ffff:127.0.0.1]: no socket is opened; the listener on that port sees no connection."""
    http = refused_http()
    with pytest.raises(Unreachable) as caught:
        get(http, f"http://{host}:{private_service.port}/api/auth/")
    assert caught.value.message == unreachable_message(f"{host}:{private_service.port}")
    assert network.sockets == [] and private_service.connected() == 0


@pytest.mark.parametrize("host", ["10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.100.100.200",
                                  "[fd00::1]", "[fd00:ec2::254]", "[fe80::1]", "224.0.0.1", "[ff02::1]",
                                  "[::ffff:10.0.0.1]", "[64:ff9b::a9fe:a9fe]"])
def test_R_SEC_1_private_link_local_multicast_and_metadata_addresses_are_refused_before_connecting(network, host):
    """Private ranges, link-local, cloud metadata (IPv4 and IPv6), multicast, and IPv6 forms of
    a private IPv4 address: refused with no socket opened."""
    with pytest.raises(Unreachable):
        get(refused_http(), f"http://{host}/latest/meta-data/")
    assert network.sockets == []


def test_R_SEC_1_a_name_that_resolves_to_a_private_address_is_refused(network):
    """The check is on the addresses a name resolves to, not on how the URL looks."""
    network.names["intranet.example"] = ["10.20.30.40"]
    network.names["half.example"] = [STAND_IN, "192.168.7.7"]
    for host in ("intranet.example", "half.example"):
        with pytest.raises(Unreachable) as caught:
            get(refused_http(), f"https://{host}/admin/api/2025-10/shop.json")
        assert caught.value.message == unreachable_message(host)
    assert network.sockets == []


def test_R_SEC_1_through_a_proxy_the_shop_is_still_checked(network, private_service):
    """With HTTPS_PROXY/HTTP_PROXY the proxy opens the shop's connection, not us; the shop's
    name is checked before anything goes to the proxy. Choice: the proxy's own address is the
    operator's, and may be private."""
    network.names["intranet.example"] = ["10.20.30.40"]
    proxy = {"http": f"http://127.0.0.1:{private_service.port}", "https": f"http://127.0.0.1:{private_service.port}"}
    for url in ("http://10.1.2.3/", "https://intranet.example/api/auth/"):
        with pytest.raises(Unreachable):
            get(refused_http(), url, proxies=proxy)
    assert private_service.connected() == 0


def test_R_SEC_1_a_refused_address_reads_like_a_closed_port(private_service):
    """The wizard is no port scanner: an open private port (refused by the rule) and a closed
    one (nothing listens) give the same error, word for word, apart from the port."""
    closed = free_port()
    with pytest.raises(Unreachable) as nothing_there:
        get(PlatformHttp(None, FAST, allow_private=True), f"http://127.0.0.1:{closed}/api/auth/")
    with pytest.raises(Unreachable) as refused:
        get(refused_http(), f"http://127.0.0.1:{private_service.port}/api/auth/")
    assert nothing_there.value.message == unreachable_message(f"127.0.0.1:{closed}")
    assert refused.value.message.replace(str(private_service.port), "PORT") == \
        nothing_there.value.message.replace(str(closed), "PORT")
    assert refused.value.code == nothing_there.value.code == "unreachable"
    assert private_service.connected() == 0


# --- DNS rebinding, Host and TLS ------------------------------------------------------------

def test_R_SEC_1_dns_rebinding_cannot_turn_the_checked_address_into_a_private_one(network):
    """The name answers the check with the public address and any later lookup with 127.0.0.1,
    where a private service listens on the same port: the request reaches the public shop, the
    name is looked up once, and the private service sees nothing."""
    app = StandInShop()
    port, private = _ports_free_on_both()
    with running(app, port=port):
        answers = iter([[STAND_IN]])
        network.names["rebind.example"] = lambda: next(answers, ["127.0.0.1"])
        response = get(refused_http(), f"http://rebind.example:{port}/ok")
    assert response.status_code == 200 and app.hosts == [f"rebind.example:{port}"]
    assert network.lookups.count("rebind.example") == 1
    assert network.sockets == [ipaddress.ip_address(STAND_IN)] and private.connected() == 0
    private.close()


def _ports_free_on_both() -> tuple[int, Listener]:
    for _ in range(20):  # bounded: a port free on 127.0.0.1 is almost always free on 127.0.0.2
        private = Listener()
        try:
            socket.create_server((STAND_IN, private.port)).close()
        except OSError:
            private.close()
            continue
        return private.port, private
    pytest.fail("no port free on both 127.0.0.1 and 127.0.0.2")


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for shop.example (openssl comes with Debian)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    folder = tmp_path_factory.mktemp("tls")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", str(folder / "key.pem"), "-out", str(folder / "cert.pem"), "-days", "2",
                    "-subj", "/CN=shop.example", "-addext", "subjectAltName=DNS:shop.example"],
                   check=True, capture_output=True)
    return folder / "cert.pem", folder / "key.pem"


def test_R_SEC_1_the_pinned_connection_keeps_the_name_for_host_sni_and_the_certificate(network, certificate):
    """Connecting to the checked address changes only the socket's destination: the shop gets
    its name in the Host header and in TLS SNI, and its certificate is checked against the name."""
    cert, key = certificate
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    app = StandInShop()
    context.sni_callback = lambda sock, name, ctx: app.server_names.append(name)
    network.names["shop.example"] = [STAND_IN]
    with running(app, ssl_context=context) as port:
        response = get(refused_http(), f"https://shop.example:{port}/ok", verify=str(cert))
    assert response.status_code == 200
    assert app.server_names == ["shop.example"] and app.hosts == [f"shop.example:{port}"]


# --- redirects ------------------------------------------------------------------------------

def test_R_SEC_1_a_redirect_to_a_private_address_reads_like_an_unreachable_shop(network, shop, private_service):
    """A public shop answering "go to 127.0.0.1:6379" (or to a name inside the network) gives
    the unreachable shop's message, not "redirects to ...", whether the redirect is reported
    (the default) or followed; the private service sees nothing. A redirect to another public
    address is still reported as the shop having moved."""
    network.names.update({"inside.example": ["10.9.8.7"], "moved.example": [STAND_IN]})
    here = f"{STAND_IN}:{shop.port}"
    for target in (f"http://127.0.0.1:{private_service.port}/", "https://inside.example/wp-json/",
                   f"http://[::ffff:127.0.0.1]:{private_service.port}/"):
        for follow in (False, True):
            with pytest.raises(Unreachable) as caught:
                get(refused_http(), f"http://{here}/redirect", params={"to": target}, allow_redirects=follow)
            assert caught.value.message == unreachable_message(here)
    assert private_service.connected() == 0 and set(network.sockets) == {ipaddress.ip_address(STAND_IN)}
    with pytest.raises(StoreMoved) as moved:
        get(refused_http(), f"http://{here}/redirect", params={"to": "https://moved.example/shop"})
    assert moved.value.location == "https://moved.example"


# --- plain http -----------------------------------------------------------------------------

def test_R_SEC_1_a_cartum_password_or_shopify_token_is_not_sent_over_plain_http(network, shop):
    """A public shop at an http:// address: Cartum's login would carry the password and
    Shopify's every request the token in clear, so nothing is sent and the message says to use
    https. The same adapters over https are not refused by this rule."""
    url = f"http://{STAND_IN}:{shop.port}"
    adapters = [CartumPlatform(url, {"login": "manager", "password": "pa55"}, {}, refused_http()),
                ShopifyPlatform(url, {"access_token": "shpat_secret"}, {}, refused_http())]
    for adapter in adapters:
        with pytest.raises(NotEncrypted) as caught:
            adapter.verify()
        assert "https://" in caught.value.message and "unencrypted" in caught.value.message
        assert not caught.value.retryable
    assert shop.hosts == [] and network.sockets == []


def test_R_SEC_1_woocommerce_over_plain_http_is_accepted(network):
    """WooCommerce signs every plain-http request with OAuth 1.0a: the consumer secret never
    travels, so a public WooCommerce shop at an http:// address connects (the store page warns
    that its orders travel unencrypted)."""
    with running(simulators.create_app("woocommerce", orders=3)) as port:
        adapter = WooCommercePlatform(f"http://{STAND_IN}:{port}",
                                      {"consumer_key": CONSUMER_KEY, "consumer_secret": CONSUMER_SECRET},
                                      {}, refused_http())
        adapter.verify()
    assert set(network.sockets) == {ipaddress.ip_address(STAND_IN)}


def test_R_SEC_1_with_the_setting_on_the_simulators_on_loopback_work(network):
    """ALLOW_PRIVATE_SHOP_ADDRESSES=1: Cartum over plain http on 127.0.0.1, as the demo does."""
    with serving("cartum", orders=3) as sim:
        adapter = CartumPlatform(sim.url, {"login": "manager", "password": "cartum-demo"}, {},
                                 PlatformHttp(None, FAST, allow_private=True))
        adapter.verify()
        assert sim.requests()[0]["path"] == "/api/auth/"
    assert network.sockets and all(address.is_loopback for address in network.sockets)


def test_R_SEC_1_the_test_session_turns_the_setting_on_for_the_processes_it_starts():
    """Workers and the launcher that tests start inherit the setting from the environment,
    which is the product's default (``PlatformHttp()`` without ``allow_private``)."""
    assert PlatformHttp().addresses.allow_private
    code = f"import os; print(os.environ.get({addresses.SETTING!r}))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "1", result.stderr


# --- the wizard and the store page ----------------------------------------------------------

STEP_ONE = {"enabled": "y", "identify_by": "name", "managers": "all"}


def step_one(world, platform: str, url: str, **credentials) -> dict:
    return {**STEP_ONE, "platform": platform, "name": f"{platform} shop", "url": url,
            "location_id": world.main.id, "order_type_id": world.repair.id, **credentials}


def connect_error(response) -> str:
    match = re.search(r'id="connect-error">(.*?)</div>', response.get_data(as_text=True), re.S)
    assert match, response.get_data(as_text=True)
    return html.unescape(match.group(1)).strip()


WOO = {"credential_consumer_key": CONSUMER_KEY, "credential_consumer_secret": CONSUMER_SECRET}


def test_R_SEC_1_the_wizard_reads_the_same_for_a_simulator_and_a_closed_port(app, client, world, redis):
    """With the setting off (production), a shop address on loopback where a WooCommerce
    simulator answers and one where nothing listens give the same message on step 1, and the
    simulator receives no request."""
    app.config["ALLOW_PRIVATE_SHOP_ADDRESSES"] = False
    sign_in(client, "admin")
    closed = free_port()
    with serving("woocommerce", orders=3) as sim:
        answered = post(client, "/settings/stores/new", step_one(world, "woocommerce", sim.url, **WOO))
        nothing = post(client, "/settings/stores/new",
                       step_one(world, "woocommerce", f"http://127.0.0.1:{closed}", **WOO))
        assert sim.requests() == []
    sim_port = sim.url.rsplit(":", 1)[1]
    assert answered.status_code == nothing.status_code == 422
    unreachable = Unreachable(host=f"127.0.0.1:{sim_port}", reason="connection failed")
    assert connect_error(answered) == wizard_message(unreachable, "woocommerce", {})  # the wizard's wording
    assert connect_error(answered).replace(sim_port, "PORT") == connect_error(nothing).replace(str(closed), "PORT")


def test_R_SEC_1_the_wizard_refuses_a_cartum_password_over_plain_http(app, client, world, redis):
    """Setting off: a Cartum shop typed with http:// is refused on step 1 with what to do, and
    nothing is sent."""
    app.config["ALLOW_PRIVATE_SHOP_ADDRESSES"] = False
    sign_in(client, "admin")
    with serving("cartum", orders=3) as sim:
        response = post(client, "/settings/stores/new", step_one(
            world, "cartum", sim.url, credential_login="manager", credential_password="cartum-demo"))
        assert sim.requests() == []
    assert response.status_code == 422
    message = connect_error(response)
    assert "unencrypted" in message and "https://" in message and "cartum-demo" not in message


def test_R_SEC_1_the_store_page_warns_about_plain_http(app, client, world):
    """A WooCommerce store reached over plain http says on its page that its orders travel
    unencrypted and what to do; a store over https says nothing of the kind."""
    stores = {url: factories.add(Store(platform="woocommerce", name=url, url=url, location=world.main,
                                       order_type=world.repair, identify_by="name", managers_all=True))
              for url in ("http://plain.example", "https://secure.example")}
    db.session.commit()
    sign_in(client, "admin")
    plain, secure = (client.get(f"/settings/stores/{store.id}").get_data(as_text=True) for store in stores.values())
    warning = re.search(r'id="plain-http"[^>]*>(.*?)</div>', plain, re.S)
    assert warning and "unencrypted" in warning.group(1) and "https://" in warning.group(1)
    assert 'id="plain-http"' not in secure
