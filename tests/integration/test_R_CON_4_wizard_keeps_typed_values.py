"""R-CON-4: a failed Next "keeps the user on step 1 with what they typed", and so does Back from
step 2 — every field, the password included. R-CON-8 still holds: a secret is never sent back to
the browser. It is kept server-side instead (encrypted in Redis, like the step-1 draft), the
field says it is kept, and leaving it empty uses it.

Choices where the rule is silent: a kept secret is what was typed last (a wrong password is kept
too: the login may be the wrong half); typing into a secret field replaces the kept value; the
messages of a failed live check are the wizard's own (nothing is saved yet, so no "the sync tries
again" and no "edit the store"), one message per problem."""
from __future__ import annotations

import html
import re
from collections import Counter

import pytest
from sqlalchemy import select

from tests.integration.conftest import post, sign_in
from tests.support import factories
from tests.support.services import free_port
from tests.support.simulators import serving
from tests.integration.test_stores import chosen_statuses
from webapp.extensions import db
from webapp.models import Role, StatusGroup, Store
from webapp.store_setup import SHOP_COUNTRY

PASSWORD = "cartum-demo"
WRONG = "typo-Pa55-secret"


@pytest.fixture
def office(world):
    factories.status("Closed", StatusGroup.CLOSED_SUCCESS)
    factories.status("Cancelled", StatusGroup.CLOSED_FAIL)
    world.manager = factories.employee("mira", Role.MANAGER, [world.main])
    return world


def typed(world, url: str, **changes) -> dict:
    """Step 1 of a Cartum store with every field set away from its default."""
    values = {"platform": "cartum", "name": "Kyiv gadgets", "url": url, "credential_login": "manager",
              "credential_password": PASSWORD, "location_id": world.main.id, "order_type_id": world.repair.id,
              "language": "ua", "identify_by": "article", "timezone": "Europe/Warsaw", "country": "PL",
              "managers": "selected", "manager_ids": world.manager.id}
    values.update(changes)  # "enabled" left out: the box is unticked, and must stay so
    return {key: value for key, value in values.items() if value is not None}


def draft_of(page: str) -> str:
    match = re.search(r'<input[^>]*name="draft"[^>]*>', page)
    assert match, "no draft field on step 1"
    value = re.search(r'value="([^"]*)"', match.group(0))
    assert value and value.group(1), match.group(0)
    return value.group(1)


def input_value(page: str, name: str) -> str | None:
    tag = re.search(rf'<input[^>]*name="{name}"[^>]*>', page)
    assert tag, f"no input {name}"
    value = re.search(r'value="([^"]*)"', tag.group(0))
    return html.unescape(value.group(1)) if value else None


def selected(page: str, name: str) -> str:
    select_tag = re.search(rf'<select[^>]*name="{name}"[^>]*>(.*?)</select>', page, re.S)
    assert select_tag, f"no select {name}"
    chosen = re.search(r'<option[^>]*selected[^>]*value="([^"]*)"|<option[^>]*value="([^"]*)"[^>]*selected',
                       select_tag.group(1))
    assert chosen, f"nothing selected in {name}"
    return chosen.group(1) or chosen.group(2)


def checked(page: str, name: str) -> set[str]:
    tags = re.findall(rf'<input[^>]*name="{name}"[^>]*>', page)
    return {re.search(r'value="([^"]*)"', tag).group(1) for tag in tags if re.search(r"\bchecked\b", tag)}


def assert_everything_kept(page: str, world, name: str, url: str) -> None:
    """Every step-1 field as ``typed`` set it; the password kept but not in the page."""
    assert input_value(page, "name") == name
    assert input_value(page, "url") == url
    assert input_value(page, "credential_login") == "manager"
    assert selected(page, "location_id") == str(world.main.id)
    assert selected(page, "order_type_id") == str(world.repair.id)
    assert selected(page, "language") == "ua"
    assert selected(page, "identify_by") == "article"
    assert input_value(page, "timezone") == "Europe/Warsaw"
    assert selected(page, "country") == "PL"
    assert checked(page, "managers") == {"selected"}
    assert checked(page, "manager_ids") == {str(world.manager.id)}
    assert checked(page, "enabled") == set()
    assert_password_kept_not_shown(page)


def assert_password_kept_not_shown(page: str) -> None:
    assert PASSWORD not in page and WRONG not in page  # R-CON-8
    password = re.search(r'<input[^>]*name="credential_password"[^>]*>', page).group(0)
    assert input_value(page, "credential_password") in (None, ""), password
    assert "kept" in (re.search(r'placeholder="([^"]*)"', password) or [""])[0], password
    assert "leave it empty to use it" in page


def field_errors(page: str) -> Counter:
    """How many error lines each field shows."""
    return Counter(re.findall(r'<p class="error" id="([\w-]+)-error"', page))


def connect_error(page: str) -> str:
    found = re.findall(r'id="connect-error">(.*?)</div>', page, re.S)
    assert len(found) == 1, found
    return html.unescape(found[0]).strip()


