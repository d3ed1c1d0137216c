"""scripts/run.py (`make run`) end to end: a private Redis, migrations, demo login, web + worker +
scheduler, the demo and spare shops, the logs, and a clean stop. Runs on a temporary instance
directory and free ports."""
from __future__ import annotations

import json
import os
import queue
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from cryptography.fernet import Fernet, MultiFernet

from tests.support.launcher import load_launcher
from tests.support.processes import children_of, descendants

ROOT = Path(__file__).resolve().parents[2]
BANNER = re.compile(r"Sign in at (http://127\.0\.0\.1:\d+/) as (\S+) / (\S+)")
BANNER_END = re.compile(r"Ctrl-C to stop")
REDIS_LINE = re.compile(r"Redis: (redis://127\.0\.0\.1:(\d+)/0) \(started for this run\)")
SPARE_LINE = re.compile(r"^ {4}(Cartum|Shopify|WooCommerce) +(http://127\.0\.0\.1:\d+) +page: (\S+)$")
CHILDREN = 11  # its own Redis, web, worker, importer, scheduler, a demo and a spare shop per platform
# What the terminal used to scroll with: access lines of the web and the shops, INFO records.
CHATTER = re.compile(r'"(GET|POST|PUT|DELETE) /|\[INFO\]|rq\.(worker|cron|scheduler)|^INFO |\x1b\[')

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


KEY_SETTINGS = ("ORDERDOCK_ENCRYPTION_KEYS", "ORDERDOCK_ENCRYPTION_KEY", "ORDERDOCK_ENCRYPTION_KEY_FILE")


def demo_credentials(instance: Path, left_out: tuple[str, ...] = ("login",)) -> set[str]:
    """The demo shops' credentials as the demo stores saved them: read from the database and
    opened with the key file (the launcher runs without key settings), logins left out; and
    those of the spare shops, which no store holds, from the launcher's file."""
    keys = MultiFernet([Fernet(line) for line in (instance / "encryption_key").read_text().split()])
    with sqlite3.connect(f"file:{instance / 'orderdock.db'}?mode=ro", uri=True, timeout=5) as conn:
        tokens = [row[0] for row in conn.execute("SELECT credentials_encrypted FROM stores")]
    found = {value for token in tokens for name, value in json.loads(keys.decrypt(token.encode())).items()
             if name not in left_out and value}
    assert len(found) >= 3, "every demo store has a credential"
    return found | spare_credentials(instance, left_out)


def spare_credentials(instance: Path, left_out: tuple[str, ...] = ("login",)) -> set[str]:
    shops = json.loads((instance / "demo-shops.json").read_text())
    found = {value for name, shop in shops.items() if name.endswith("-spare")
             for key, value in shop["options"].items() if key not in (*left_out, "timezone", "spare")}
    assert len(found) >= 3, "every spare shop has a credential"
    return found


def process_text(pid: int) -> dict[str, bytes]:
    """A process's command line and environment as Linux shows them to its own user."""
    texts = {}
    for part in ("cmdline", "environ"):
        try:
            texts[part] = Path(f"/proc/{pid}/{part}").read_bytes()
        except (FileNotFoundError, ProcessLookupError):
            pass  # gone meanwhile
    return texts





