"""`make run`: Orderdock with everything it needs, on this machine, until Ctrl-C.

1. make sure a Redis answers (scripts/ensure_redis.py; starts a private one if needed),
2. start one platform simulator per platform (demo shops on free loopback ports, with
   credentials made up for this run) and wait until each answers,
3. apply the database migrations, seed the demo data and connect a demo store to each
   simulator (``flask stores demo``), which queues their initial imports,
4. start the web server, the RQ worker and the RQ scheduler as child processes,
5. once the web port answers HTTP, print the URL, the demo login and each demo shop's control
   page (``/_sim/``), where a change to the shop shows in Orderdock after the next sync.

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
import os
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
PY = sys.executable
FLASK = [PY, "-m", "flask", "--app", "webapp"]
STOP_TIMEOUT = 10.0   # seconds a child gets to finish after SIGTERM (an RQ job in flight, say)
AGAIN_TIMEOUT = 3.0   # seconds after a second SIGTERM before SIGKILL
START_TIMEOUT = 60.0  # seconds the web server (and each simulator) gets to answer HTTP
RESTART_FIRST, RESTART_LONGEST = 1.0, 30.0  # seconds before a dead child is started again
STEADY = 60.0  # a child that ran this long before dying starts again after RESTART_FIRST
DIE_WITH = "--die-with"  # `run.py --die-with PID ARGV...`: exec ARGV, SIGTERMed when PID dies
DEMO_PLATFORMS = ("cartum", "shopify", "woocommerce")
DEMO_ORDERS = 150  # per demo shop, over its last 90 days
SIM_SUFFIX = "-sim"


def process_specs(port: int, simulators: dict[str, dict] | None = None) -> list[tuple[str, list[str], str | None]]:
    """The long-running processes of the product: (name, argv, stdin text or None). Add a process
    with one line.

    ``simulators`` (from ``demo_simulators``) adds one demo shop per platform, named
    ``<platform>-sim``, its options (credentials) on stdin; they are started first, as the demo
    stores are connected to them.
    """
    return [
        # Gunicorn rather than Flask's development server: the server a VPS runs, threaded,
        # and a clean graceful stop on SIGTERM.
        ("web", [PY, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "2",
                 "--threads", "4", "--graceful-timeout", "5", "--access-logfile", "-", "--no-control-socket",
                 "webapp:create_app()"], None),
        ("worker", [PY, "worker.py", "work"], None),
        ("scheduler", [PY, "worker.py", "schedule"], None),
        *((platform + SIM_SUFFIX, simulator_argv(platform, sim), json.dumps(sim["options"]))
          for platform, sim in (simulators or {}).items()),
    ]


def demo_simulators() -> dict[str, dict]:
    """Per platform: a free port and the options (credentials) its simulator starts with.

    The credentials are made up for this run: nothing secret is a constant in code, and the
    demo stores are updated with them on every start.
    """
    options = {
        "cartum": {"login": "manager", "password": secrets.token_urlsafe(12), "timezone": "Europe/Kyiv"},
        "shopify": {"token": "shpat_" + secrets.token_hex(16)},
        "woocommerce": {"consumer_key": "ck_" + secrets.token_hex(20), "consumer_secret": "cs_" + secrets.token_hex(20)},
    }
    return {platform: {"port": free_port(), "options": options[platform]} for platform in DEMO_PLATFORMS}


def simulator_argv(platform: str, sim: dict) -> list[str]:
    """No option here: they hold the shop's credentials, and come on stdin."""
    return [PY, "-m", "simulators", platform, "--port", str(sim["port"]), "--orders", str(DEMO_ORDERS),
            "--options-from-stdin"]


def demo_shops(simulators: dict[str, dict]) -> str:
    """What `flask stores demo` reads on stdin: each simulator's URL and how to sign in to it."""
    shops = {}
    for platform, sim in simulators.items():
        opts = sim["options"]
        credentials = {"cartum": {"login": opts.get("login"), "password": opts.get("password")},
                       "shopify": {"access_token": opts.get("token")},
                       "woocommerce": {"consumer_key": opts.get("consumer_key"),
                                       "consumer_secret": opts.get("consumer_secret")}}[platform]
        shops[platform] = {"url": sim_url(sim), "credentials": credentials, "timezone": opts.get("timezone", ""),
                           "language": "en" if platform == "cartum" else ""}
    return json.dumps(shops)


