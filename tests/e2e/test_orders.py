"""Journeys of the order pages: what a customer and a manager see, and what the server refuses."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.browser import Browsing, main, nav, sign_in
from tests.support.servers import DEMO_PASSWORD

pytestmark = pytest.mark.e2e

ORDER_URL = re.compile(r"/orders/([0-9a-f-]{36})/$")

FORGE = """
async ([url, token, asJson]) => {
  const response = await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: asJson ? {"X-CSRFToken": token, "Content-Type": "application/json"}
                    : {"X-CSRFToken": token, "Content-Type": "application/x-www-form-urlencoded"},
    body: asJson ? "{}" : "csrfmiddlewaretoken=" + encodeURIComponent(token),
    redirect: "manual",
  });
  return {status: response.status, body: await response.text()};
}
"""


def order_rows(page: Page):
    return main(page).get_by_role("table").locator("tbody").get_by_role("row")


def open_order(web: Browsing, page: Page, amount: str) -> str:
    """Open the order of the list shown now with this amount; return its id."""
    order_rows(page).filter(has_text=amount).get_by_role("link").click()
    expect(page).to_have_url(ORDER_URL)
    web.check(page)
    return ORDER_URL.search(page.url).group(1)


def csrf_token(page: Page) -> str:
    return page.locator("input[name=csrfmiddlewaretoken]").first.input_value()


def test_customer_sees_only_own_orders_and_gets_404_for_another_customers(web: Browsing):
    bob = sign_in(web, web.new_page(), "bob@example.com", DEMO_PASSWORD, next_path="/orders/")
    bobs_order = ORDER_URL.search(order_rows(bob).first.get_by_role("link").get_attribute("href") or "")
    assert bobs_order, "Bob's order list has no order link"
    bobs_order_path = bobs_order.group(0)
    web.goto(bob, bobs_order_path)  # Bob may open it

    alice = sign_in(web, web.new_page(), "alice@example.com", DEMO_PASSWORD, next_path="/orders/")
    expect(main(alice).get_by_role("table")).to_contain_text("10 orders you may see")
    owners = order_rows(alice).locator("td:nth-child(2)")
    expect(owners).to_have_count(10)
    assert set(owners.all_inner_texts()) == {"alice@example.com"}
    expect(nav(alice).get_by_role("link", name="Admin", exact=True)).to_have_count(0)
    web.screenshot(alice, "orders-customer")

    web.goto(alice, bobs_order_path, status=404)
    expect(main(alice).get_by_role("heading", level=1)).to_have_text("Page not found")
    not_found_text = main(alice).inner_text()
    web.screenshot(alice, "not-found")
    # Exactly the page of an id that was never issued.
    web.goto(alice, f"/orders/{uuid.uuid4()}/", status=404)
    assert main(alice).inner_text() == not_found_text


def test_manager_sees_approve_only_where_allowed_and_a_forged_approval_is_refused(web: Browsing):
    maria = sign_in(web, web.new_page(), "maria@example.com", DEMO_PASSWORD, next_path="/orders/")
    owners = order_rows(maria).locator("td:nth-child(3)")
    assert set(owners.all_inner_texts()) == {"EU"}
    web.screenshot(maria, "orders-manager")

    # 750.00 EUR: over the manager's limit. The request is shown, without a decision button.
    over_limit = open_order(web, maria, "750.00 EUR")
    refunds = main(maria).get_by_role("table")
    expect(refunds).to_contain_text("Pending")
    expect(main(maria).get_by_role("button", name="Approve refund")).to_have_count(0)
    expect(main(maria).get_by_role("button", name="Reject refund")).to_have_count(0)
    web.screenshot(maria, "order-over-limit")

    # A forged approval, sent from the page with a valid CSRF token, is refused by the server.
    pending = maria.evaluate("async () => (await (await fetch('/api/refund-requests/?status=pending')).json()).results")
    refund_id = next(r["id"] for r in pending if r["order"] == over_limit)
    token = csrf_token(maria)
    page_answer = maria.evaluate(FORGE, [f"/orders/refund-requests/{refund_id}/approve/", token, False])
    assert page_answer["status"] == 403, page_answer
    assert "Access denied" in page_answer["body"]
    api_answer = maria.evaluate(FORGE, [f"/api/refund-requests/{refund_id}/approve/", token, True])
    assert api_answer["status"] == 403, api_answer
    assert '"code":"FORBIDDEN"' in api_answer["body"].replace(" ", "")
    maria.reload()
    web.check(maria)
    expect(main(maria).locator(".facts")).to_contain_text("Paid")
    expect(refunds).to_contain_text("Pending")

    # 120.00 EUR: within the limit, so Maria may decide it, and does.
    web.goto(maria, "/orders/")
    open_order(web, maria, "120.00 EUR")
    expect(main(maria).get_by_role("button", name="Reject refund")).to_be_visible()
    approve = main(maria).get_by_role("button", name="Approve refund")
    expect(approve).to_be_visible()
    web.screenshot(maria, "order-approve")
    approve.click()
    web.check(maria)
    expect(maria.get_by_role("status")).to_contain_text("The refund was approved; the order is refunded.")
    expect(main(maria).locator(".facts")).to_contain_text("Refunded")
    expect(main(maria).get_by_role("button", name="Approve refund")).to_have_count(0)
