"""Anonymous visitors land on the login page; a POST without a CSRF token is refused; the pages
work under the Content-Security-Policy (R-SEC-4), which no other site can frame them past."""
import threading
from contextlib import contextmanager

import pytest
from playwright.sync_api import expect
from werkzeug.serving import make_server

from e2e.conftest import follow, screenshot, swapped
from simulators.woocommerce import CONSUMER_KEY, CONSUMER_SECRET
from tests.support.simulators import serving
from webapp.extensions import db
from webapp.models import RunKind, RunState, Store, SyncRun
from webapp.models.types import utcnow
from webapp.stores_cli import StoreSpec, connect


def test_anonymous_visit_is_sent_to_the_login_page(page, base_url):
    page.goto(f"{base_url}/orders/1")
    expect(page).to_have_url(f"{base_url}/login?next=%2Forders%2F1")
    expect(page.get_by_text("Please sign in to continue.")).to_be_visible()
    screenshot(page, "login")


def test_post_without_csrf_token_is_refused(page, sign_in, base_url):
    sign_in()
    response = page.request.post(f"{base_url}/orders/1/comments", form={"text": "forged"})
    assert response.status == 400
    assert "security token" in response.text()
    page.goto(f"{base_url}/orders/1")
    expect(page.get_by_text("forged")).to_have_count(0)


def test_engineer_cannot_open_an_order_of_another_location(page, sign_in, base_url):
    sign_in("erik")
    expect(page.get_by_text("City shop")).to_have_count(0)
    page.goto(f"{base_url}/orders/2")  # the demo puts every second order in City shop
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    expect(page.get_by_text("a location you have no access to")).to_be_visible()


# --- R-SEC-4: the Content-Security-Policy in a real browser -------------------------------------

# Runs in every document before its scripts: hands each CSP violation to the test (a binding
# survives navigations; a list in `window` would not).
CSP_WATCH = """
window.__csp = {seen: 0, reported: 0};
document.addEventListener("securitypolicyviolation", async (event) => {
  window.__csp.seen += 1;
  await window.__cspViolation(`${event.effectiveDirective} refused ${event.blockedURI || "inline"} ` +
                              `in ${event.sourceFile || document.location.pathname}:${event.lineNumber} ${event.sample}`);
  window.__csp.reported += 1;
});
"""


def reported(page) -> None:
    """Wait until every violation this document saw has reached the test."""
    page.wait_for_function("() => window.__csp.reported === window.__csp.seen")


@pytest.fixture
def csp_report(context, page):
    """Every CSP violation the pages report (their `securitypolicyviolation` events and Chromium's
    console lines about the policy) and every uncaught script error."""
    report = {"violations": [], "console": [], "errors": []}
    context.expose_function("__cspViolation", lambda text: report["violations"].append(text))
    context.add_init_script(CSP_WATCH)

    def on_console(message):
        if "Content Security Policy" in message.text:
            report["console"].append(message.text)
    page.on("console", on_console)
    page.on("pageerror", lambda error: report["errors"].append(str(error)))
    return report


@contextmanager
def store_with_a_running_import(live_app, name: str):
    """A disabled WooCommerce store (nothing may start a real sync of it) whose import stays half
    done (a run that stays `running`), so its page shows the self-polling progress panel and its
    bar; yields (store id, run id), and deletes the store (soft) at the end."""
    with serving("woocommerce", orders=1) as sim, live_app.app_context():
        spec = StoreSpec("woocommerce", name, sim.url, "Main workshop", "Online order",
                         {"consumer_key": CONSUMER_KEY, "consumer_secret": CONSUMER_SECRET}, guess_statuses=True)
        store = connect(spec)
        store.enabled = False
        db.session.add(store)
        db.session.flush()
        run = SyncRun(store_id=store.id, kind=RunKind.INITIAL, state=RunState.RUNNING, started_at=utcnow(),
                      fetched=10, expected=40)
        db.session.add(run)
        db.session.commit()
        store_id, run_id = store.id, run.id
        db.session.remove()
    yield store_id, run_id
    with live_app.app_context():
        db.session.get(SyncRun, run_id).state = RunState.SUCCEEDED
        db.session.get(Store, store_id).deleted_at = utcnow()
        db.session.commit()
        db.session.remove()