class Launcher:
    def __init__(self, tmp_path: Path):
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "SECRET_KEY", *KEY_SETTINGS}}
        self.instance = tmp_path / "instance"
        env.update(PORT=str(self.port), INSTANCE_PATH=str(self.instance),
                   REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")  # nothing there: it starts its own
        self.proc = subprocess.Popen([sys.executable, "scripts/run.py"], cwd=ROOT, env=env, text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line)

    def wait_for(self, pattern: re.Pattern, timeout: float = 60) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            self.output.append(line)
            if match := pattern.search(line):
                return match
        pytest.fail(f"no line matching {pattern.pattern!r}; output:\n{''.join(self.output)}")

    def drain(self) -> list[str]:
        """Every line printed so far."""
        while not self.lines.empty():
            self.output.append(self.lines.get())
        return list(self.output)

    def finish(self, timeout: float = 30) -> tuple[int, str]:
        code = self.proc.wait(timeout)
        time.sleep(0.2)
        while not self.lines.empty():
            self.output.append(self.lines.get())
        return code, "".join(self.output)

    def stop(self):
        """Teardown: let the launcher clean up as on Ctrl-C; kill it only if it hangs."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


@pytest.fixture
def launcher(tmp_path):
    started = Launcher(tmp_path)
    yield started
    started.stop()


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """One `make run` for the tests below, up to the end of its banner (a start costs half a
    minute): they look at it running, the last stops it with Ctrl-C."""
    started = Launcher(tmp_path_factory.mktemp("make-run"))
    try:
        started.redis = started.wait_for(REDIS_LINE).groups()
        started.banner = started.wait_for(BANNER).groups()
        started.wait_for(BANNER_END)
        yield started
    finally:
        started.stop()


def wait_for_line(path: Path, text: str, timeout: float = 90) -> str:
    """The file's text once it holds ``text`` (a log the children write as they go)."""
    deadline, content = time.monotonic() + timeout, ""
    while time.monotonic() < deadline:
        content = path.read_text(errors="replace") if path.exists() else ""
        if text in content:
            return content
        time.sleep(0.3)
    pytest.fail(f"{path.name} has no {text!r} after {timeout:.0f} s:\n{content[-3000:]}")


def test_make_run_keeps_the_terminal_for_the_banner_warnings_and_errors_and_offers_a_spare_shop_per_platform(
        demo_run):
    """Issue 12: the terminal shows the start, the banner and warnings and errors only; every
    request of the web server and of the demo shops and every job goes to instance/logs/, which
    the banner names; the WooCommerce write check (``PUT .../orders/0``, answered 400 by design)
    is one plain line of the shop's log. The banner lists a spare, unconnected demo shop per
    platform with its Website URL and its page, which shows its access (not the terminal)."""
    instance, logs = demo_run.instance, demo_run.instance / "logs"
    worker_log = wait_for_line(logs / "importer.log", "Job OK (initial-")  # the demo imports are running
    woo_log = wait_for_line(logs / "woocommerce-sim.log", "/wp-json/wc/v3/orders/0")
    assert re.search(r'"PUT /wp-json/wc/v3/orders/0\S* HTTP/1\.1" 400', woo_log)
    assert "rq.worker" in worker_log
    assert '"POST /api/auth/ HTTP/1.1" 200' in (logs / "cartum-sim.log").read_text()
    assert '"GET /login' in wait_for_line(logs / "web.log", '"GET /login')
    assert not [log.name for log in logs.glob("*.log") if "\x1b[" in log.read_text(errors="replace")]

    terminal = demo_run.drain()
    chatter = [line for line in terminal if CHATTER.search(line)]
    assert chatter == [], "the terminal still shows logs"
    text = "".join(terminal)
    assert f"Logs of every request and job: {logs}/" in text
    health = f"{demo_run.banner[0]}healthz"
    assert health in text and requests.get(health, timeout=10).json()["database"] == "ok"  # issue 15

    spares = {match.group(1): match.group(2) for line in terminal if (match := SPARE_LINE.match(line.rstrip("\n")))}
    assert sorted(spares) == ["Cartum", "Shopify", "WooCommerce"], text
    for title, url in spares.items():
        assert f"{url}   page: {url}/_sim/" in text
        page = requests.get(f"{url}/_sim/", timeout=10).text
        assert f"{title} spare demo shop control" in page and "not connected to Orderdock" in page
        assert f"<tr><th>Website URL</th><td><code>{url}</code></td></tr>" in page
    assert not [secret for secret in spare_credentials(instance) if secret in text], "a spare's access in the terminal"
    with sqlite3.connect(f"file:{instance / 'orderdock.db'}?mode=ro", uri=True, timeout=5) as conn:
        connected = {row[0] for row in conn.execute("SELECT url FROM stores")}
    assert len(connected) == 3 and not connected & set(spares.values())  # the spares are left to the newcomer


def test_R_HOOK_4_make_run_registers_the_demo_shops_webhooks_at_its_own_address(demo_run):
    """`make run` sets PUBLIC_BASE_URL to its own web server, so each demo store registers its
    webhooks with its demo shop and a change made on the shop's page shows within seconds; the
    spare shops, which nothing connects, have none."""
    shops = json.loads((demo_run.instance / "demo-shops.json").read_text())
    ours = f"http://127.0.0.1:{demo_run.port}/hooks/"

    def subscriptions(name: str) -> list[dict]:
        return requests.get(f"http://127.0.0.1:{shops[name]['port']}/_sim/webhooks", timeout=10).json()

    deadline = time.monotonic() + 90
    demo = [name for name in shops if name.endswith("-sim")]
    while time.monotonic() < deadline and not all(subscriptions(name) for name in demo):
        time.sleep(0.5)
    for name in demo:
        found = subscriptions(name)
        assert found and all(hook["url"].startswith(ours) and hook["status"] == "active" for hook in found), (name, found)
    assert [name for name in shops if name.endswith("-spare") and subscriptions(name)] == []


def test_R_SEC_6_make_run_serves_the_demo_with_no_shop_secret_in_any_argv_or_env_and_stops_on_ctrl_c(demo_run):
    """`make run` end to end. R-SEC-6: no process it started (children, gunicorn workers, RQ's
    work horse) carries a demo shop's credential in its command line or its environment, the
    shops themselves included (the spare ones too); they get theirs on stdin. Nor do its log
    files (R-CON-8)."""
    launcher = demo_run
    redis_url, redis_port = launcher.redis
    url, login, password = launcher.banner
    assert url == f"http://127.0.0.1:{launcher.port}/"
    children = children_of(launcher.proc.pid)
    assert len(children) == CHILDREN
    secrets = demo_credentials(launcher.instance)
    tree = [launcher.proc.pid, *descendants(launcher.proc.pid, depth=4)]
    leaks = {(pid, part) for pid in tree for part, text in process_text(pid).items()
             for secret in secrets if secret.encode() in text}
    assert leaks == set(), "demo shop credentials in (pid, cmdline/environ)"
    # A WooCommerce consumer key names the key, as a login names a user (not secret in the
    # adapter's rules): OAuth 1.0a over http sends it in every query, which a shop's log keeps.
    logged = {(log.name, secret) for log in (launcher.instance / "logs").glob("*.log")
              for secret in demo_credentials(launcher.instance, ("login", "consumer_key"))
              if secret in log.read_text(errors="replace")}
    assert logged == set(), "demo shop credentials in (log file, secret)"
    web = next(pid for pid in children if b"gunicorn" in process_text(pid).get("cmdline", b""))
    assert b"ALLOW_PRIVATE_SHOP_ADDRESSES=1\x00" in process_text(web)["environ"]  # the demo shops are on loopback

    session = requests.Session()
    page = session.get(url + "login", timeout=10).text
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    signed_in = session.post(url + "login", data={"login": login, "password": password, "csrf_token": token},
                             allow_redirects=False, timeout=10)
    assert signed_in.status_code == 302, "the printed demo login does not work"

    launcher.proc.send_signal(signal.SIGINT)
    code, output = launcher.finish()
    assert code == 0, output
    assert "Stopped." in output
    assert not listening(launcher.port)
    assert not listening(int(redis_port))


def alive(pid: int) -> bool:
    """Running, not a zombie waiting for init to reap it."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False
    assert not any(Path(f"/proc/{pid}").exists() for pid in children)


def worker_pid(launcher) -> int | None:
    return next((pid for pid in children_of(launcher.proc.pid)
                 if b"worker.py\x00work\x00--queues\x00default" in Path(f"/proc/{pid}/cmdline").read_bytes()), None)


def test_R_REL_2_a_child_that_dies_is_started_again_and_the_product_keeps_running(launcher):
    launcher.wait_for(REDIS_LINE)
    url = launcher.wait_for(BANNER).group(1)
    worker = worker_pid(launcher)

    os.kill(worker, signal.SIGKILL)
    launcher.wait_for(re.compile(r"worker stopped unexpectedly \(killed by SIGKILL\); starting it again in 1 s"))
    launcher.wait_for(re.compile(r"worker started again"), timeout=30)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and worker_pid(launcher) in (None, worker):
        time.sleep(0.2)
    again = worker_pid(launcher)
    assert again not in (None, worker) and launcher.proc.poll() is None
    assert requests.get(url + "login", timeout=10).status_code == 200  # the web kept serving

    children = children_of(launcher.proc.pid)
    launcher.proc.send_signal(signal.SIGINT)  # Ctrl-C still stops everything, the new worker too
    code, output = launcher.finish()
    assert code == 0, output
    assert not any(Path(f"/proc/{pid}").exists() for pid in children)


def test_killing_the_launcher_outright_takes_its_children_with_it(launcher):
    redis_url, redis_port = launcher.wait_for(REDIS_LINE).groups()
    launcher.wait_for(BANNER)
    children = children_of(launcher.proc.pid)
    assert len(children) == CHILDREN

    launcher.proc.kill()  # SIGKILL: no clean-up code runs; the kernel tells the children
    launcher.proc.wait()

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and (listening(launcher.port) or listening(int(redis_port))):
        time.sleep(0.2)
    assert not listening(launcher.port)
    assert not listening(int(redis_port))
    # The worker too, though its Redis went first: it must not wait for Redis forever (seen).
    while time.monotonic() < deadline and any(map(alive, children)):
        time.sleep(0.2)
    assert [survivor(pid) for pid in children if alive(pid)] == []


def survivor(pid: int) -> str:
    """A child still alive, named by its command line (which one it was says why)."""
    try:
        return f"{pid}: " + Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:200]
    except OSError:
        return f"{pid}: (gone meanwhile)"


def test_the_demo_shops_keep_their_address_and_access_from_one_start_to_the_next(tmp_path):
    """A store a newcomer connected to a spare shop must still work after the next `make run`:
    each shop's port and credentials are made up once and kept in instance/demo-shops.json
    (mode 600, written whole), the port used again while it is free. A port taken meanwhile
    is replaced, and the launcher says which address a store connected to that spare shop
    needs. No credential is ever part of a simulator's command line (R-SEC-6)."""
    run = load_launcher()
    first, notes = run.demo_shops(tmp_path)
    assert notes == [] and len(first) == 6
    assert sorted((shop.platform, shop.spare) for shop in first) == sorted(
        (platform, spare) for platform in ("cartum", "shopify", "woocommerce") for spare in (False, True))
    assert (tmp_path / "demo-shops.json").stat().st_mode & 0o777 == 0o600
    assert len({shop.port for shop in first}) == 6

    again, notes = run.demo_shops(tmp_path)
    assert notes == []
    assert [(s.name, s.port, s.options) for s in again] == [(s.name, s.port, s.options) for s in first]

    spare = next(shop for shop in first if shop.name == "cartum-spare")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", spare.port))
        busy.listen()
        moved_all, notes = run.demo_shops(tmp_path)
    moved = next(shop for shop in moved_all if shop.name == "cartum-spare")
    assert moved.port != spare.port and moved.options == spare.options
    assert len(notes) == 1 and moved.url in notes[0] and str(spare.port) in notes[0] and "edit the store" in notes[0]
    for shop in moved_all:
        argv = " ".join(shop.argv())
        assert not [value for key, value in shop.options.items() if key != "login" and value in argv]
        hooks = {"hook_flush_seconds": str(run.DEMO_CARTUM_FLUSH)} if shop.platform == "cartum" else {}
        assert json.loads(shop.stdin()) == {**shop.options, **hooks, **({"spare": "1"} if shop.spare else {})}
    given = json.loads(run.stores_demo_input(moved_all))  # `stores demo` connects the demo shops only
    assert {platform: shop["url"] for platform, shop in given.items()} == {
        shop.platform: shop.url for shop in moved_all if not shop.spare}

