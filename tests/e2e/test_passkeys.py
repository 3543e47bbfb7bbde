"""Passkeys in a real browser (Chromium's virtual authenticator, the site on http://localhost):
add one, sign in with it alone (autofill, then the button), then as the second step after the
password, and remove it."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.browser import Browsing, main, nav, register, sign_out, submit_login, unique_email
from tests.e2e.virtual_authenticator import virtual_authenticator

pytestmark = pytest.mark.e2e

PASSWORD = "heron quilt meadow 2718"


def test_add_a_passkey_sign_in_with_it_alone_then_after_a_password_and_remove_it(localhost_web: Browsing):
    web = localhost_web
    email = unique_email("passkey")
    page = register(web, web.new_page(), email=email, name="Pia Passkey", password=PASSWORD)
    with virtual_authenticator(page) as authenticator:
        # The account signed in just now, so its authentication is recent: adding needs no
        # step-up page here (tests/accounts/test_passkeys.py covers the stale case).
        web.goto(page, "/accounts/security/")
        main(page).get_by_role("row", name=re.compile("Passkeys")).get_by_role("link", name="Add").click()
        expect(page).to_have_url(web.origin + "/accounts/passkeys/")
        web.check(page)
        page.get_by_label("Name (optional)").fill("Test laptop")
        main(page).get_by_role("button", name="Add a passkey").click()
        # The account's first factor: its recovery codes are shown this once, then the list.
        codes = main(page).locator("#passkey-recovery-codes")
        expect(codes).to_be_visible()
        expect(codes.locator("li")).to_have_count(10)
        expect(page.get_by_role("heading", name="Your recovery codes")).to_be_focused()
        web.check(page)
        codes.get_by_role("link", name="I have saved them").click()
        expect(main(page).locator("#passkey-recovery-codes")).to_be_hidden()
        expect(main(page).locator("#passkey-list")).to_contain_text("Test laptop")
        web.check(page)
        web.screenshot(page, "passkeys")
        [credential] = authenticator.credentials()
        assert credential["isResidentCredential"] and credential["rpId"] == "localhost"

        # Passwordless: the login page's button, user verification by the virtual fingerprint.
        # Conditional UI: the login page asks for a passkey in the email field's autofill, and
        # the virtual authenticator (no human to pick one) answers it at once: signed in.
        # (Not sign_out(): its stop on the login page may already be over when it looks.)
        nav(page).get_by_role("button", name="Sign out").click()
        expect(page).to_have_url(web.origin + "/")
        expect(nav(page).get_by_role("button", name="Sign out")).to_be_visible()
        web.check(page)

        # Chromium's virtual authenticator answers a conditional (autofill) request at once,
        # which would sign in before any button is pressed: hide conditional mediation from
        # here on, so the button and the password + passkey path are what is exercised.
        page.add_init_script("PublicKeyCredential.isConditionalMediationAvailable = () => Promise.resolve(false);")
        sign_out(web, page)
        web.screenshot(page, "login-passkey")
        main(page).get_by_role("button", name="Sign in with a passkey").click()
        expect(page).to_have_url(web.origin + "/")
        web.check(page)
        web.goto(page, "/accounts/security/")
        expect(main(page).locator("#security-events")).to_contain_text("Second factor used")

        # As the second step after the password.
        sign_out(web, page)
        submit_login(web, page, email, PASSWORD, status=302)
        expect(page).to_have_url(re.compile(r"/accounts/login/2fa/"))
        main(page).get_by_role("button", name="Use your passkey").click()
        expect(page).to_have_url(web.origin + "/")
        web.check(page)

        # Remove it (the sign-in just now is recent: no step-up page in between).
        web.goto(page, "/accounts/passkeys/")
        main(page).get_by_role("link", name=re.compile("Remove")).click()
        expect(page).to_have_url(re.compile(r"/accounts/passkeys/[0-9a-f-]+/remove/"))
        web.check(page)
        main(page).get_by_role("button", name="Remove the passkey").click()
        expect(page).to_have_url(web.origin + "/accounts/passkeys/")
        web.check(page)
        expect(main(page).locator("#passkey-list")).to_contain_text("No passkeys yet.")
        expect(page.get_by_role("status").first).to_contain_text("was removed")
