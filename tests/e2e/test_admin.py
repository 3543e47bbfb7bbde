"""The Django admin, reached through the site's own login page, changing a user's role."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.browser import Browsing, main, nav, register, submit_login, submit_second_step, unique_email
from tests.support.servers import DEMO_PASSWORD, DEMO_TOTP_SECRET

pytestmark = pytest.mark.e2e

PASSWORD = "juniper quarry lantern 303"


def test_admin_changes_a_role_and_the_users_next_page_reflects_it(web: Browsing):
    email = unique_email("role")
    user = register(web, web.new_page(), email=email, name="Rory Role", password=PASSWORD, region="EU")
    web.goto(user, "/accounts/profile/")
    expect(main(user).locator(".facts")).to_contain_text("Customer")

    ada = web.new_page()
    ada.goto("/admin/")
    expect(ada).to_have_url(re.compile(r"/accounts/login/\?next=%2Fadmin%2F$"))
    web.check(ada)
    submit_login(web, ada, "ada@example.com", DEMO_PASSWORD, status=302)
    submit_second_step(web, ada, DEMO_TOTP_SECRET)
    expect(ada).to_have_url(web.origin + "/admin/")
    expect(ada.get_by_role("heading", name="Site administration")).to_be_visible()
    web.screenshot(ada, "admin")

    ada.get_by_role("link", name="Users").first.click()
    web.check(ada)
    ada.locator("#searchbar").fill(email)
    ada.get_by_role("button", name="Search").click()
    web.check(ada)
    ada.get_by_role("link", name=email).click()
    web.check(ada)
    ada.get_by_label("Role").select_option("manager")
    web.screenshot(ada, "admin-user")
    ada.get_by_role("button", name="Save", exact=True).click()
    web.check(ada)
    expect(ada.get_by_text("was changed successfully")).to_be_visible()

    # The user's very next page, in their own browser, shows the new role and its reach.
    web.goto(user, "/accounts/profile/")
    expect(main(user).locator(".facts")).to_contain_text("Manager")
    web.goto(user, "/orders/")
    expect(main(user).get_by_role("table")).to_contain_text("alice@example.com")
    expect(nav(user).get_by_role("link", name="Admin", exact=True)).to_have_count(0)

    # Admin appears in the site's navigation for the admin role only.
    web.goto(ada, "/orders/")
    expect(nav(ada).get_by_role("link", name="Admin", exact=True)).to_be_visible()
