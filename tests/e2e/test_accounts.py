"""Journeys of the account pages: register, sign in and out, throttles, passwords, sessions."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.browser import (
    Browsing,
    expect_signed_out,
    fill_registration,
    main,
    nav,
    register,
    sign_in,
    sign_out,
    submit_login,
    unique_email,
)
from tests.support.servers import DEMO_PASSWORD

pytestmark = pytest.mark.e2e

NEW_PASSWORD = "violet canyon drumbeat 1984"
OTHER_PASSWORD = "saffron lighthouse pebble 77"
INVALID = "Invalid email or password"


def test_register_then_sign_in(web: Browsing):
    page = web.new_page()
    email = unique_email("register")

    web.goto(page, "/accounts/login/")
    web.screenshot(page, "login")

    # A refused form comes back with inline errors and the focus on the first of them.
    web.goto(page, "/accounts/register/")
    fill_registration(
        page, email=email, name="Rita Register", password=NEW_PASSWORD, password_again=OTHER_PASSWORD, region="US"
    )
    with page.expect_response(lambda r: r.url.endswith("/accounts/register/") and r.request.method == "POST") as posted:
        main(page).get_by_role("button", name="Create account").click()
    assert posted.value.status == 200
    web.check(page)
    expect(page.get_by_text("The two passwords differ.")).to_be_visible()
    expect(page.get_by_label("Password again")).to_be_focused()
    expect(page.get_by_label("Password again")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Password again")).to_have_accessible_description("The two passwords differ.")
    web.screenshot(page, "register-errors")

    page.get_by_label("Password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Password again").fill(NEW_PASSWORD)
    main(page).get_by_role("button", name="Create account").click()
    expect(page).to_have_url(web.origin + "/")
    web.check(page)
    expect(page.get_by_role("status")).to_contain_text("Welcome! Your account is ready.")
    expect(main(page)).to_contain_text(f"Signed in as {email} (Customer, US)")
    # What a customer may reach, and no more.
    expect(nav(page).get_by_role("link")).to_have_text(
        ["Orders", "Security", "Sessions", "Connected apps", "Tokens", "Rita Register"]
    )
    web.screenshot(page, "home")

    sign_out(web, page)
    sign_in(web, page, email, NEW_PASSWORD)
    expect(main(page)).to_contain_text(f"Signed in as {email}")


def test_wrong_password_and_unknown_email_show_one_generic_message(web: Browsing):
    page = web.new_page()
    web.goto(page, "/accounts/login/")
    submit_login(web, page, "alice@example.com", "not the password at all", status=401)
    expect(main(page).get_by_role("alert")).to_have_text(INVALID)
    expect(page.get_by_text(INVALID)).to_have_count(1)
    web.screenshot(page, "login-error")
    wrong_password_page = main(page).inner_text()

    submit_login(web, page, "nobody-here@example.com", "not the password at all", status=401)
    expect(main(page).get_by_role("alert")).to_have_text(INVALID)
    # Nothing on the page tells an unknown address from a known one.
    assert main(page).inner_text() == wrong_password_page
    expect(page.get_by_label("Email")).to_have_value("nobody-here@example.com")


def test_throttling_shows_its_message(throttled_web: Browsing):
    web = throttled_web
    page = web.new_page()
    web.goto(page, "/accounts/login/")
    for _ in range(5):
        submit_login(web, page, "alice@example.com", "guessing again and again", status=401)
        expect(main(page).get_by_role("alert")).to_have_text(INVALID)

    submit_login(web, page, "alice@example.com", "guessing again and again", status=429)
    alert = main(page).get_by_role("alert")
    expect(alert).to_contain_text(
        re.compile(r"Too many sign-in attempts\. Please wait (\d+ min( \d+ s)?|\d+ s) and try again\.")
    )
    web.screenshot(page, "login-throttled")

    # The right password is refused too while the window is closed: no password is checked.
    submit_login(web, page, "alice@example.com", DEMO_PASSWORD, status=429)
    expect(alert).to_contain_text("Too many sign-in attempts.")


def test_password_change_signs_out_the_other_browser(web: Browsing):
    email = unique_email("password")
    laptop = register(web, web.new_page(), email=email, name="Pat Password", password=NEW_PASSWORD)
    phone = sign_in(web, web.new_page(), email, NEW_PASSWORD)

    web.goto(laptop, "/accounts/password/change/")
    laptop.get_by_label("Old password").fill("this is not my password")
    laptop.get_by_label("New password", exact=True).fill(OTHER_PASSWORD)
    laptop.get_by_label("New password confirmation").fill(OTHER_PASSWORD)
    main(laptop).get_by_role("button", name="Change password").click()
    web.check(laptop)
    expect(laptop.get_by_label("Old password")).to_be_focused()
    expect(main(laptop)).to_contain_text("Your old password was entered incorrectly.")

    laptop.get_by_label("Old password").fill(NEW_PASSWORD)
    laptop.get_by_label("New password", exact=True).fill(OTHER_PASSWORD)
    laptop.get_by_label("New password confirmation").fill(OTHER_PASSWORD)
    main(laptop).get_by_role("button", name="Change password").click()
    expect(laptop).to_have_url(web.origin + "/accounts/profile/")
    web.check(laptop)
    expect(laptop.get_by_role("status")).to_contain_text(
        "Your password was changed. Your other sessions were signed out."
    )
    web.screenshot(laptop, "password-changed")

    expect_signed_out(web, phone)
    submit_login(web, phone, email, NEW_PASSWORD, status=401)
    submit_login(web, phone, email, OTHER_PASSWORD, status=302)
    expect(phone).to_have_url(web.origin + "/orders/")
    # The browser that changed it stays signed in.
    web.goto(laptop, "/accounts/sessions/")


def test_sessions_page_signs_out_the_other_browser(web: Browsing):
    email = unique_email("sessions")
    laptop = web.new_page(user_agent="Mozilla/5.0 (X11; Linux x86_64) E2E-Laptop")
    register(web, laptop, email=email, name="Sid Sessions", password=NEW_PASSWORD)
    phone = sign_in(web, web.new_page(user_agent="Mozilla/5.0 (Linux; Android 14) E2E-Phone"), email, NEW_PASSWORD)

    web.goto(laptop, "/accounts/sessions/")
    rows = main(laptop).get_by_role("row")
    expect(rows).to_have_count(3)  # the header and the two browsers
    expect(rows.filter(has_text="E2E-Laptop")).to_contain_text("(this browser)")
    phone_row = rows.filter(has_text="E2E-Phone")
    expect(phone_row).to_contain_text("127.0.0.1")
    web.screenshot(laptop, "sessions")

    phone_row.get_by_role("button", name="Sign out this session").click()
    expect(laptop).to_have_url(web.origin + "/accounts/sessions/")
    web.check(laptop)
    expect(laptop.get_by_role("status")).to_contain_text("That session was signed out.")
    expect(main(laptop).get_by_role("row")).to_have_count(2)

    expect_signed_out(web, phone)
    web.goto(laptop, "/orders/")  # this browser is still signed in


def test_logout(web: Browsing):
    page = sign_in(web, web.new_page(), "alice@example.com", DEMO_PASSWORD, next_path="/orders/")
    sign_out(web, page)
    expect(page.get_by_role("status")).to_contain_text("You have signed out.")
    web.screenshot(page, "signed-out")
    expect_signed_out(web, page, "/accounts/profile/")
