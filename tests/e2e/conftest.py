"""Fixtures of the browser tests: real server processes on loopback, Debian's Chromium.

The site runs as ``make run`` runs it (migrate, seed_demo, runserver), in the ``local``
profile, with its own SQLite file and keys in a fresh temporary directory, on a free
port. Every process started here is stopped when the session ends, pass or fail.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS, Browsing
from tests.support.servers import CONTRACT_RATES, GENEROUS_RATES, Process, start_demo_client, start_site

LAUNCH_TIMEOUT_MS = 30_000
CALL_PASSED = pytest.StashKey[bool]()
MINOR_VIOLATIONS: dict[str, set[str]] = {}  # axe rule id -> paths of the pages, for the summary


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Remember whether a test's body passed, for the checks its fixtures make at teardown."""
    report = yield
    if report.when == "call":
        item.stash[CALL_PASSED] = report.passed
    return report


def pytest_terminal_summary(terminalreporter):
    """Moderate and minor axe findings do not fail a test; list them so they are seen."""
    if MINOR_VIOLATIONS:
        terminalreporter.section("axe-core: moderate and minor findings (not failures)")
        for rule, paths in sorted(MINOR_VIOLATIONS.items()):
            terminalreporter.write_line(f"{rule}: {', '.join(sorted(paths)[:6])}{' ...' if len(paths) > 6 else ''}")


def _started(start, *args, **kwargs) -> Process:
    """Start a server process; a failure to start fails the test with the server's own log."""
    try:
        return start(*args, **kwargs)
    except RuntimeError as error:
        pytest.fail(str(error), pytrace=False)


@pytest.fixture(scope="session")
def e2e_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("e2e")


@pytest.fixture(scope="session")
def site(e2e_dir: Path) -> Iterator[Process]:
    """The site with fresh demo data and wide-open throttles (many sign-ins from one IP)."""
    process = _started(start_site, e2e_dir / "site", rates=GENEROUS_RATES)
    yield process
    process.stop()


@pytest.fixture(scope="session")
def throttled_site(e2e_dir: Path) -> Iterator[Process]:
    """A second site with the contract's sign-in throttles (5 per account per 5 minutes)."""
    process = _started(start_site, e2e_dir / "throttled-site", rates=CONTRACT_RATES)
    yield process
    process.stop()


@pytest.fixture(scope="session")
def demo_app(site: Process, e2e_dir: Path) -> Iterator[Process]:
    """examples/demo_client.py on 127.0.0.1:8765, using the site as its OpenID provider."""
    process = _started(start_demo_client, f"{site.origin}/o", e2e_dir)
    yield process
    process.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's Chromium with `apt-get install -y chromium`.", pytrace=False
        )
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True, timeout=LAUNCH_TIMEOUT_MS
        )
        yield chromium
        chromium.close()


def _browsing(request: pytest.FixtureRequest, browser: Browser, origin: str) -> Iterator[Browsing]:
    web = Browsing(browser, origin)
    try:
        yield web
    finally:
        web.close()
        for rule, urls in web.minor_violations.items():
            MINOR_VIOLATIONS.setdefault(rule, set()).update(url.removeprefix(origin) for url in urls)
    if request.node.stash.get(CALL_PASSED, False):
        web.verify()  # a failed journey already says why; this would only add noise


@pytest.fixture
def web(request: pytest.FixtureRequest, browser: Browser, site: Process) -> Iterator[Browsing]:
    """Browser contexts on the main site; checked for CSP breaches and unchecked pages at the end."""
    yield from _browsing(request, browser, site.origin)


@pytest.fixture
def throttled_web(request: pytest.FixtureRequest, browser: Browser, throttled_site: Process) -> Iterator[Browsing]:
    """Browser contexts on the site with the contract's sign-in throttles."""
    yield from _browsing(request, browser, throttled_site.origin)


@pytest.fixture(scope="session")
def localhost_site(e2e_dir: Path) -> Iterator[Process]:
    """The site at http://localhost:<port>, PUBLIC_ORIGIN included: passkeys need a host name, not an IP."""
    process = _started(start_site, e2e_dir / "localhost-site", rates=GENEROUS_RATES, host_name="localhost")
    yield process
    process.stop()


@pytest.fixture
def localhost_web(request: pytest.FixtureRequest, browser: Browser, localhost_site: Process) -> Iterator[Browsing]:
    """Browser contexts on the localhost site, held to the same checks as ``web``."""
    yield from _browsing(request, browser, localhost_site.origin)
