"""Browser tests: the app served on a free loopback port from a file database, Debian's Chromium
driven by pytest-playwright, and htmx loaded from its CDN URL with its SRI hash — the test browser
answers that URL with the same file fetched once from the npm registry, so the hash is checked.

Every wait is on the page's state (``expect``) or on htmx's own events (the helpers ``follow``
and ``swapped``), never on a fixed delay: the tests must hold on a busy machine."""
from __future__ import annotations

import base64
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect
from werkzeug.serving import make_server

from tests.support.services import migrate_database
from webapp import create_app
from webapp.extensions import db
from webapp.templating import HTMX_SRI, HTMX_URL, HTMX_VERSION

E2E = Path(__file__).resolve().parent
ARTIFACTS = E2E / "artifacts"
CACHE = E2E / ".cache"
CHROMIUM = "/usr/bin/chromium"

# Upper bounds, not pacing: on a loaded 2-core machine (an import running, other suites beside)
# one page or swap can take several seconds, more than Playwright's 5 s default for `expect`.
EXPECT_TIMEOUT_MS = 20_000
ACTION_TIMEOUT_MS = 30_000
NAVIGATION_TIMEOUT_MS = 60_000
expect.set_options(timeout=EXPECT_TIMEOUT_MS)

# Runs in every document before its own scripts: records when htmx has processed the page
# (its `htmx:load` on <body>, fired after every trigger is attached: a change or an input
# before that is lost) and the request path of every swap htmx settles.
HTMX_WATCH = """
window.__e2e = {ready: false, settled: []};
document.addEventListener("htmx:load", (event) => {
  if (event.target === document.body) window.__e2e.ready = true;
});
document.addEventListener("htmx:afterSettle", (event) => {
  window.__e2e.settled.push(event.detail.pathInfo.finalRequestPath);
});
"""


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing: run `make test` (it installs it) or `apt-get install chromium`.")
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": [
        "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]}


@pytest.fixture(scope="session")
def htmx_file() -> bytes:
    """htmx.min.js from the npm registry (cached in e2e/.cache), checked against our SRI hash."""
    cached = CACHE / f"htmx-{HTMX_VERSION}.min.js"
    if not cached.exists():
        _fetch_htmx(cached)
    body = cached.read_bytes()
    digest = "sha384-" + base64.b64encode(hashlib.sha384(body).digest()).decode()
    assert digest == HTMX_SRI, f"htmx {HTMX_VERSION} from npm hashes to {digest}, the page expects {HTMX_SRI}"
    return body


def _fetch_htmx(target: Path) -> None:
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is needed once to fetch htmx for the browser tests: apt-get install npm")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([npm, "pack", f"htmx.org@{HTMX_VERSION}", "--silent"], cwd=tmp, check=True,
                       capture_output=True, timeout=120)
        with tarfile.open(next(Path(tmp).glob("htmx.org-*.tgz"))) as archive:
            member = archive.extractfile("package/dist/htmx.min.js")
            target.parent.mkdir(parents=True, exist_ok=True)
            # Written aside and renamed: the parallel test processes may fetch at once, and none
            # may read a half-written file.
            partial = target.with_name(f"{target.name}.{os.getpid()}.part")
            partial.write_bytes(member.read())
            os.replace(partial, target)


@pytest.fixture(scope="session")
def live_app(tmp_path_factory, redis_url):
    """The real app on a SQLite file, migrated and seeded with the demo data."""
    folder = tmp_path_factory.mktemp("e2e")
    url = f"sqlite:///{folder / 'orderdock.db'}"
    migrate_database(url, tmp_path_factory)
    # A Redis database of its own: the e2e worker must never take the integration tests' jobs.
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "REDIS_URL": redis_url.rsplit("/", 1)[0] + "/1",
                      "SECRET_KEY": "e2e-secret",
                      "INSTANCE_PATH": str(folder / "instance"), "CURRENCY": "EUR", "TIMEZONE": "Europe/Berlin"})
    with app.app_context():
        from webapp.demo import seed
        app.config["DEMO_PASSWORD"] = seed()
        db.session.remove()
    return app


