"""`make run`: Orderdock with everything it needs, on this machine, until Ctrl-C.

1. make sure a Redis answers (scripts/ensure_redis.py; starts a private one if needed),
2. start two platform simulators per platform on loopback and wait until each answers: the
   demo shop (``<platform>-sim``) and a spare one (``<platform>-spare``) that nothing connects,
   for a newcomer to try the wizard with,
3. apply the database migrations, seed the demo data and connect a demo store to each demo
   shop (``flask stores demo``), which queues their initial imports,
4. start the web server, two RQ workers (initial imports, the rest) and the RQ scheduler,
5. once the web port answers HTTP, print the URL, the demo login, each demo shop's control
   page (``/_sim/``), where a change to the shop shows in Orderdock within seconds through its
   webhooks (PUBLIC_BASE_URL is this web server unless set), or after the next sync, and
   each spare shop's Website URL and page, which shows the access to type into the wizard.

The shops' ports and credentials are made up on the first start and kept in
``instance/demo-shops.json`` (mode 600, as ``instance/demo-password``): a store a newcomer
connected to a spare shop still works after a restart. A port taken meanwhile is replaced by
a free one; the demo stores follow (``stores demo``), and for a spare shop the launcher says
which address to edit. The credentials are never printed here: they are on each shop's page.

The terminal is kept for the banner, warnings and errors. Each child's log (every request of
the web server and of the demo shops, every job of the worker) goes to
``instance/logs/<name>.log``, the previous run's kept as ``<name>.log.1``: a child writes its
log on stdout (gunicorn's access log, the simulators' request lines, the worker's and the
scheduler's INFO lines, the last two through ``--split-logs``) and its warnings and errors on
stderr, which the launcher shows prefixed with the child's name and copies to the same file.

Every child runs in its own process group, so a Ctrl-C in the terminal reaches only this
launcher, which then stops the children in order (SIGTERM, SIGKILL after STOP_TIMEOUT
seconds) and then the Redis it started. If a child dies on its own once the product is up
(R-REL-2: a worker that lost Redis for too long, an out-of-memory kill), the launcher says
which and with what exit code and starts it again, after a pause that doubles while it keeps
dying (RESTART_FIRST up to RESTART_LONGEST); the rest keep running. A child that dies during
the start-up stops everything: that is a setup problem, and the message says which.

R-SEC-6: the demo shops' credentials reach each simulator and `flask stores demo` on stdin,
as JSON, never as arguments or environment variables: no process list shows them, and the web
server, the worker and the scheduler never hold them (they read the stored, encrypted ones).
The children run with ALLOW_PRIVATE_SHOP_ADDRESSES=1, as the demo shops are on loopback
(R-SEC-1).

Run it with the virtualenv's Python (``.venv/bin/python scripts/run.py``); settings come
from the environment (PORT, REDIS_URL, DATABASE_URL, INSTANCE_PATH, ...).
"""
from __future__ import annotations

import json
import logging
import os
import runpy
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ensure_redis import RedisUnavailable, die_with_parent, ensure_redis, port_is_free  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = Path(__file__).resolve().parent
PY = sys.executable
FLASK = [PY, "-m", "flask", "--app", "webapp"]
STOP_TIMEOUT = 10.0   # seconds a child gets to finish after SIGTERM (an RQ job in flight, say)
AGAIN_TIMEOUT = 3.0   # seconds after a second SIGTERM before SIGKILL
START_TIMEOUT = 60.0  # seconds the web server (and each simulator) gets to answer HTTP
RESTART_FIRST, RESTART_LONGEST = 1.0, 30.0  # seconds before a dead child is started again
STEADY = 60.0  # a child that ran this long before dying starts again after RESTART_FIRST
DIE_WITH = "--die-with"  # `run.py --die-with PID ARGV...`: exec ARGV, SIGTERMed when PID dies
SPLIT_LOGS = "--split-logs"  # `run.py --split-logs SCRIPT ARGS...`: run SCRIPT, INFO on stdout (the log file)
DEMO_PLATFORMS = ("cartum", "shopify", "woocommerce")
TITLES = {"cartum": "Cartum", "shopify": "Shopify", "woocommerce": "WooCommerce"}
DEMO_ORDERS = 150  # per demo shop, over its last 90 days
SPARE_ORDERS = 60  # per spare shop: an import a newcomer sees finish in seconds
DEMO_CARTUM_FLUSH = 10  # seconds between the demo Cartum shops' webhook sends (a real shop: about 5 minutes)
SIM_SUFFIX, SPARE_SUFFIX = "-sim", "-spare"
DEMO_SHOPS_FILE = "demo-shops.json"  # in the instance folder: the shops' ports and credentials
LOGS = "logs"  # in the instance folder: a <child>.log each, and setup.log
ACCESS = {  # the simulator's option -> the credential's name in Orderdock (R-CON-3)
    "cartum": {"login": "login", "password": "password"},
    "shopify": {"token": "access_token", "client_secret": "client_secret"},  # the secret signs webhooks
    "woocommerce": {"consumer_key": "consumer_key", "consumer_secret": "consumer_secret"},
}


