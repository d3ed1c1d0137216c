"""Signing in, and that every page needs it; CSRF on every state-changing request."""
import pytest

from tests.integration.conftest import csrf_token, post, sign_in
from tests.support import factories

PAGES = ["/", "/orders/", "/orders/new", "/clients/", "/clients/new", "/products/", "/products/new",
         "/settings/locations", "/settings/employees"]


@pytest.mark.parametrize("url", PAGES)
def test_anonymous_visit_is_sent_to_the_login_page(client, world, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response.location.startswith("/login?next=")


def test_anonymous_order_page_and_post_are_refused(client, world):
    assert client.get("/orders/1").status_code == 302
    assert client.post("/orders/1/comments", data={"text": "x"}).status_code in (302, 400)


def test_sign_in_and_out(client, world):
    response = sign_in(client, "admin")
    assert response.location == "/orders/"
    assert client.get("/orders/").status_code == 200
    assert post(client, "/logout", page="/orders/").status_code == 302
    assert client.get("/orders/").status_code == 302


def test_wrong_password_says_so_and_keeps_the_login(client, world):
    token = csrf_token(client)
    response = client.post("/login", data={"login": "admin", "password": "nope", "csrf_token": token})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "The login or password is wrong" in html
    assert 'value="admin"' in html


def test_switched_off_account_cannot_sign_in(client, world):
    factories.employee("gone", active=False)
    token = csrf_token(client)
    response = client.post("/login", data={"login": "gone", "password": factories.PASSWORD, "csrf_token": token})
    assert "switched off" in response.get_data(as_text=True)
    assert client.get("/orders/").status_code == 302


def test_login_is_case_insensitive(client, world):
    assert sign_in(client, "ADMIN").status_code == 302


def test_next_parameter_cannot_leave_the_site(client, world):
    token = csrf_token(client)
    response = client.post("/login?next=//evil.example/steal", data={
        "login": "admin", "password": factories.PASSWORD, "csrf_token": token})
    assert response.location == "/orders/"


def test_post_without_csrf_token_is_refused(client, world):
    sign_in(client, "admin")
    response = client.post("/settings/locations", data={"name": "Sneaky"})
    assert response.status_code == 400
    assert "security token" in response.get_data(as_text=True)


def test_htmx_post_with_csrf_header_is_accepted(client, world):
    """htmx sends the token in the X-CSRFToken header (hx-headers on <body>)."""
    sign_in(client, "admin")
    buyer = factories.client()
    order = factories.order(world.main, world.repair, buyer)
    token = csrf_token(client, f"/orders/{order.id}")
    response = client.post(f"/orders/{order.id}/comments", data={"text": "Via htmx"},
                           headers={"HX-Request": "true", "X-CSRFToken": token})
    assert response.status_code == 200
    assert "Via htmx" in response.get_data(as_text=True)