@pytest.fixture(scope="module")
def store_in_progress(live_app):
    with store_with_a_running_import(live_app, "CSP shop") as (store_id, _):
        yield store_id


def test_R_SEC_4_pages_work_under_the_policy(page, sign_in, base_url, csp_report, store_in_progress):
    """The key pages as an administrator, with their htmx features used (filters, select-all,
    the order's feed, searches, the wizard's platform switch, the store's polling progress panel,
    an htmx error answer shown by app.js): the policy refuses nothing they do, and htmx (from its
    CDN URL, checked by SRI) still runs. Chosen: any CSP report fails, also one from a page that
    would still look right."""
    response = page.goto(f"{base_url}/login")
    assert "frame-ancestors 'none'" in response.headers.get("content-security-policy", "")
    sign_in()

    # Orders: a filter swap, the select-all checkbox (was an inline onclick), sorting.
    rows = page.locator("table.orders tbody tr")
    with swapped(page, "status="):
        page.get_by_label("Status").select_option(label="New")
    with swapped(page, "/orders/"):  # the table is swapped again: tick only the new one
        page.get_by_label("Status").select_option(label="All statuses")
    expect(rows.first).to_be_visible()
    select_all = page.get_by_label("Select every order on this page")
    ticks = page.locator("#bulk-form input[name=order_ids]")
    select_all.check()
    for index in range(ticks.count()):
        expect(ticks.nth(index)).to_be_checked()
    select_all.uncheck()
    for index in range(ticks.count()):
        expect(ticks.nth(index)).not_to_be_checked()
    with swapped(page, "sort=old"):
        page.get_by_title("Sort by date").click()
    screenshot(page, "csp-orders")

    # An order: its feed, a comment sent through htmx, the add-item form, an htmx error answer.
    follow(page, page.locator("table.orders tbody tr").first.get_by_role("link").first)
    expect(page.locator("#feed")).to_be_visible()
    page.get_by_label("Comment").fill("Checked under the CSP.")
    page.get_by_role("button", name="Add comment").click()
    expect(page.locator("#feed .entry").first).to_contain_text("Checked under the CSP.")
    page.get_by_text("Add a product or service").click()
    expect(page.get_by_label("Product")).to_be_visible()
    page.evaluate("htmx.ajax('GET', '/orders/999999', {target: '#order', swap: 'none'})")
    expect(page.locator("#flashes .flash-error")).to_have_text("There is no such order. It may have been deleted.")
    follow(page, page.get_by_role("link", name="Orders", exact=True))
    follow(page, page.get_by_role("link", name="+ Order"))

    # Clients and products: searches swap their tables.
    follow(page, page.get_by_role("link", name="Clients"))
    with swapped(page, "q=Weber"):
        page.get_by_label("Search").fill("Weber")
    follow(page, page.get_by_role("link", name="Jonas Weber").first)  # a shop may have a buyer of that name too
    follow(page, page.get_by_role("link", name="Products"))
    with swapped(page, "q=BAT-"):
        page.get_by_label("Search").fill("BAT-")

    # Settings: statuses (coloured badges), employees, an employee, stores, the wizard.
    follow(page, page.get_by_role("link", name="Settings"))
    follow(page, page.locator(".subnav").get_by_role("link", name="Statuses"))
    badge = page.locator("table .badge").first
    assert badge.evaluate("b => getComputedStyle(b).backgroundColor") != "rgba(0, 0, 0, 0)", "badge lost its colour"
    follow(page, page.locator(".subnav").get_by_role("link", name="Employees"))
    follow(page, page.locator("tr", has_text="Maria Manager").get_by_role("link", name="Edit"))
    follow(page, page.locator(".subnav").get_by_role("link", name="Stores"))
    follow(page, page.get_by_role("link", name="+ Store").first)
    with swapped(page, "/settings/stores/form"):
        page.get_by_label("Platform").select_option("shopify")
    expect(page.get_by_label("Admin API access token", exact=True)).to_be_visible()
    with swapped(page, "/settings/stores/form"):
        page.get_by_label("Location").select_option(label="Main workshop")
    expect(page.get_by_label("Maria Manager")).to_be_visible()

    # A store page whose progress panel polls, its log and its delete confirmation.
    page.goto(f"{base_url}/settings/stores/{store_in_progress}")
    with swapped(page, f"/settings/stores/{store_in_progress}/progress"):
        expect(page.locator("#progress progress")).to_have_attribute("value", "25")
    screenshot(page, "csp-store-progress")
    follow(page, page.get_by_role("link", name="Sync log").first)
    page.goto(f"{base_url}/settings/stores/{store_in_progress}/delete")
    expect(page.get_by_role("heading", name="Delete the store CSP shop?")).to_be_visible()

    # An error page's "Go back" (was a javascript: link).
    page.goto(f"{base_url}/orders/999999")
    page.get_by_role("link", name="← Go back").click()
    expect(page.get_by_role("heading", name="Delete the store CSP shop?")).to_be_visible()

    page.wait_for_function("() => window.__e2e.ready && window.htmx !== undefined")  # htmx ran: CDN URL, SRI hash
    reported(page)
    assert csp_report == {"violations": [], "console": [], "errors": []}


