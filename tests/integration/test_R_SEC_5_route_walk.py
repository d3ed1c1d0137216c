"""R-SEC-5: every route checks sign-in, role, location access and the R-ORD-5 permission on the
server. The walk is generated from the app's URL map, so a new route cannot be forgotten: every
rule, every method, its parameters filled with real ids from one seeded database (objects at the
location the engineers and the manager work at, "mine", and at one they cannot access,
"theirs"), requested as each role and compared with EXPECTED, keyed by endpoint name. An
endpoint missing from EXPECTED fails the test, asking for its row.

Roles: anonymous (a redirect to the sign-in page; with HX-Request a 401 is accepted too), an
engineer without the R-ORD-5 permission ("plain"), one with it ("trusted"), a manager (with it)
and an administrator. The engineers and the manager work at the main location only.

Outcomes: OK means the checks let the request through — the page, a redirect (not to sign-in),
or a refusal for a reason of the request itself (409: nothing to update; 422: the form's errors);
403 and 404 are what the table says. No response may be a 500.

CSRF is switched off for this app (it is tested in test_auth.py and e2e): POSTs carry no data,
so forms fail validation and change nothing, except buttons that take no fields (write-off,
update, sync, switch, delete, sign-out), whose effects the seed is built to absorb: they run
after every GET, and the store deletion and the sign-outs last of all. One app, one SQLite
database, about six hundred requests (a few seconds).
"""
from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest
from flask import url_for

from tests.integration.conftest import _empty_tables
from tests.support import factories
from webapp import create_app
from webapp.extensions import db
from webapp.models import ImportState, Notification, Role, RunKind, RunState, Store, SyncRun

OK, DENIED, MISSING, LOGIN = "ok", 403, 404, "login"
SIGNED_IN = ("plain", "trusted", "manager", "admin")
OK_STATUSES = {200, 204, 286, 302, 303, 409, 422}


def every(outcome=OK) -> dict:
    return dict.fromkeys(SIGNED_IN, outcome)


def roles(plain, trusted, manager, admin=OK) -> dict:
    return {"plain": plain, "trusted": trusted, "manager": manager, "admin": admin}


ADMIN_ONLY = roles(DENIED, DENIED, DENIED)
R_ORD_5 = roles(DENIED, OK, OK)  # an imported order at my location: changed only with the permission

# Orders: mine-local and mine-imported at the main location, theirs-* at the branch.
ORDER_VIEW = {"mine-local": every(), "mine-imported": every(), "theirs-local": ADMIN_ONLY,
              "theirs-imported": ADMIN_ONLY}
ORDER_CHANGE = {**ORDER_VIEW, "mine-imported": R_ORD_5}
CLIENT = {"mine": every(), "fresh": every(), "theirs": ADMIN_ONLY}

# endpoint -> {variant: {role: outcome}}; "*" stands for every variant. Anonymous gets LOGIN
# unless the endpoint is in PUBLIC. A variant names the filler of each URL parameter, joined by
# "+" in the order of the parameters' names.
EXPECTED: dict[str, dict[str, dict]] = {
    "home": {"*": every()},
    "static": {"*": every()},
    "status_colors": {"*": every()},  # the statuses' colours as a stylesheet (R-SEC-4: no inline styles)
    "system.health": {"*": every()},
    "auth.login": {"*": every()},
    "auth.logout": {"*": every(LOGIN)},
    "orders.index": {"*": every()},
    "orders.new": {"*": every()},
    "orders.detail": ORDER_VIEW,
    "orders.comment": ORDER_CHANGE,
    "orders.change_status": ORDER_CHANGE,
    "orders.add_item": ORDER_CHANGE,
    "orders.write_off": ORDER_CHANGE,
    "orders.update_one": ORDER_CHANGE,
    "orders.update_selected": {"*": every()},
    "orders.push_state": ORDER_VIEW,  # polled by the order page while a status push is on its way
    "orders.update_progress": {
        "mine-local+run-mine": every(),         # 409: not an imported order
        "mine-local+run-theirs": every(),       # 409 as well, before the run is looked at
        "mine-imported+run-mine": every(),
        "mine-imported+run-theirs": every(MISSING),  # finding 7: another store's run
        "theirs-local+run-mine": ADMIN_ONLY,
        "theirs-local+run-theirs": ADMIN_ONLY,
        "theirs-imported+run-mine": roles(DENIED, DENIED, DENIED, MISSING),
        "theirs-imported+run-theirs": ADMIN_ONLY,
    },
    "clients.index": {"*": every()},
    "clients.new": {"*": every()},
    "clients.detail": CLIENT,
    "clients.edit": CLIENT,
    "products.index": {"*": every()},
    "products.new": {"*": every()},
    "products.detail": {"*": every()},
    "products.edit": {"*": every()},
    "notifications.index": {"*": every()},
    "notifications.count": {"*": every()},
    "notifications.open_order": {"managers": roles(MISSING, MISSING, OK, MISSING),
                                 "admins": roles(MISSING, MISSING, MISSING, OK)},
    **{f"settings.{name}": {"*": ADMIN_ONLY} for name in (
        "index", "area", "edit", "employees", "new_employee", "edit_employee", "end_employee_sessions",
        "operations")},
    **{f"stores.{name}": {"*": ADMIN_ONLY} for name in (
        "index", "new", "edit", "refresh_form", "mapping", "detail", "progress_panel", "sync_now", "switch",
        "delete", "log")},
    # R-HOOK-2: the shops' webhooks need no sign-in but a signature; the walk sends none.
    "hooks.receive": {"*": every(401)},
}
PUBLIC = {"static", "system.health", "auth.login", "hooks.receive"}
PUBLIC_OUTCOME = {"hooks.receive": 401}  # what a public endpoint answers the walk, when not OK
# Run after everything else, in this order: they end what later requests need (a store, a session).
LAST = [("stores.delete", "POST"), ("settings.end_employee_sessions", "POST"), ("auth.logout", "POST")]


