"""Two server processes, one truth: sessions, throttles, orders and refunds across processes A and B.

Processes A and B are separate gunicorn masters (two workers each) of the production profile
over https, sharing nothing but the run's PostgreSQL database and Redis key prefix.
"""

from __future__ import annotations

import re
import time
from decimal import Decimal

import pytest
from django_ratelimit.core import _get_window, _split_rate

from tests.services.cluster import SESSION_COOKIE, describe, release_together

pytestmark = pytest.mark.services

ORDER_THREADS = 8
ORDERS_PER_THREAD = 5
REFUND_REQUESTS = 6


def assert_api_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, describe(response)
    body = response.json()
    assert body["status"] == "error" and body["code"] == code, body
    return body


# --- Sessions ------------------------------------------------------------------------------------


def test_a_session_made_through_one_process_works_through_the_other_and_logout_is_seen_at_once(
    cluster, server_a, server_b, agents
):
    on_a = agents().sign_in(server_a, cluster.email("session-carol"), cluster.password)
    assert on_a.get(server_a, "/api/me/").json()["email"] == cluster.email("session-carol")

    # Another browser holding nothing but a copy of the session cookie, talking to B.
    on_b = agents()
    on_b.set_cookie(SESSION_COOKIE, on_a.session_cookie)
    me = on_b.get(server_b, "/api/me/")
    assert me.status_code == 200, describe(me)
    assert me.json()["id"] == cluster.user_id("session-carol")
    page = on_b.get(server_b, "/orders/")
    assert page.status_code == 200, describe(page)

    # Signing out through B ends the session for A too, at once.
    logout = on_b.post_json(server_b, "/api/auth/logout/")
    assert logout.status_code == 200, describe(logout)
    assert logout.json() == {"status": "success"}
    assert_api_error(on_a.get(server_a, "/api/me/"), 401, "NOT_AUTHENTICATED")
    assert on_a.get(server_a, "/orders/").status_code == 302


def test_revoking_a_session_on_the_sessions_page_of_one_process_ends_it_on_the_other(
    cluster, server_a, server_b, agents
):
    email = cluster.email("session-dave")
    laptop = agents("laptop").sign_in(server_a, email, cluster.password)
    phone = agents("phone").sign_in(server_b, email, cluster.password)
    assert laptop.session_cookie != phone.session_cookie
    for agent, server in ((laptop, server_b), (phone, server_a)):
        assert agent.get(server, "/api/me/").status_code == 200

    # On the phone, through B: the sessions page lists both; sign the laptop out.
    page = phone.get(server_b, "/accounts/sessions/")
    assert page.status_code == 200, describe(page)
    rows = re.findall(r"<tr>(.*?)</tr>", page.text, flags=re.S)
    revoke = {}
    for row in rows:
        action = re.search(r'action="(/accounts/sessions/[0-9a-f-]{36}/revoke/)"', row)
        if action:
            device = "phone" if "(this browser)" in row else re.search(r"<td>(.*?)</td>", row).group(1)
            revoke[device] = action.group(1)
    assert set(revoke) == {"phone", "laptop"}, rows
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    answer = phone.post_form(server_b, revoke["laptop"], {"csrfmiddlewaretoken": csrf}, referer=page.url)
    assert answer.status_code == 302, describe(answer)

    # Seen at once by A: the laptop's session is gone; the phone's is not.
    assert_api_error(laptop.get(server_a, "/api/me/"), 401, "NOT_AUTHENTICATED")
    assert_api_error(laptop.get(server_b, "/api/me/"), 401, "NOT_AUTHENTICATED")
    assert phone.get(server_a, "/api/me/").status_code == 200


# --- Throttling ------------------------------------------------------------------------------------