def test_R_SEC_4_the_browser_enforces_the_policy(page, sign_in, base_url, csp_report):
    """The control for the test above: a script added to the page is refused and reported, so
    "no violation" there means the pages obeyed the policy, not that none was in force."""
    sign_in()
    page.evaluate("""() => { const s = document.createElement('script');
                             s.textContent = 'window.__injected = true'; document.body.append(s); }""")
    assert page.evaluate("window.__injected === undefined"), "an added inline script ran: no CSP in force"
    page.wait_for_function("() => window.__csp.seen > 0")
    reported(page)
    assert any(v.startswith("script-src-elem refused inline") for v in csp_report["violations"]), csp_report


@contextmanager
def another_site(html: str):
    """A page on another origin and site (``localhost`` on a port of its own), served from
    loopback: Chromium refuses a page the test fulfils itself to frame a loopback address."""
    def answer(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
        return [html.encode()]
    server = make_server("127.0.0.1", 0, answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{server.server_port}/"
    finally:
        server.shutdown()
        thread.join(timeout=5)


def test_R_SEC_4_the_delete_confirmation_cannot_be_framed(page, sign_in, base_url, store_in_progress):
    """Finding 5: another site framing the delete confirmation (a click-jacking set-up) gets an
    empty frame (`frame-ancestors 'none'`, and `X-Frame-Options: DENY` for older browsers). The
    session cookie is SameSite=Lax, so a frame on another site gets the login page; a frame on a
    sibling subdomain (same site) would get the confirmation itself: neither is shown."""
    sign_in()
    target = f"{base_url}/settings/stores/{store_in_progress}/delete"
    with another_site(f'<p>Win a prize!</p><iframe id="victim" src="{target}"></iframe>') as framer:
        with page.expect_response(lambda response: response.url.startswith(f"{base_url}/login")) as answer:
            page.goto(framer)  # returns once the frame has loaded, or been refused
    assert answer.value.status == 200  # the server answered; the browser refused to show it
    expect(page.get_by_text("Win a prize!")).to_be_visible()
    frame = page.frame_locator("#victim")
    expect(frame.get_by_role("button")).to_have_count(0)
    expect(frame.get_by_role("textbox")).to_have_count(0)


def test_R_SEC_4_error_answers_are_read_without_running_them(page, sign_in, base_url, csp_report):
    """Finding 10: app.js reads the server's message out of an htmx error answer. It parses the
    answer into an inert document (DOMParser), so markup in it loads and runs nothing, even if
    an answer one day carried unescaped text. (The policy refuses, and reports, the handler in
    it as well; the point here is that nothing is even fetched.)"""
    sign_in()
    fetched = []
    page.on("request", lambda request: fetched.append(request.url) if "finding-10" in request.url else None)
    page.evaluate("""() => document.body.dispatchEvent(new CustomEvent('htmx:responseError', {bubbles: true,
        detail: {xhr: {status: 400, responseText:
          '<img src="/static/finding-10.png" onerror="window.__ran = true">' +
          '<p class="error-message">The order changed meanwhile.</p>'}}}))""")
    expect(page.locator("#flashes .flash-error")).to_have_text("The order changed meanwhile.")
    assert page.evaluate("window.__ran === undefined")
    page.goto(f"{base_url}/orders/")  # anything the answer started has had its chance by now
    assert fetched == []
    assert csp_report["errors"] == []
