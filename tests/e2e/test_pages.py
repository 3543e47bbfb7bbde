"""The pages no journey above passes through: each one accessible, its forms usable."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.browser import PHONE_VIEWPORT, Browsing, main, nav, sign_in
from tests.support.servers import DEMO_PASSWORD

pytestmark = pytest.mark.e2e


def test_anonymous_pages_and_the_password_reset_request(web: Browsing):
    page = web.new_page()
    web.goto(page, "/")
    expect(nav(page).get_by_role("link")).to_have_text(["Sign in", "Register"])
    web.goto(page, "/accounts/password/reset/")
    page.get_by_label("Email").fill("alice@example.com")
    main(page).get_by_role("button", name="Send reset link").click()
    expect(page).to_have_url(web.origin + "/accounts/password/reset/sent/")
    web.check(page)
    expect(main(page)).to_contain_text("If the address has an account")
    web.goto(page, "/accounts/password/reset/not-a-user/not-a-token/")
    expect(main(page).get_by_role("heading", level=1)).to_have_text("This link does not work")
    page.goto("/orders/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next="))
    web.check(page)


def test_a_customers_own_pages_new_order_and_refund_request(web: Browsing):
    page = sign_in(web, web.new_page(), "alice@example.com", DEMO_PASSWORD, next_path="/accounts/profile/")
    expect(main(page).locator(".facts")).to_contain_text("Customer")
    expect(nav(page).get_by_role("link", name="Alice Martin")).to_have_attribute("aria-current", "page")

    web.goto(page, "/orders/?status=paid")
    expect(page.get_by_label("Status")).to_have_value("paid")
    main(page).get_by_role("link", name="New order").click()
    expect(page).to_have_url(web.origin + "/orders/new/")
    web.check(page)
    page.get_by_label("Amount").fill("0")
    main(page).get_by_role("button", name="Create order").click()
    web.check(page)
    expect(page.get_by_label("Amount")).to_be_focused()
    page.get_by_label("Amount").fill("42.50")
    page.get_by_label("Currency").select_option("EUR")
    main(page).get_by_role("button", name="Create order").click()
    expect(page).to_have_url(re.compile(r"/orders/[0-9a-f-]{36}/$"))
    web.check(page)
    expect(page.get_by_role("status")).to_contain_text("Your order was created.")
    expect(main(page).get_by_role("button", name="Pay order")).to_be_visible()
    expect(main(page).get_by_role("button", name="Cancel order")).to_be_visible()
    web.screenshot(page, "order-new")

    main(page).get_by_role("button", name="Pay order").click()
    web.check(page)
    expect(page.get_by_role("status")).to_contain_text("The order was paid.")
    page.get_by_label("Reason").fill("Changed my mind.")
    main(page).get_by_role("button", name="Request refund").click()
    web.check(page)
    expect(page.get_by_role("status")).to_contain_text("The refund was requested.")
    expect(main(page).get_by_role("table")).to_contain_text("Changed my mind.")


def test_pages_on_a_phone_sized_screen(web: Browsing):
    page = sign_in(web, web.new_page(viewport=PHONE_VIEWPORT), "sam@example.com", DEMO_PASSWORD, next_path="/orders/")
    expect(nav(page).get_by_role("button", name="Sign out")).to_be_in_viewport()
    # Nothing is wider than the screen: no sideways scrolling.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE_VIEWPORT["width"]
    web.screenshot(page, "orders-phone")
    web.goto(page, "/accounts/sessions/")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE_VIEWPORT["width"]
