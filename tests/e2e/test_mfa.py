"""Second factors in a real browser: enrol TOTP with a code computed here, sign out, sign in
with a code, then with a recovery code."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.browser import (
    Browsing,
    main,
    register,
    sign_out,
    submit_login,
    submit_second_step,
    totp_code,
    unique_email,
)

pytestmark = pytest.mark.e2e

PASSWORD = "heron quilt meadow 2718"


def test_enrol_totp_sign_in_with_a_code_then_with_a_recovery_code(web: Browsing):
    email = unique_email("totp")
    page = register(web, web.new_page(), email=email, name="Tess Totp", password=PASSWORD)

    web.goto(page, "/accounts/security/")
    expect(main(page).get_by_role("table").first).to_contain_text("Off")
    main(page).get_by_role("link", name="Set up").click()
    web.check(page)
    expect(page).to_have_url(web.origin + "/accounts/2fa/totp/")
    qr = main(page).get_by_role("img", name="QR code for your authenticator app")
    expect(qr).to_be_visible()
    assert qr.evaluate("img => img.complete && img.naturalWidth > 0"), "the QR code renders under the CSP"
    secret = main(page).locator("#totp-secret").inner_text()
    web.screenshot(page, "totp-setup")

    # totp_code() remembers the step used here: the next sign-in uses a later one.
    page.get_by_label("The 6-digit code your app shows now").fill(totp_code(secret))
    main(page).get_by_role("button", name="Confirm and turn on").click()
    web.check(page)
    codes = main(page).locator("#recovery-codes code").all_inner_texts()
    assert len(codes) == 10 and all(re.fullmatch(r"[a-z0-9]{5}-[a-z0-9]{5}", code) for code in codes)
    web.screenshot(page, "recovery-codes")

    sign_out(web, page)
    submit_login(web, page, email, PASSWORD, status=302)
    submit_second_step(web, page, secret, screenshot="login-second-step")
    expect(page).to_have_url(web.origin + "/")
    web.goto(page, "/accounts/security/")
    expect(main(page).locator("#security-events")).to_contain_text("Second factor used")

    sign_out(web, page)
    submit_login(web, page, email, PASSWORD, status=302)
    expect(page).to_have_url(re.compile(r"/accounts/login/2fa/"))
    page.get_by_label("Or a recovery code").fill(codes[0])
    main(page).get_by_role("button", name="Verify").click()
    web.check(page)
    expect(page).to_have_url(web.origin + "/")
    web.goto(page, "/accounts/security/")
    expect(main(page).get_by_role("table").first).to_contain_text("9 left")
    expect(main(page).locator("#security-events")).to_contain_text("Recovery code used")

    # A used recovery code does not work twice.
    sign_out(web, page)
    submit_login(web, page, email, PASSWORD, status=302)
    page.get_by_label("Or a recovery code").fill(codes[0])
    main(page).get_by_role("button", name="Verify").click()
    expect(main(page).get_by_role("alert")).to_contain_text("That code is not valid")
    web.check(page)