class Seed:
    """The objects behind the URL parameters, at the engineers' location and at another one."""

    def __init__(self):
        main, branch = factories.location("Main workshop"), factories.location("City shop")
        repair = factories.order_type(factories.status("New"), "Repair")
        admin = factories.employee("admin")
        self.plain = factories.employee("plain", Role.ENGINEER, [main], can_add_without_deduction=False)
        factories.employee("trusted", Role.ENGINEER, [main], can_add_without_deduction=True)
        manager = factories.employee("manager", Role.MANAGER, [main], can_add_without_deduction=True)
        self.bystander = factories.employee("bystander", Role.ENGINEER, [main])
        stores = {name: factories.add(Store(platform="woocommerce", name=f"{name} shop", url=f"http://127.0.0.1:{n}",
                                            location=where, order_type=repair, import_state=ImportState.DONE))
                  for n, (name, where) in enumerate((("mine", main), ("theirs", branch)), start=1)}
        self.clients = {"mine": factories.client("Mia", "Main", "+49 30 1111111"),
                        "theirs": factories.client("Theo", "Branch", "+49 30 2222222"),
                        "fresh": factories.client("Finn", "Fresh", "+49 30 3333333")}
        self.orders = {}
        for side, where in (("mine", main), ("theirs", branch)):
            buyer, store = self.clients[side], stores[side]
            self.orders[f"{side}-local"] = factories.order(where, repair, buyer)
            self.orders[f"{side}-imported"] = factories.order(where, repair, buyer, store=store, shop_id=store.shop_id,
                                                              external_id=f"{side}-1", platform_number=f"{side}-1")
        self.runs = {f"run-{side}": factories.add(SyncRun(store=store, kind=RunKind.SCHEDULED, state=RunState.FAILED,
                                                          error=f"{side} store's error"))
                     for side, store in stores.items()}
        self.stores = stores
        self.product = factories.product("Display")
        self.notifications = {
            "managers": factories.add(Notification(employee_id=manager.id, order_id=self.orders["mine-imported"].id)),
            "admins": factories.add(Notification(employee_id=admin.id, order_id=self.orders["theirs-imported"].id)),
        }
        self.location = main

    def fillers(self) -> dict[str, dict[str, object]]:
        """URL parameter name -> {variant: value}."""
        ids = lambda rows: {name: row.id for name, row in rows.items()}  # noqa: E731
        return {
            "order_id": ids(self.orders), "run_id": ids(self.runs), "client_id": ids(self.clients),
            "store_id": ids(self.stores), "notification_id": ids(self.notifications),
            "product_id": {"any": self.product.id}, "employee_id": {"bystander": self.bystander.id},
            "row_id": {"a location": self.location.id}, "area": {"locations": "locations"},
            "token": {"expired": "no-such-draft"}, "filename": {"app.css": "app.css"},
            "hook_token": {"mine": self.stores["mine"].hook_token}, "platform": {"woocommerce": "woocommerce"},
        }


@pytest.fixture
def walk_app(database_url, redis_url, redis, tmp_path):
    """The app with no app context left pushed: each request gets its own, as in production
    (a shared one would keep one employee's login in ``g`` for the next client's request)."""
    app = create_app({
        "SQLALCHEMY_DATABASE_URI": database_url, "REDIS_URL": redis_url, "SECRET_KEY": "test-secret",
        "INSTANCE_PATH": str(tmp_path / "instance"), "TESTING": True, "CURRENCY": "EUR",
        "TIMEZONE": "Europe/Berlin", "PHONE_REGION": "DE",
        "WTF_CSRF_ENABLED": False,       # CSRF has its own tests; here every POST reaches its view
        "PROPAGATE_EXCEPTIONS": False,   # an exception is a 500 in the report, not a stop
    })
    with app.app_context():
        _empty_tables()
    yield app
    with app.app_context():
        _empty_tables()
        db.engine.dispose()