def _email_far_from_a_window_edge(cluster, rate: str = "5/5m", margin: int = 30) -> str:
    """An account whose fixed throttle window does not roll over during the next ``margin`` s.

    django-ratelimit's windows are fixed and staggered per key: an attempt counter starts
    again at a window edge. Picking an account far from its edge keeps the count exact.
    """
    _limit, period = _split_rate(rate)
    for n in range(6):
        email = cluster.email(f"throttle-{n}")
        if _get_window(email, period) - time.time() > margin:
            return email
    raise AssertionError("every throttle account is near its window edge; add accounts")


def test_login_attempts_through_both_processes_count_together(cluster, server_a, server_b, agents):
    email = _email_far_from_a_window_edge(cluster)
    on = {server_a.name: agents("attacker-a"), server_b.name: agents("attacker-b")}
    answers = []
    for attempt in range(7):
        server = (server_a, server_b)[attempt % 2]
        password = cluster.password if attempt == 6 else f"wrong guess number {attempt}"
        answers.append(on[server.name].api_login(server, email, password))

    # LOGIN_RATE_PER_ACCOUNT is 5/5m for all processes together: the 6th attempt (the 3rd
    # through B) is refused, not the 11th; then even the right password is refused.
    for answer in answers[:5]:
        assert_api_error(answer, 401, "INVALID_CREDENTIALS")
    for answer in answers[5:]:
        body = assert_api_error(answer, 429, "TOO_MANY_LOGIN_ATTEMPTS")
        assert int(answer.headers["Retry-After"]) >= 1, body
        assert SESSION_COOKIE not in answer.cookies
    for server in (server_a, server_b):
        assert_api_error(on[server.name].get(server, "/api/me/"), 401, "NOT_AUTHENTICATED")
    # Both refusals, through two processes, are one row of the account bucket's window: count 2.
    assert cluster.sql_value(
        "SELECT count(*) || ':' || sum(count) FROM accounts_auditevent WHERE event = 'login_throttled' AND target = %s",
        f"email:{email}",
    ) == "1:2"


# --- Orders and refunds under concurrency ---------------------------------------------------------


def test_concurrent_order_creation_through_both_processes_loses_nothing(cluster, server_a, server_b, agents):
    buyers = [f"buyer-{n}" for n in range(4)]
    signed_in = {}
    for n, key in enumerate(buyers):
        agent = agents(key).sign_in((server_a, server_b)[n % 2], cluster.email(key), cluster.password)
        agent.csrf_token(server_a)  # the token of the rotated CSRF secret, valid on every process
        signed_in[key] = agent

    plan = []  # (thread, buyer, server, amounts)
    for thread in range(ORDER_THREADS):
        key = buyers[thread % len(buyers)]
        server = (server_a, server_b)[thread % 2]
        amounts = [f"{thread + 1}.{attempt + 10}" for attempt in range(ORDERS_PER_THREAD)]
        plan.append((key, server, amounts))

    def creator(key, server, amounts):
        def run():
            agent = signed_in[key].clone()  # a connection and cookie jar of its own
            try:
                return [
                    agent.post_json(server, "/api/orders/", {"amount": amount, "currency": "EUR"}) for amount in amounts
                ]
            finally:
                agent.close()

        return run

    created = []
    for batch in release_together([creator(*entry) for entry in plan]):
        created.extend(batch)

    assert len(created) == ORDER_THREADS * ORDERS_PER_THREAD
    assert all(answer.status_code == 201 for answer in created), [describe(a) for a in created if a.status_code != 201]
    ids = {answer.json()["id"] for answer in created}
    assert len(ids) == len(created), "two creations answered with the same order"

    # Every order is in the database, with its owner and amount; nothing more, nothing less.
    owner_ids = [cluster.user_id(key) for key in buyers]
    rows = cluster.sql(
        "SELECT id::text, owner_id::text, amount FROM orders_order WHERE owner_id::text = ANY(%s)", owner_ids
    )
    assert {row[0] for row in rows} == ids
    expected = sorted(
        (cluster.user_id(key), Decimal(amount)) for key, _server, amounts in plan for amount in amounts
    )
    assert sorted((owner, amount) for _id, owner, amount in rows) == expected

    # And each buyer sees exactly their own, through the other process.
    for n, key in enumerate(buyers):
        server = (server_b, server_a)[n % 2]
        listing = signed_in[key].get(server, "/api/orders/?page_size=500")
        assert listing.status_code == 200, describe(listing)
        mine = {order["id"] for order in listing.json()["results"]}
        assert mine == {answer.json()["id"] for answer in created if answer.json()["owner"] == cluster.user_id(key)}