def step_two(client, location: str):
    """Step 2 saved with its suggested mapping; the saved store."""
    page = client.get(location).get_data(as_text=True)
    chosen = chosen_statuses(page)
    saved = post(client, location, chosen)
    assert saved.status_code == 302, saved.get_data(as_text=True)
    return db.session.scalar(select(Store).order_by(Store.id.desc()))


@pytest.mark.parametrize("failure", ["name of 65 characters", "unreachable shop", "wrong password"])
def test_R_CON_4_a_failed_next_keeps_every_field_and_the_password(client, office, redis, failure):
    """Next fails three ways; each time the page shows every field as typed, the password not
    in the page but marked kept; the next Next with the password field left empty uses it."""
    sign_in(client, "admin")
    with serving("cartum", orders=3) as sim:
        wrong = {"name of 65 characters": {"name": "K" * 65},
                 "unreachable shop": {"url": f"http://127.0.0.1:{free_port()}"},
                 "wrong password": {"credential_password": WRONG}}[failure]
        first = post(client, "/settings/stores/new", typed(office, **{"url": sim.url, **wrong}))
        page = first.get_data(as_text=True)
        assert first.status_code == 422
        assert_everything_kept(page, office, wrong.get("name", "Kyiv gadgets"), wrong.get("url", sim.url))

        again = post(client, "/settings/stores/new", typed(
            office, sim.url, credential_password="", draft=draft_of(page)), page="/settings/stores/new")
        if failure == "wrong password":  # the kept one is used: still refused, not "enter the password"
            page = again.get_data(as_text=True)
            assert again.status_code == 422 and "refused the login" in connect_error(page)
            assert not field_errors(page)
            assert_everything_kept(page, office, "Kyiv gadgets", sim.url)
            again = post(client, "/settings/stores/new", typed(office, sim.url, draft=draft_of(page)))
        assert again.status_code == 302, again.get_data(as_text=True)
        store = step_two(client, again.headers["Location"])
    assert store.name == "Kyiv gadgets" and store.credentials == {"login": "manager", "password": PASSWORD}


def test_R_CON_4_back_from_step_two_keeps_every_field(client, office, redis):
    """Back from step 2 brings step 1 back as it was sent, the password kept (not shown); Next
    again without retyping it reaches step 2, and the store is saved with it."""
    sign_in(client, "admin")
    with serving("cartum", orders=3) as sim:
        first = post(client, "/settings/stores/new", typed(office, sim.url))
        assert first.status_code == 302, first.get_data(as_text=True)
        mapping = client.get(first.headers["Location"]).get_data(as_text=True)
        back = html.unescape(re.search(r'<a href="([^"]+)"[^>]*>Back</a>', mapping).group(1))
        page = client.get(back).get_data(as_text=True)
        assert_everything_kept(page, office, "Kyiv gadgets", sim.url)
        assert 'id="connect-error"' not in page and not field_errors(page)

        again = post(client, "/settings/stores/new", typed(office, sim.url, credential_password="",
                                                           name="Kyiv gadgets 2", draft=draft_of(page)), page=back)
        assert again.status_code == 302, again.get_data(as_text=True)
        store = step_two(client, again.headers["Location"])
    assert store.name == "Kyiv gadgets 2" and store.credentials == {"login": "manager", "password": PASSWORD}
    assert (store.language, store.identify_by, store.timezone, store.country, store.enabled) == \
        ("ua", "article", "Europe/Warsaw", "PL", False)
    assert [person.id for person in store.managers] == [office.manager.id]


def test_R_CON_4_back_shows_the_choice_sent_not_what_next_found_out(client, office, redis):
    """Back shows step 1 as it was sent: "the shop's own country", which Next asks the shop for
    (Shopify's simulator says DE), is still that choice; the token is kept, not shown."""
    sign_in(client, "admin")
    with serving("shopify", orders=3) as sim:
        first = post(client, "/settings/stores/new", {
            "enabled": "y", "platform": "shopify", "name": "Own country", "url": sim.url,
            "credential_access_token": "shpat_simulator", "location_id": office.main.id,
            "order_type_id": office.repair.id, "identify_by": "sku", "managers": "all", "country": SHOP_COUNTRY})
        assert first.status_code == 302, first.get_data(as_text=True)
        mapping = client.get(first.headers["Location"]).get_data(as_text=True)
        page = client.get(html.unescape(re.search(r'<a href="([^"]+)"[^>]*>Back</a>', mapping).group(1)))
    page = page.get_data(as_text=True)
    assert selected(page, "country") == SHOP_COUNTRY and input_value(page, "name") == "Own country"
    token = re.search(r'<input[^>]*name="credential_access_token"[^>]*>', page).group(0)
    assert "shpat_simulator" not in page and 'placeholder="' in token and "kept" in token


