"""Anonymous visitors land on the login page; a POST without a CSRF token is refused."""
from playwright.sync_api import expect

from e2e.conftest import screenshot


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