def requests_to_make(app, fillers: dict) -> tuple[list[tuple], list[str]]:
    """(endpoint, method, variant, url) for every rule, method and filling; and what is missing."""
    planned, missing = [], []
    for rule in list(app.url_map.iter_rules()):
        names = sorted(rule.arguments)
        unknown = [name for name in names if name not in fillers]
        if unknown:
            missing.append(f"{rule.rule}: no filler for the parameter(s) {unknown}; add one to Seed.fillers")
            continue
        for choice in itertools.product(*(fillers[name].items() for name in names)):
            variant = "+".join(label for label, _ in choice) or "-"
            with app.test_request_context():
                url = url_for(rule.endpoint, **{name: value for name, (_, value) in zip(names, choice)})
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                planned.append((rule.endpoint, method, variant, url))
    last = {key: position for position, key in enumerate(LAST, start=1)}
    planned.sort(key=lambda item: (last.get((item[0], item[1]), 0), item[1] != "GET"))
    return planned, missing


def expected(endpoint: str, variant: str, role: str):
    row = EXPECTED[endpoint]
    outcomes = row.get(variant) or row.get("*")
    if outcomes is None:
        raise KeyError(variant)
    return outcomes[role]


def outcome_of(response) -> object:
    location = response.headers.get("Location", "")
    if response.status_code in (302, 303) and "/login" in location:
        return LOGIN
    if response.status_code in OK_STATUSES or _health_report(response):
        return OK
    return response.status_code


def _health_report(response) -> bool:
    """/healthz answers 503 with its report while no worker runs (none does in the walk)."""
    return response.status_code == 503 and response.is_json and "problems" in response.get_json()


def crashed(response) -> bool:
    return response.status_code >= 500 and not _health_report(response)


def signed_in_client(app, login: str):
    browser = app.test_client()
    response = browser.post("/login", data={"login": login, "password": factories.PASSWORD})
    assert response.status_code == 302, f"{login} could not sign in: {response.status_code}"
    return browser


def send(browser, method: str, url: str, **kwargs):
    return browser.open(url, method=method, **kwargs)


def anonymous_mismatches(app, planned) -> list[str]:
    """Signed out: the sign-in page (or 401 for htmx) everywhere but the public endpoints."""
    found = []
    for endpoint, method, variant, url in planned:
        for headers in ({}, {"HX-Request": "true"}):
            response = send(app.test_client(), method, url, headers=headers)
            got = outcome_of(response)
            wanted = PUBLIC_OUTCOME.get(endpoint, OK) if endpoint in PUBLIC else LOGIN
            if headers and wanted == LOGIN and response.status_code == 401:
                got = LOGIN
            if got != wanted or crashed(response):
                found.append(f"anonymous{' (htmx)' if headers else ''} {method} {url} [{endpoint} {variant}]: "
                             f"{response.status_code}, expected {wanted}")
    return found


def role_mismatches(app, planned, table_error: Callable[[str], None]) -> list[str]:
    browsers = {role: signed_in_client(app, role) for role in SIGNED_IN}
    found = []
    for endpoint, method, variant, url in planned:
        for role, browser in browsers.items():
            try:
                wanted = expected(endpoint, variant, role)
            except KeyError:
                table_error(f"{endpoint} (variant {variant!r}) is not in EXPECTED: add it to the table")
                break
            response = send(browser, method, url)
            got = outcome_of(response)
            if got != wanted or crashed(response):
                found.append(f"{role} {method} {url} [{endpoint} {variant}]: {response.status_code}, expected {wanted}")
    return found


def test_R_SEC_5_every_route_checks_sign_in_role_location_and_permission(walk_app):
    with walk_app.app_context():
        fillers = Seed().fillers()
    planned, missing = requests_to_make(walk_app, fillers)
    unknown = sorted({endpoint for endpoint, *_ in planned if endpoint not in EXPECTED})
    assert not missing, "\n".join(missing)
    assert not unknown, f"New endpoints {unknown}: add each to the table EXPECTED (who may use it) in {__file__}"

    table_errors: list[str] = []
    found = anonymous_mismatches(walk_app, planned) + role_mismatches(walk_app, planned, table_errors.append)
    assert not table_errors, "\n".join(sorted(set(table_errors)))
    assert not found, f"{len(found)} of the route walk's answers differ from EXPECTED:\n" + "\n".join(found)
    assert not [e for e in EXPECTED if e not in {p[0] for p in planned}], "EXPECTED names endpoints that are gone"