@dataclass
class DemoShop:
    """One simulated shop: a demo shop the demo store of its platform connects to, or the
    spare one nothing connects (``spare``). ``options`` holds its credentials: they reach the
    simulator on stdin only (R-SEC-6)."""

    platform: str
    spare: bool
    port: int
    options: dict = field(repr=False)

    @property
    def name(self) -> str:
        return self.platform + (SPARE_SUFFIX if self.spare else SIM_SUFFIX)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def argv(self) -> list[str]:
        """No credential here: they are in ``stdin()``. Another seed makes the spare shop
        another shop (other buyers, other orders)."""
        return [PY, "-m", "simulators", self.platform, "--port", str(self.port),
                "--orders", str(SPARE_ORDERS if self.spare else DEMO_ORDERS), "--seed", "2" if self.spare else "1",
                "--options-from-stdin"]

    def stdin(self) -> str:
        # A real Cartum shop sends its queued webhooks every 5 minutes; the demo's, sooner.
        hooks = {"hook_flush_seconds": str(DEMO_CARTUM_FLUSH)} if self.platform == "cartum" else {}
        return json.dumps({**self.options, **hooks, **({"spare": "1"} if self.spare else {})})


def process_specs(port: int, shops: list[DemoShop] = ()) -> list[tuple[str, list[str], str | None]]:
    """The long-running processes of the product: (name, argv, stdin text or None). Add a process
    with one line. Each writes its log on stdout and its warnings and errors on stderr.

    ``shops`` (from ``demo_shops``) adds a simulator each, named after the shop, its options
    (credentials) on stdin; they are started first, as the demo stores are connected to them.
    """
    return [
        # Gunicorn rather than Flask's development server: the server a VPS runs, threaded,
        # and a clean graceful stop on SIGTERM. Its error log at "warning": no start-up chatter.
        ("web", [PY, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "2",
                 "--threads", "4", "--graceful-timeout", "5", "--access-logfile", "-", "--error-logfile", "-",
                 "--log-level", "warning", "--no-control-socket",
                 # No webhook token in its log (R-HOOK-2): /hooks/<token>/... is logged masked.
                 "--logger-class", "webapp.gunicorn_logging.HookTokenLogger", "webapp:create_app()"], None),
        # Initial imports (hours for a big shop) have a worker of their own, so that the 5-minute
        # syncs, the webhooks and the status pushes never wait behind one (docs/deploy.md).
        ("worker", [PY, str(Path(__file__).resolve()), SPLIT_LOGS, "worker.py", "work",
                    "--queues", "default,push,hooks,sync"], None),
        ("importer", [PY, str(Path(__file__).resolve()), SPLIT_LOGS, "worker.py", "work", "--queues", "initial"], None),
        ("scheduler", [PY, str(Path(__file__).resolve()), SPLIT_LOGS, "worker.py", "schedule"], None),
        *((shop.name, shop.argv(), shop.stdin()) for shop in shops),
    ]


def demo_shops(instance: Path, avoid: set[int] = frozenset()) -> tuple[list[DemoShop], list[str]]:
    """The demo and spare shop of each platform, as kept in the instance folder (made up on
    the first start); and what to tell the user about a spare shop whose port was taken.

    A saved port still free is used again, so that a store connected to a spare shop keeps
    working; nothing secret is a constant in code. ``avoid``: ports taken otherwise (the web's).
    """
    path = instance / DEMO_SHOPS_FILE
    saved = _saved_shops(path)
    shops, notes, taken = [], [], set(avoid)
    for platform in DEMO_PLATFORMS:
        for spare in (False, True):
            shop = DemoShop(platform, spare, 0, {})
            before = saved.get(shop.name, {})
            options = before.get("options")
            shop.options = options if _fits(platform, options) else made_up_access(platform)
            port = before.get("port")
            if isinstance(port, int) and port not in taken and port_is_free(port):
                shop.port = port
            else:
                shop.port = free_port(taken)
                if spare and isinstance(port, int):
                    notes.append(f"The spare {TITLES[platform]} shop is at {shop.url} now (its port {port} is in "
                                 f"use): a store you connected to it needs that Website URL (edit the store).")
            taken.add(shop.port)
            shops.append(shop)
    _save_shops(path, shops)
    return shops, notes