def test_concurrent_approvals_by_two_managers_through_both_processes_refund_each_order_once(
    cluster, server_a, server_b, agents
):
    owner = agents("refund-owner").sign_in(server_a, cluster.email("refund-owner"), cluster.password)
    refund_ids, order_ids = [], []
    for n in range(REFUND_REQUESTS):
        server = (server_a, server_b)[n % 2]
        order = owner.post_json(server, "/api/orders/", {"amount": f"{100 + n}.00", "currency": "EUR"})
        assert order.status_code == 201, describe(order)
        order_id = order.json()["id"]
        paid = owner.post_json(server, f"/api/orders/{order_id}/pay/")
        assert paid.status_code == 200, describe(paid)
        refund = owner.post_json(server, f"/api/orders/{order_id}/refund-requests/", {"reason": "Arrived broken"})
        assert refund.status_code == 201, describe(refund)
        order_ids.append(order_id)
        refund_ids.append(refund.json()["id"])

    managers = {}
    for key, server in (("manager-one", server_a), ("manager-two", server_b)):
        agent = agents(key).sign_in(server, cluster.email(key), cluster.password)
        agent.csrf_token(server)
        managers[key] = agent

    # Every request approved four times at once: each manager through A and through B.
    contenders = [
        (refund_id, key, server) for refund_id in refund_ids for key in managers for server in (server_a, server_b)
    ]

    def approver(refund_id, key, server):
        def run():
            agent = managers[key].clone()
            try:
                return agent.post_json(server, f"/api/refund-requests/{refund_id}/approve/")
            finally:
                agent.close()

        return run

    answers = release_together([approver(*contender) for contender in contenders])

    assert all(answer.status_code < 500 for answer in answers), [describe(a) for a in answers if a.status_code >= 500]
    for refund_id in refund_ids:
        mine = [
            (contender, answer)
            for contender, answer in zip(contenders, answers, strict=True)
            if contender[0] == refund_id
        ]
        winners = [(contender, answer) for contender, answer in mine if answer.status_code == 200]
        assert len(winners) == 1, [describe(answer) for _c, answer in mine]
        (winner_key, _server), body = winners[0][0][1:], winners[0][1].json()
        assert body["status"] == "approved" and body["decided_by"] == cluster.user_id(winner_key), body
        for _contender, answer in mine:
            if answer.status_code != 200:
                error = assert_api_error(answer, 403, "FORBIDDEN")
                assert error["message"] == "You do not have permission to decide this refund request", error

    # The database agrees: each request approved once, by the winner; each order refunded.
    rows = cluster.sql(
        "SELECT r.id::text, r.status, r.decided_by_id::text, o.status FROM orders_refundrequest r "
        "JOIN orders_order o ON o.id = r.order_id WHERE r.id::text = ANY(%s)",
        refund_ids,
    )
    assert len(rows) == REFUND_REQUESTS
    winners_by_refund = {
        contender[0]: cluster.user_id(contender[1])
        for contender, answer in zip(contenders, answers, strict=True)
        if answer.status_code == 200
    }
    for refund_id, refund_status, decided_by, order_status in rows:
        assert (refund_status, order_status) == ("approved", "refunded")
        assert decided_by == winners_by_refund[refund_id]
    assert cluster.sql_value(
        "SELECT count(*) FROM orders_refundrequest WHERE order_id::text = ANY(%s)", order_ids
    ) == REFUND_REQUESTS