def test_R_CON_4_back_when_editing_shows_what_was_typed_never_the_saved_access(client, office, redis):
    """Editing: Back keeps the typed fields; the saved login and password stay off the page
    (R-CON-8), a newly typed password is kept, and leaving it empty keeps using it."""
    sign_in(client, "admin")
    with serving("cartum", orders=3) as sim:
        created = post(client, "/settings/stores/new", typed(office, sim.url))
        store = step_two(client, created.headers["Location"])
        edit = f"/settings/stores/{store.id}/edit"
        first = post(client, edit, typed(office, sim.url, name="Renamed", credential_login=""))
        mapping = client.get(first.headers["Location"]).get_data(as_text=True)
        back = html.unescape(re.search(r'<a href="([^"]+)"[^>]*>Back</a>', mapping).group(1))
        page = client.get(back).get_data(as_text=True)
        assert input_value(page, "name") == "Renamed" and input_value(page, "credential_login") in (None, "")
        assert_password_kept_not_shown(page)
        again = post(client, edit, typed(office, sim.url, name="Renamed twice", credential_login="",
                                         credential_password="", draft=draft_of(page)), page=back)
        assert again.status_code == 302, again.get_data(as_text=True)
        step_two(client, again.headers["Location"])
    db.session.refresh(store)
    assert store.name == "Renamed twice" and store.credentials == {"login": "manager", "password": PASSWORD}


def test_R_CON_4_a_shop_connected_meanwhile_brings_step_one_back_as_typed(client, office, redis):
    """Another store took the shop between Next and Save: step 1 comes back with why, and with
    everything typed (it used to come back empty)."""
    sign_in(client, "admin")
    with serving("cartum", orders=3) as sim:
        first = post(client, "/settings/stores/new", typed(office, sim.url))
        quicker = post(client, "/settings/stores/new", typed(office, sim.url, name="Quicker"))
        step_two(client, quicker.headers["Location"])
        mapping = client.get(first.headers["Location"]).get_data(as_text=True)
        chosen = chosen_statuses(mapping)
        refused = post(client, first.headers["Location"], chosen)
    assert refused.status_code == 302
    page = client.get(refused.headers["Location"]).get_data(as_text=True)
    assert 'connected already as the store "Quicker"' in html.unescape(page)
    assert_everything_kept(page, office, "Kyiv gadgets", sim.url)


def test_R_CON_4_a_kept_password_is_only_for_the_one_who_typed_it(client, office, redis, app):
    """The draft id in the form names a kept password only for the employee who typed it."""
    sign_in(client, "admin")
    failed = post(client, "/settings/stores/new", typed(office, f"http://127.0.0.1:{free_port()}"))
    draft = draft_of(failed.get_data(as_text=True))
    factories.employee("ada")
    other = app.test_client()
    sign_in(other, "ada")
    with serving("cartum", orders=3) as sim:
        response = post(other, "/settings/stores/new", typed(office, sim.url, credential_password="", draft=draft))
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and field_errors(page)["credential_password"] == 1


def test_R_CON_4_an_unreachable_shop_says_nothing_is_saved_yet(client, office, redis):
    """Nothing is saved in the wizard, so no sync will try again: the message says what
    happened and what to do now."""
    sign_in(client, "admin")
    response = post(client, "/settings/stores/new", typed(office, f"http://127.0.0.1:{free_port()}"))
    message = connect_error(response.get_data(as_text=True))
    assert "Could not reach 127.0.0.1" in message and "by itself" not in message
    assert "Website URL" in message and "Next" in message


def test_R_CON_4_a_wrong_shopify_token_on_a_new_store_says_how_to_get_a_right_one(client, office, redis):
    """Not "revoked… edit the store": the token is wrong or lacks the scopes, and where to get one."""
    sign_in(client, "admin")
    with serving("shopify", orders=3) as sim:
        response = post(client, "/settings/stores/new", typed(
            office, sim.url, platform="shopify", credential_login=None, credential_password=None, language=None,
            credential_access_token="shpat_wrong", identify_by="sku"))
    page = response.get_data(as_text=True)
    message = connect_error(page)
    assert response.status_code == 422 and "shpat_wrong" not in page
    assert "revoked" not in message and "edit the store" not in message.lower()
    assert "token" in message and "read_orders" in message and "API credentials" in message


def test_R_CON_4_one_error_per_problem(client, office, redis):
    """An empty form shows one line per empty field, never two for the same problem (an empty
    URL was both "Enter the shop's web address." and "Enter the shop's web address, for example…")."""
    sign_in(client, "admin")
    response = post(client, "/settings/stores/new", {"platform": "cartum", "managers": "all"})
    page = response.get_data(as_text=True)
    errors = field_errors(page)
    assert response.status_code == 422
    assert {"name", "url", "credential_login", "credential_password", "location_id", "order_type_id"} <= set(errors)
    assert max(errors.values()) == 1, errors
    bad_url = post(client, "/settings/stores/new", typed(office, "my shop")).get_data(as_text=True)
    assert field_errors(bad_url) == Counter({"url": 1})
