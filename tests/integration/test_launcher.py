"""scripts/run.py (`make run`) end to end: a private Redis, migrations, demo login, web + worker +
scheduler, and a clean stop. Runs on a temporary instance directory and free ports."""
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

from tests.support.processes import children_of, descendants

ROOT = Path(__file__).resolve().parents[2]
BANNER = re.compile(r"Sign in at (http://127\.0\.0\.1:\d+/) as (\S+) / (\S+)")
REDIS_LINE = re.compile(r"Redis: (redis://127\.0\.0\.1:(\d+)/0) \(started for this run\)")

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


def demo_credentials(instance: Path) -> set[str]:
    """The demo shops' credentials as the demo stores saved them: read from the database and
    opened with the key file (the launcher runs without key settings), logins left out."""
    keys = MultiFernet([Fernet(line) for line in (instance / "encryption_key").read_text().split()])
    with sqlite3.connect(f"file:{instance / 'orderdock.db'}?mode=ro", uri=True, timeout=5) as conn:
        tokens = [row[0] for row in conn.execute("SELECT credentials_encrypted FROM stores")]
    found = {value for token in tokens for name, value in json.loads(keys.decrypt(token.encode())).items()
             if name != "login" and value}
    assert len(found) >= 3, "every demo store has a credential"
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


def test_R_SEC_6_make_run_serves_the_demo_with_no_shop_secret_in_any_argv_or_env_and_stops_on_ctrl_c(launcher):
    """`make run` end to end. R-SEC-6: no process it started (children, gunicorn workers, RQ's
    work horse) carries a demo shop's credential in its command line or its environment, the
    shops themselves included; they get theirs on stdin."""
    redis_url, redis_port = launcher.wait_for(REDIS_LINE).groups()
    url, login, password = launcher.wait_for(BANNER).groups()
    assert url == f"http://127.0.0.1:{launcher.port}/"
    children = children_of(launcher.proc.pid)
    assert len(children) == 7  # its own Redis, web, worker, scheduler, three demo shops
    secrets = demo_credentials(launcher.instance)
    tree = [launcher.proc.pid, *descendants(launcher.proc.pid, depth=4)]
    leaks = {(pid, part) for pid in tree for part, text in process_text(pid).items()
             for secret in secrets if secret.encode() in text}
    assert leaks == set(), "demo shop credentials in (pid, cmdline/environ)"
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
                 if b"worker.py\x00work" in Path(f"/proc/{pid}/cmdline").read_bytes()), None)


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
    assert len(children) == 7

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
    assert [pid for pid in children if alive(pid)] == []
