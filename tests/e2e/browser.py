"""Driving Debian's Chromium, and the checks every page of the site must pass.

Every context is opened with the site's real Content-Security-Policy in force: a
violation (an inline script or style, a resource from another origin) and any uncaught
script error fail the test. axe-core is evaluated in the page through the DevTools
protocol (``page.evaluate``), which the page's CSP does not govern, so no context ever
needs ``bypass_csp`` and the journeys run exactly as a visitor's browser would.
(``page.add_script_tag`` would insert an inline ``<script>``, which the CSP rightly
blocks.)
"""

from __future__ import annotations

import os
import re
import time
import uuid
from pathlib import Path

import pyotp
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.support.servers import ROOT

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
AXE_JS = Path(__file__).parent / "vendor" / "axe.min.js"
# Where the journeys save their screenshots: var/screenshots/ (ignored by git) under make test-e2e;
# make screenshots sets SCREENSHOT_DIR=docs/screenshots, the only run that rewrites tracked files.
SCREENSHOTS = ROOT / (os.environ.get("SCREENSHOT_DIR") or "var/screenshots")
BLOCKING_IMPACTS = {"serious", "critical"}
VIEWPORT = {"width": 1280, "height": 800}
PHONE_VIEWPORT = {"width": 390, "height": 844}

ACTION_TIMEOUT_MS = 10_000
NAVIGATION_TIMEOUT_MS = 15_000
expect.set_options(timeout=ACTION_TIMEOUT_MS)

AXE_RUN = """
async () => {
  // No preload: axe would fetch the page's stylesheets and re-insert them as <style>
  // elements (for css-orientation-lock only), which the site's CSP rightly refuses.
  const result = await axe.run(document, {resultTypes: ["violations"], preload: false});
  return result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 5).map(n => ({target: n.target.join(" "), summary: n.failureSummary})),
  }));
}
"""


def unique_email(label: str) -> str:
    return f"e2e-{label}-{uuid.uuid4().hex[:8]}@example.com"


class Browsing:
    """The browser contexts of one test, each page held to the site's rules.

    ``check(page)`` runs axe-core on the page shown now; at the end every page of the
    site that was loaded must have been checked, and no CSP violation or script error
    may have happened.
    """

    def __init__(self, browser: Browser, origin: str) -> None:
        self.browser = browser
        self.origin = origin
        self.contexts: list[BrowserContext] = []
        self.problems: list[str] = []
        self.loaded: list[str] = []
        self.checked: set[str] = set()
        self.minor_violations: dict[str, set[str]] = {}
        self._axe_source = AXE_JS.read_text()

    # --- contexts ----------------------------------------------------------------

    def new_page(self, *, user_agent: str | None = None, viewport: dict | None = None) -> Page:
        """A new browser (own cookies, own session) with one tab."""
        options = {"base_url": self.origin, "viewport": viewport or VIEWPORT, "locale": "en-US", "timezone_id": "UTC"}
        if user_agent:
            options["user_agent"] = user_agent
        context = self.browser.new_context(**options)
        context.set_default_timeout(ACTION_TIMEOUT_MS)
        context.set_default_navigation_timeout(NAVIGATION_TIMEOUT_MS)
        self.contexts.append(context)
        page = context.new_page()
        page.on("console", lambda message: self._on_console(page, message))
        page.on("pageerror", lambda error: self.problems.append(f"script error on {page.url}: {error}"))
        page.on("load", lambda loaded: self._on_load(loaded))
        return page

    def _on_console(self, page: Page, message) -> None:
        if message.type == "error" and "Content Security Policy" in message.text:
            where = message.location
            source = f" ({where.get('url')}:{where.get('lineNumber')})" if where and where.get("url") else ""
            self.problems.append(f"CSP violation on {page.url}{source}: {message.text}")

    def _on_load(self, page: Page) -> None:
        if self.is_site(page.url):
            self.loaded.append(page.url)

    def is_site(self, url: str) -> bool:
        return url == self.origin or url.startswith(self.origin + "/")

    def close(self) -> None:
        for context in self.contexts:
            context.close()
        self.contexts.clear()

    def verify(self) -> None:
        """What every journey must also prove: no CSP breach, no script error, every page checked."""
        assert not self.problems, "\n".join(self.problems)
        unchecked = sorted({url for url in self.loaded if url not in self.checked})
        assert not unchecked, f"pages of the site loaded without an accessibility check: {unchecked}"

    # --- checks ------------------------------------------------------------------

    def check(self, page: Page) -> Page:
        """axe-core on the page shown now: no serious or critical violation."""
        page.wait_for_load_state("load")
        assert self.is_site(page.url), f"expected a page of the site, got {page.url}"
        if not page.evaluate("typeof window.axe === 'object'"):
            page.evaluate(self._axe_source)
        violations = page.evaluate(AXE_RUN)
        self.checked.add(page.url)
        blocking = [v for v in violations if v["impact"] in BLOCKING_IMPACTS]
        for violation in violations:
            if violation["impact"] not in BLOCKING_IMPACTS:
                self.minor_violations.setdefault(violation["id"], set()).add(page.url)
        assert not blocking, f"accessibility violations on {page.url}:\n" + "\n".join(
            f"- {v['id']} ({v['impact']}): {v['help']}; "
            + "; ".join(f"{n['target']}: {n['summary']}" for n in v["nodes"])
            for v in blocking
        )
        return page

    def goto(self, page: Page, path: str, *, status: int = 200) -> Page:
        """Open a page of the site, expect its status, and check it."""
        response = page.goto(path)
        assert response is not None and response.status == status, (
            f"GET {path}: {response.status if response else 'no response'}, expected {status}"
        )
        return self.check(page)

    @staticmethod
    def screenshot(page: Page, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True, animations="disabled")