@pytest.fixture(scope="session")
def base_url(live_app):
    """Serve the app on a free loopback port for the whole session (pytest-playwright reads base_url)."""
    server = make_server("127.0.0.1", 0, live_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture(autouse=True)
def slow_browser(context):
    """E2E_CPU_SLOWDOWN=N runs the pages' scripts N times slower (Chromium's CPU throttling), to
    reproduce the busy machine the waits must hold on, without needing one."""
    rate = float(os.environ.get("E2E_CPU_SLOWDOWN", "1"))
    if rate > 1:
        throttle = lambda page: context.new_cdp_session(page).send(  # noqa: E731
            "Emulation.setCPUThrottlingRate", {"rate": rate})
        context.on("page", throttle)
        for page in context.pages:
            throttle(page)
    yield


@pytest.fixture(autouse=True)
def offline_browser(context, htmx_file):
    """Nothing leaves loopback: every other URL is refused, the htmx CDN URL gets the npm file
    (``E2E_CDN=blocked`` refuses it too: the whole suite on the app's own copy of htmx). The route
    registered last wins, so the catch-all goes first."""
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    context.set_default_navigation_timeout(NAVIGATION_TIMEOUT_MS)
    context.add_init_script(HTMX_WATCH)
    context.route("**/*", lambda route: route.continue_() if _is_loopback(route.request.url) else route.abort())
    if os.environ.get("E2E_CDN") == "blocked":  # every browser test as on a machine without internet
        context.route(HTMX_URL, _refuse)
    else:
        context.route(HTMX_URL, lambda route: route.fulfill(status=200, body=htmx_file,
                                                           headers={"Content-Type": "application/javascript",
                                                                    "Access-Control-Allow-Origin": "*"}))
    yield


@pytest.fixture
def cdn_blocked(context, offline_browser):
    """The htmx CDN out of reach, as where there is no internet: its URL is refused (this route is
    registered after offline_browser's, so it wins) and the pages must fall back on the copy the
    app serves itself (static/vendor/, loaded by app.js)."""
    context.route(HTMX_URL, _refuse)
    yield


def _refuse(route) -> None:
    route.abort("internetdisconnected")


def _is_loopback(url: str) -> bool:
    return url.startswith(("http://127.0.0.1", "http://localhost"))


@pytest.fixture(scope="session")
def worker(live_app):
    """`worker.py work` on the live app's database, Redis and instance folder (its encryption
    key), as `make run` starts it; stopped at the end of the session."""
    config = live_app.config
    env = {**os.environ, "DATABASE_URL": config["SQLALCHEMY_DATABASE_URI"], "REDIS_URL": config["REDIS_URL"],
           "INSTANCE_PATH": live_app.instance_path, "SECRET_KEY": config["SECRET_KEY"],
           "CURRENCY": "EUR", "TIMEZONE": "Europe/Berlin", "PYTHONUNBUFFERED": "1"}
    log = (ARTIFACTS.parent / ".cache")
    log.mkdir(exist_ok=True)
    with open(log / "worker.log", "w") as output:
        proc = subprocess.Popen([sys.executable, "worker.py", "work"], cwd=E2E.parent, env=env,
                                stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
        yield proc
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


@pytest.fixture
def demo_password(live_app) -> str:
    return live_app.config["DEMO_PASSWORD"]


@pytest.fixture
def sign_in(page, base_url, demo_password):
    def sign_in_as(login: str = "admin", password: str | None = None):
        page.goto(f"{base_url}/login")
        page.get_by_label("Login").fill(login)
        page.get_by_label("Password").fill(password or demo_password)
        follow(page, page.get_by_role("button", name="Sign in"))
        expect(page).to_have_url(f"{base_url}/orders/")
    return sign_in_as


def follow(page, locator) -> None:
    """Click what loads another page (a link, a plain form's button) and wait until htmx has
    processed that new page: the old one is marked first, so it cannot pass for the new one."""
    page.evaluate("() => { if (window.__e2e) window.__e2e.left = true; }")
    locator.click()
    _wait(page, "() => window.__e2e && window.__e2e.ready && !window.__e2e.left", None,
          f"the page after clicking {locator} to load with htmx")


@contextmanager
def swapped(page, path: str):
    """Wait, after the block, until htmx has settled a swap from a request whose path (with its
    query, decoded: ``q=0151 2345``) contains ``path``. Counted from before the block, so a
    quick swap is never missed, and an older swap from the same path never counts."""
    seen = page.evaluate("window.__e2e.settled.length")
    yield
    _wait(page, "([seen, path]) => window.__e2e.settled.slice(seen)"
                ".some((p) => decodeURIComponent(p).includes(path))",
          [seen, path], f"htmx to swap in the answer to a request to {path!r}")


def _wait(page, condition: str, arg, what: str) -> None:
    """``condition`` is a function: Playwright evaluates its text once, while it is allowed to
    (R-SEC-4's policy has no 'unsafe-eval'), then calls it; a bare expression it evaluates again
    on every poll, which the policy refuses."""
    try:
        page.wait_for_function(condition, arg=arg)
    except PlaywrightError as error:
        pytest.fail(f"timed out waiting for {what}: {error.message.splitlines()[0]}")


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