def sim_url(sim: dict) -> str:
    return f"http://127.0.0.1:{sim['port']}"


def demo_pages(simulators: dict[str, dict]) -> str:
    """Banner lines: each demo shop's control page, for a newcomer to change an order and watch
    the next sync bring the change in."""
    return "".join(f"    {platform:<12} {sim_url(sim)}/_sim/\n" for platform, sim in simulators.items())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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
        self.proc = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdin=subprocess.DEVNULL if self.stdin is None else subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace", bufsize=1,
            start_new_session=True,  # own process group: the terminal's Ctrl-C is ours to relay
            preexec_fn=preexec,  # and SIGTERM if the launcher itself is killed hard
        )
        self.started_at = time.monotonic()
        if self.stdin is not None:  # a few hundred bytes: the pipe's buffer takes them at once
            try:
                self.proc.stdin.write(self.stdin)
                self.proc.stdin.close()
            except BrokenPipeError:
                pass  # died at once; the launcher notices and says so

    def relay_output(self, width: int) -> None:
        """Print the child's lines prefixed with its name, from a thread of its own."""
        prefix = f"{self.name:<{width}} | "
        self.reader = threading.Thread(target=self._relay, args=(prefix,), daemon=True)
        self.reader.start()

    def _relay(self, prefix: str) -> None:
        for line in self.proc.stdout:
            say(prefix + line.rstrip("\n"))

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


def setup_command(args: list[str], env: dict, what: str, stdin: str = "") -> str:
    """Run a flask CLI step to completion, ``stdin`` on its stdin; its stdout, or SetupFailed."""
    result = subprocess.run([*FLASK, *args], cwd=ROOT, env=env, input=stdin, stdout=subprocess.PIPE, text=True)
    if result.returncode != 0:
        sys.stdout.write(result.stdout)
        raise SetupFailed(f"{what} failed ({describe_exit(result.returncode)}): flask --app webapp {' '.join(args)}")
    return result.stdout


def seed_demo(env: dict) -> tuple[str, str]:
    """Seed the demo data; the (login, password) from its last line, `LOGIN <login> <password>`."""
    out = setup_command(["seed-demo", "--print-login"], env, "Seeding the demo data")
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


def start(children: list[Child], simulators: dict[str, dict], env: dict) -> tuple[str, str]:
    """Steps 2 to 4: the simulators, the database and demo data, then the other children.
    The demo login, from `seed-demo`."""
    shops = [c for c in children if c.name.endswith(SIM_SUFFIX)]
    for child in shops:  # before any thread: die_with_parent needs none running
        child.spawn(env)
    for platform, sim in simulators.items():
        wait_for_http(sim_url(sim) + "/_sim/stats", shops, what=f"The {platform} simulator")
    say("Applying database migrations...")
    setup_command(["db", "upgrade"], env, "Applying the migrations")
    say("Seeding the demo data...")
    login, password = seed_demo(env)
    for line in setup_command(["stores", "demo"], env, "Connecting the demo stores",
                              stdin=demo_shops(simulators)).splitlines():
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
               "ALLOW_PRIVATE_SHOP_ADDRESSES": "1"}  # R-SEC-1: the demo shops are on loopback
        say(f"Redis: {redis.url}" + (" (started for this run)" if redis.started else ""))
        simulators = demo_simulators()
        children = [Child(name, argv, stdin) for name, argv, stdin in process_specs(port, simulators)]
        login, password = start(children, simulators, env)
        url = f"http://127.0.0.1:{port}/"
        wait_for_http(url, children)
        rule = "=" * 72
        say(f"\n{rule}\n  Orderdock is running.\n"
            f"  Sign in at {url} as {login} / {password}\n"
            f"  Demo shops: change one on its page; the next sync (every 5 minutes) brings it in:\n"
            f"{demo_pages(simulators)}"
            f"  Ctrl-C to stop.\n{rule}\n")
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


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == DIE_WITH:
        exec_dying_with(int(sys.argv[2]), sys.argv[3:])
    sys.exit(main())