def made_up_access(platform: str) -> dict[str, str]:
    return {
        "cartum": lambda: {"login": "manager", "password": secrets.token_urlsafe(12), "timezone": "Europe/Kyiv"},
        "shopify": lambda: {"token": "shpat_" + secrets.token_hex(16), "client_secret": secrets.token_hex(16)},
        "woocommerce": lambda: {"consumer_key": "ck_" + secrets.token_hex(20),
                                "consumer_secret": "cs_" + secrets.token_hex(20)},
    }[platform]()


def _fits(platform: str, options) -> bool:
    return isinstance(options, dict) and set(ACCESS[platform]) <= set(options) and all(
        isinstance(value, str) and value for value in options.values())


def _saved_shops(path: Path) -> dict[str, dict]:
    try:
        saved = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        say(f"{path} is unreadable; the demo shops get new ports and credentials.")
        return {}
    return {name: shop for name, shop in saved.items() if isinstance(shop, dict)} if isinstance(saved, dict) else {}


def _save_shops(path: Path, shops: list[DemoShop]) -> None:
    """Written aside with mode 600 and renamed: never half-written, never readable by others."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{os.getpid()}.part")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        json.dump({shop.name: {"port": shop.port, "options": shop.options} for shop in shops}, file, indent=1)
    os.replace(partial, path)


def stores_demo_input(shops: list[DemoShop]) -> str:
    """What `flask stores demo` reads on stdin: each demo shop's URL and how to sign in to it
    (the spare shops are left out: they are the newcomer's to connect)."""
    described = {}
    for shop in shops:
        if shop.spare:
            continue
        credentials = {ours: shop.options.get(theirs) for theirs, ours in ACCESS[shop.platform].items()}
        described[shop.platform] = {"url": shop.url, "credentials": credentials,
                                    "timezone": shop.options.get("timezone", ""),
                                    "language": "en" if shop.platform == "cartum" else ""}
    return json.dumps(described)


def banner(url: str, login: str, password: str, shops: list[DemoShop], logs: Path) -> str:
    """What the newcomer reads: where to sign in, the demo shops' pages, the spare shops to try
    the wizard with (their credentials are on their pages, not in the terminal's scroll-back),
    and where the logs are."""
    rule = "=" * 80
    return "\n".join([
        "", rule, "  Orderdock is running.",
        f"  Sign in at {url} as {login} / {password}",
        "  Demo shops: change one on its page; its webhook brings it in within seconds",
        f"  (Cartum's every {DEMO_CARTUM_FLUSH} s), the 5-minute sync whatever a webhook missed:",
        *(f"    {TITLES[shop.platform]:<12} {shop.url}/_sim/" for shop in shops if not shop.spare),
        "  Spare demo shops, not connected, to try the wizard (Settings > Stores > + Store):",
        "  type a shop's Website URL and the access its page shows:",
        *(f"    {TITLES[shop.platform]:<12} {shop.url}   page: {shop.url}/_sim/" for shop in shops if shop.spare),
        f"  Logs of every request and job: {logs}/ (here: warnings and errors only)",
        f"  Health of the workers and the scheduler: {url}healthz (and Settings > Operations)",
        "  Ctrl-C to stop.", rule, ""])


def free_port(taken: set[int] = frozenset()) -> int:
    for _ in range(100):  # the system hands out ports in turn: a taken one comes back rarely
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in taken:
            return port
    raise SetupFailed("No free local port was found for the demo shops.")


class Stop(Exception):
    """SIGINT, SIGTERM or SIGHUP arrived."""


class SetupFailed(Exception):
    """A step before the children start failed; the message says which."""


_print_lock = threading.Lock()


def say(line: str) -> None:
    with _print_lock:
        try:
            print(line, flush=True)
        except (BrokenPipeError, ValueError):
            pass


@dataclass
class Child:
    name: str
    argv: list[str]
    stdin: str | None = field(default=None, repr=False)  # written to it at each start, then closed
    log: Path | None = None  # its stdout, and a copy of its stderr; None: both to the terminal
    proc: subprocess.Popen | None = None
    reader: threading.Thread | None = field(default=None, repr=False)
    started_at: float = 0.0
    restarts: int = 0  # in a row, each within STEADY seconds of its start
    restart_at: float | None = None  # when a dead child is due to start again

    def spawn(self, env: dict) -> None:
        preexec = die_with_parent()
        # With threads running (a restart), code between fork and exec is unsafe: the child
        # then asks for the parent-death signal itself, in a fresh process, before its exec.
        argv = self.argv if preexec else [PY, str(Path(__file__).resolve()), DIE_WITH, str(os.getpid()), *self.argv]
        log = open(self.log, "ab") if self.log else None  # appended to: a restarted child goes on
        try:
            self.proc = subprocess.Popen(
                argv, cwd=ROOT, env=env, stdin=subprocess.DEVNULL if self.stdin is None else subprocess.PIPE,
                stdout=log or subprocess.PIPE, stderr=subprocess.PIPE if log else subprocess.STDOUT,
                text=True, errors="replace", bufsize=1,
                start_new_session=True,  # own process group: the terminal's Ctrl-C is ours to relay
                preexec_fn=preexec,  # and SIGTERM if the launcher itself is killed hard
            )
        finally:
            if log:
                log.close()  # the child has its own descriptor
        self.started_at = time.monotonic()
        if self.stdin is not None:  # a few hundred bytes: the pipe's buffer takes them at once
            try:
                self.proc.stdin.write(self.stdin)
                self.proc.stdin.close()
            except BrokenPipeError:
                pass  # died at once; the launcher notices and says so

    def relay_output(self, width: int) -> None:
        """Print the child's warnings and errors (all its output, without a log file) prefixed
        with its name, from a thread of its own; and copy them to its log file."""
        prefix = f"{self.name:<{width}} | "
        self.reader = threading.Thread(target=self._relay, args=(prefix,), daemon=True)
        self.reader.start()

    def _relay(self, prefix: str) -> None:
        if self.log is None:
            for line in self.proc.stdout:
                say(prefix + line.rstrip("\n"))
            return
        with open(self.log, "a", encoding="utf-8", errors="replace") as copy:
            for line in self.proc.stderr:
                say(prefix + line.rstrip("\n"))
                copy.write(line)
                copy.flush()

    def signal_group(self, sig: int) -> None:
        try:
            os.killpg(self.proc.pid, sig)  # the group id is the child's pid (start_new_session)
        except (ProcessLookupError, PermissionError):
            pass


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def stop_children(children: list[Child]) -> None:
    """SIGTERM to each child, SIGKILL to the whole group of any still running after STOP_TIMEOUT."""
    running = [c for c in children if c.proc and c.proc.poll() is None]
    if running:
        say(f"Stopping {', '.join(c.name for c in running)}...")
    for child in running:
        child.proc.terminate()  # the main process only: an RQ worker finishes its job, gunicorn its requests
    deadline = time.monotonic() + STOP_TIMEOUT
    for child in running:
        try:
            child.proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            say(f"{child.name} did not stop within {STOP_TIMEOUT:.0f} s; killing it.")
            terminate_again(child)
    for child in children:
        if child.proc:
            child.signal_group(signal.SIGKILL)  # the child if still there, and any leftover of its group
            child.proc.wait()
            if child.reader:
                child.reader.join(timeout=2)


def terminate_again(child: Child) -> None:
    """A second SIGTERM: an RQ worker's cold shutdown, which kills its work horse. The horse
    runs in a process group of its own, out of reach of the SIGKILL to the worker's group."""
    child.proc.terminate()
    try:
        child.proc.wait(AGAIN_TIMEOUT)
    except subprocess.TimeoutExpired:
        pass


def setup_command(args: list[str], env: dict, what: str, stdin: str = "", log: Path | None = None) -> str:
    """Run a flask CLI step to completion, ``stdin`` on its stdin; its stdout, or SetupFailed.

    Its stderr goes to ``log`` (setup.log); the terminal shows it whole when the step fails,
    else all but the INFO records (Alembic's "Running upgrade ..." lines)."""
    result = subprocess.run([*FLASK, *args], cwd=ROOT, env=env, input=stdin, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, errors="replace")
    if log is not None:
        with open(log, "a", encoding="utf-8") as file:
            file.write(result.stderr)
    if result.returncode != 0:
        sys.stdout.write(result.stdout + result.stderr)
        raise SetupFailed(f"{what} failed ({describe_exit(result.returncode)}): flask --app webapp {' '.join(args)}")
    for line in not_info(result.stderr.splitlines()):
        say(line)
    return result.stdout


LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def not_info(lines: list[str]) -> list[str]:
    """The lines of a log on stderr that are not DEBUG or INFO records; a line that starts with
    no level name belongs to the record above it (a long message, a traceback), and a line
    before any record (a Python warning) is kept."""
    kept, keep = [], True
    for line in lines:
        level = line.split(" ", 1)[0].rstrip(":")
        if level in LEVELS:
            keep = level not in ("DEBUG", "INFO")
        if keep:
            kept.append(line)
    return kept


def seed_demo(env: dict, log: Path | None = None) -> tuple[str, str]:
    """Seed the demo data; the (login, password) from its last line, `LOGIN <login> <password>`."""
    out = setup_command(["seed-demo", "--print-login"], env, "Seeding the demo data", log=log)
    lines = out.splitlines()
    for line in lines:
        if not line.startswith("LOGIN "):
            say(line)
    last = lines[-1].split() if lines else []
    if len(last) != 3 or last[0] != "LOGIN":
        raise SetupFailed("`flask --app webapp seed-demo --print-login` did not end with `LOGIN <login> <password>`")
    return last[1], last[2]


def wait_for_http(url: str, children: list[Child], what: str = "The web server") -> None:
    """Until ``url`` answers HTTP at all; raise if a child dies or START_TIMEOUT passes."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        check_children(children)
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError as exc:
            if exc.code >= 500:
                say(f"Warning: {url} answers HTTP {exc.code}; see the web output above.")
            return
        except OSError:
            time.sleep(0.2)
    raise SetupFailed(f"{what} did not answer at {url} within {START_TIMEOUT:.0f} s.")


def start(children: list[Child], shops: list[DemoShop], env: dict, logs: Path) -> tuple[str, str]:
    """Steps 2 to 4: the simulators, the database and demo data, then the other children.
    The demo login, from `seed-demo`."""
    names = {shop.name for shop in shops}
    simulators = [c for c in children if c.name in names]
    for child in simulators:  # before any thread: die_with_parent needs none running
        child.spawn(env)
    for shop in shops:
        wait_for_http(shop.url + "/_sim/stats", simulators, what=f"The {shop.name} simulator")
    say("Applying database migrations...")
    setup = logs / "setup.log"
    setup_command(["db", "upgrade"], env, "Applying the migrations", log=setup)
    say("Seeding the demo data...")
    login, password = seed_demo(env, log=setup)
    for line in setup_command(["stores", "demo"], env, "Connecting the demo stores",
                              stdin=stores_demo_input(shops), log=setup).splitlines():
        say(line)
    for child in children:  # every other child before the first relay thread
        if child.proc is None:
            child.spawn(env)
    width = max(len(child.name) for child in children)
    for child in children:
        child.relay_output(width)
    return login, password


class ChildDied(Exception):
    pass


def restart_dead(children: list[Child], env: dict, width: int) -> None:
    """Start again each child that died on its own, once its pause is over (R-REL-2)."""
    now = time.monotonic()
    for child in children:
        if child.restart_at is not None:
            if now >= child.restart_at:
                child.restart_at = None
                child.spawn(env)
                child.relay_output(width)
                say(f"{child.name} started again.")
            continue
        code = child.proc.poll()
        if code is None:
            continue
        if now - child.started_at >= STEADY:
            child.restarts = 0
        pause = min(RESTART_FIRST * 2 ** child.restarts, RESTART_LONGEST)
        child.restarts += 1
        child.restart_at = now + pause
        say(f"{child.name} stopped unexpectedly ({describe_exit(code)}); starting it again in {pause:.0f} s.")


def fresh_logs(logs: Path, names: list[str]) -> None:
    """A new log per child for this run; the previous run's kept as ``<name>.log.1``."""
    logs.mkdir(parents=True, exist_ok=True)
    for name in names:
        log = logs / f"{name}.log"
        if log.exists():
            os.replace(log, logs / f"{name}.log.1")


def run_with_split_logs(argv: list[str]) -> None:
    """The ``--split-logs`` entry: run the Python script ``argv[0]`` (worker.py) with its
    logging set up as the simulators' is: records below WARNING on stdout (the log file),
    warnings and errors on stderr (the terminal), each line with its job, store and run
    (``webapp.logs``). worker.py's own ``logs.configure`` then changes nothing, as it only
    configures a root logger without handlers; RQ logs through it too."""
    # As `python worker.py`: the project folder first on the path, not scripts/.
    sys.path[:] = [str(ROOT), *(entry for entry in sys.path if Path(entry or ".").resolve() != SCRIPTS)]
    from webapp import logs

    plain = logging.StreamHandler(sys.stdout)
    plain.addFilter(lambda record: record.levelno < logging.WARNING)
    loud = logging.StreamHandler(sys.stderr)
    loud.setLevel(logging.WARNING)
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    for handler in (plain, loud):
        root.addHandler(logs.prepare(handler))
    sys.argv = list(argv)
    runpy.run_path(str(ROOT / argv[0]), run_name="__main__")


def exec_dying_with(parent: int, argv: list[str]) -> None:
    """The ``--die-with`` entry: have Linux SIGTERM this process when ``parent`` dies, then
    become ``argv`` (the signal request outlives the exec)."""
    preexec = die_with_parent(parent)
    if preexec:
        preexec()
    os.execv(argv[0], argv)


def check_children(children: list[Child]) -> None:
    for child in children:
        code = child.proc.poll()
        if code is not None:
            raise ChildDied(f"{child.name} stopped unexpectedly ({describe_exit(code)}); stopping the rest.")


def _on_signal(signum, _frame):
    raise Stop(signum)


def main() -> int:
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # SIGHUP: the terminal was closed
        signal.signal(sig, _on_signal)
    port = int(os.environ.get("PORT", "5000"))
    children: list[Child] = []
    redis = None
    code = 0
    try:
        if not port_is_free(port):
            raise SetupFailed(f"Port {port} is already in use; choose another one, e.g. `PORT={port + 1} make run`.")
        instance = ROOT / os.environ.get("INSTANCE_PATH", "instance")  # children run in ROOT too
        redis = ensure_redis(os.environ.get("REDIS_URL"), instance, log=say)
        env = {**os.environ, "REDIS_URL": redis.url, "PYTHONUNBUFFERED": "1",
               "ALLOW_PRIVATE_SHOP_ADDRESSES": "1",  # R-SEC-1: the demo shops are on loopback
               # R-HOOK-4: the demo shops deliver their webhooks to this very web server.
               "PUBLIC_BASE_URL": os.environ.get("PUBLIC_BASE_URL") or f"http://127.0.0.1:{port}"}
        say(f"Redis: {redis.url}" + (" (started for this run)" if redis.started else ""))
        shops, notes = demo_shops(instance, avoid={port})
        logs = instance / LOGS
        specs = process_specs(port, shops)
        fresh_logs(logs, [name for name, _, _ in specs] + ["setup"])
        children = [Child(name, argv, stdin, logs / f"{name}.log") for name, argv, stdin in specs]
        login, password = start(children, shops, env, logs)
        url = f"http://127.0.0.1:{port}/"
        wait_for_http(url, children)
        for note in notes:
            say(note)
        say(banner(url, login, password, shops, shown_path(logs)))
        width = max(len(child.name) for child in children)
        while True:
            restart_dead(children, env, width)
            time.sleep(0.2)
    except Stop:
        say("\nShutting down...")
    except ChildDied as exc:
        say(str(exc))
        code = 1
    except (SetupFailed, RedisUnavailable) as exc:
        say(str(exc))
        code = 1
    finally:
        # A second Ctrl-C must not interrupt the clean-up; STOP_TIMEOUT bounds it anyway.
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        stop_children(children)
        if redis is not None and redis.started:
            say(f"Stopping the Redis started for this run ({redis.url})...")
            redis.stop()
    say("Stopped." if code == 0 else "Stopped after an error.")
    return code


def shown_path(path: Path) -> str:
    """``instance/logs`` when under the project folder, else the whole path."""
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == DIE_WITH:
        exec_dying_with(int(sys.argv[2]), sys.argv[3:])
    if len(sys.argv) > 2 and sys.argv[1] == SPLIT_LOGS:
        run_with_split_logs(sys.argv[2:])
        sys.exit(0)
    sys.exit(main())