# --- the site's pages ------------------------------------------------------------


def main(page: Page):
    return page.get_by_role("main")


def nav(page: Page):
    return page.get_by_role("navigation", name="Main")


def submit_login(web: Browsing, page: Page, email: str, password: str, *, status: int | None = None) -> Page:
    """Fill and send the login form shown now, then check the page it leads to."""
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    with page.expect_response(lambda r: "/accounts/login/" in r.url and r.request.method == "POST") as posted:
        main(page).get_by_role("button", name="Sign in", exact=True).click()
    if status is not None:
        assert posted.value.status == status, f"sign-in answered {posted.value.status}, expected {status}"
    page.wait_for_load_state("load")
    if web.is_site(page.url):
        web.check(page)
    return page


_last_step: dict[str, int] = {}


def totp_code(secret: str) -> str:
    """A code the server has not seen yet: a code is accepted once, and two sign-ins within
    one 30-s step use the next step's code (the server allows one step of drift)."""
    now_step = int(time.time() // 30)
    step = max(now_step, _last_step.get(secret, -1) + 1)
    assert step <= now_step + 1, "more than two sign-ins with one secret in 30 s"
    _last_step[secret] = step
    return pyotp.TOTP(secret).at(step * 30)


def submit_second_step(web: Browsing, page: Page, secret: str, *, screenshot: str | None = None) -> Page:
    """Answer the second sign-in step with a code computed from the authenticator secret."""
    expect(page).to_have_url(re.compile(r"/accounts/login/2fa/"))
    web.check(page)
    if screenshot:
        web.screenshot(page, screenshot)
    page.get_by_label("Code from your authenticator app").fill(totp_code(secret))
    main(page).get_by_role("button", name="Verify").click()
    page.wait_for_load_state("load")
    return web.check(page)


def sign_in(web: Browsing, page: Page, email: str, password: str, *, next_path: str | None = None) -> Page:
    """Sign in through the login page; end on ``next_path`` (or the start page)."""
    web.goto(page, "/accounts/login/" + (f"?next={next_path}" if next_path else ""))
    submit_login(web, page, email, password, status=302)
    expect(page).to_have_url(web.origin + (next_path or "/"))
    expect(nav(page).get_by_role("button", name="Sign out")).to_be_visible()
    return page


def register(web: Browsing, page: Page, *, email: str, name: str, password: str, region: str = "EU") -> Page:
    """Create an account through the registration page; the new customer is signed in."""
    web.goto(page, "/accounts/register/")
    fill_registration(page, email=email, name=name, password=password, password_again=password, region=region)
    main(page).get_by_role("button", name="Create account").click()
    expect(page).to_have_url(web.origin + "/")
    web.check(page)
    expect(page.get_by_role("status")).to_contain_text("Welcome! Your account is ready.")
    return page


def fill_registration(page: Page, *, email: str, name: str, password: str, password_again: str, region: str) -> None:
    page.get_by_label("Email").fill(email)
    page.get_by_label("Name").fill(name)
    page.get_by_label("Region").select_option(region)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_label("Password again").fill(password_again)


def sign_out(web: Browsing, page: Page) -> Page:
    nav(page).get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(web.origin + "/accounts/login/")
    return web.check(page)


def expect_signed_out(web: Browsing, page: Page, path: str = "/orders/") -> None:
    """The next page this browser asks for sends it to the login page: its session is gone."""
    page.goto(path)
    next_pattern = re.escape(path).replace("/", "(?:/|%2F)")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=" + next_pattern + "$"))
    web.check(page)
    expect(nav(page).get_by_role("link", name="Sign in")).to_be_visible()
