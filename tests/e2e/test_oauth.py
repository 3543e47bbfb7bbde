"""The example third-party app (examples/demo_client.py) and the site as its OpenID provider."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.browser import Browsing, main, submit_login
from tests.support.servers import DEMO_PASSWORD, Process

pytestmark = pytest.mark.e2e


def start_at_the_app(web: Browsing, page: Page, app: Process, email: str) -> Page:
    """From the app's start page to the site's consent page, signing in on the way."""
    page.goto(app.origin + "/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Demo client")
    page.get_by_role("link", name="Sign in with Auth done right").click()
    expect(page).to_have_url(
        re.compile(re.escape(web.origin) + r"/accounts/login/\?next=(?:/|%2F)o(?:/|%2F)authorize(?:/|%2F)")
    )
    web.check(page)
    submit_login(web, page, email, DEMO_PASSWORD, status=302)
    expect(page).to_have_url(re.compile(re.escape(web.origin) + r"/o/authorize/\?"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Allow Demo client to use your account?")
    expect(main(page)).to_contain_text("you will be sent back to 127.0.0.1:8765")
    return page


def decide(web: Browsing, page: Page, button: str) -> None:
    """Press Allow or Deny on the consent page: the site answers with a redirect to the app."""
    with page.expect_response(lambda r: "/o/authorize/" in r.url and r.request.method == "POST") as answer:
        main(page).get_by_role("button", name=button).click()
    if answer.value.status != 302:
        page.wait_for_load_state("load")
        web.check(page)
        shown = " ".join(main(page).inner_text().split())
        pytest.fail(
            f"{button} on the consent page was answered {answer.value.status}, not a redirect to the app: {shown!r}"
        )


def expect_app_reads_orders(page: Page, app: Process, email: str, status: int = 200) -> None:
    expect(page).to_have_url(app.origin + "/")
    expect(page.get_by_text(f"Signed in as {email}")).to_be_visible()
    expect(page.get_by_role("heading", level=2)).to_have_text(f"GET /api/orders/ → {status}")


def test_consent_allow_then_deny(web: Browsing, demo_app: Process):
    alice = start_at_the_app(web, web.new_page(), demo_app, "alice@example.com")
    scopes = main(alice).get_by_role("list").first
    for scope in ("openid", "profile", "email", "orders:read"):
        expect(scopes).to_contain_text(scope)
    web.screenshot(alice, "consent")
    decide(web, alice, "Allow")
    expect_app_reads_orders(alice, demo_app, "alice@example.com")
    body = alice.locator("pre").inner_text()
    assert '"count": 10' in body and '"currency": "EUR"' in body and '"USD"' not in body
    web.screenshot(alice, "oauth-app-allowed")

    mike = start_at_the_app(web, web.new_page(), demo_app, "mike@example.com")
    decide(web, mike, "Deny")
    expect(mike).to_have_url(re.compile(re.escape(demo_app.origin) + r"/callback\?"))
    expect(mike.get_by_role("heading", level=1)).to_have_text("Not connected")
    expect(mike.get_by_text("The provider said: access_denied")).to_be_visible()
    web.screenshot(mike, "oauth-app-denied")


def test_connected_apps_revokes_and_the_apps_next_call_fails(web: Browsing, demo_app: Process):
    bob = start_at_the_app(web, web.new_page(), demo_app, "bob@example.com")
    decide(web, bob, "Allow")
    expect_app_reads_orders(bob, demo_app, "bob@example.com")

    web.goto(bob, "/accounts/apps/")
    row = main(bob).get_by_role("row").filter(has_text="Demo client")
    expect(row).to_contain_text("See the orders and refund requests you can see")
    web.screenshot(bob, "connected-apps")
    row.get_by_role("button", name="Revoke access for Demo client").click()
    expect(bob).to_have_url(web.origin + "/accounts/apps/")
    web.check(bob)
    expect(bob.get_by_role("status")).to_contain_text("Demo client can no longer access your account.")
    expect(main(bob)).to_contain_text("No app has access to your account.")

    bob.goto(demo_app.origin + "/")
    expect_app_reads_orders(bob, demo_app, "bob@example.com", status=401)
    expect(bob.locator("pre")).to_contain_text("INVALID_TOKEN")
    web.screenshot(bob, "oauth-app-revoked")
