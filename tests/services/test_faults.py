"""Redis or PostgreSQL unreachable, then back: 503 with Retry-After, never a way around a throttle,
no stack trace, and service resumes without restarting the server.

Server process F reaches PostgreSQL and Redis through TCP proxies this test run owns
(tests/services/proxy.py). Cutting a proxy closes its listening socket and every live
connection, so F's pooled connections break and new ones are refused, exactly as if the
service had gone away; the machine's shared PostgreSQL and Redis are never touched.
"""

from __future__ import annotations

import time

import pytest

from tests.services.cluster import SESSION_COOKIE, describe
from tests.support.oauth import csrf_from

pytestmark = pytest.mark.services

RECOVERY_SECONDS = 20
LEAKS = ("Traceback", 'File "', "psycopg", "OperationalError", "ConnectionError", "ConnectionInterrupted", "redis.")


def assert_unavailable(response, *, api: bool) -> None:
    assert response.status_code == 503, describe(response)
    assert int(response.headers["Retry-After"]) > 0
    for leak in LEAKS:
        assert leak not in response.text, (leak, response.text[:500])
    if api:
        body = response.json()
        assert body["status"] == "error" and body["code"] == "SERVICE_UNAVAILABLE", body
        assert body["message"], body
    else:
        assert response.headers["Content-Type"].startswith("text/html"), response.headers
        assert "Temporarily unavailable" in response.text, response.text[:500]


def assert_probes(agents, server, *, ready: bool) -> None:
    """What a load balancer sees (a probe carries no cookie): the process answers; ready or not."""
    probe = agents("probe")
    alive = probe.get(server, "/healthz/")
    assert alive.status_code == 200 and alive.json() == {"status": "ok"}, describe(alive)
    readiness = probe.get(server, "/readyz/")
    if ready:
        assert readiness.status_code == 200 and readiness.json() == {"status": "ok"}, describe(readiness)
    else:
        assert readiness.status_code == 503 and readiness.json() == {"status": "unavailable"}, describe(readiness)
        assert int(readiness.headers["Retry-After"]) > 0


def eventually(request, expected_status: int, what: str):
    """Repeat a request (bounded in count and time) until it answers ``expected_status``."""
    deadline = time.monotonic() + RECOVERY_SECONDS
    answers = []
    while time.monotonic() < deadline and len(answers) < 100:
        answer = request()
        answers.append(answer.status_code)
        if answer.status_code == expected_status:
            return answer
        time.sleep(0.2)
    raise AssertionError(f"{what} never answered {expected_status} after the restore: {answers}")


def login_form(agent, server, email, password):
    page = agent.get(server, "/accounts/login/")
    assert page.status_code == 200, describe(page)
    return lambda: agent.post_form(
        server,
        "/accounts/login/",
        {"csrfmiddlewaretoken": csrf_from(page.text), "email": email, "password": password, "next": "/orders/"},
    )


def test_redis_unreachable_refuses_every_login_with_503_while_signed_in_pages_keep_working(cluster, fault_rig, agents):
    server = fault_rig.server
    workers = server.booted_workers()
    signed_in = agents("signed-in").sign_in(server, cluster.email("fault-redis"), cluster.password)
    assert signed_in.get(server, "/orders/").status_code == 200
    email = cluster.email("fault-redis-login")
    api_visitor, page_visitor = agents("api-visitor"), agents("page-visitor")
    api_visitor.csrf_token(server)
    submit_form = login_form(page_visitor, server, email, cluster.password)

    fault_rig.redis.cut()
    try:
        # The right password, and still nobody gets in: the throttle cannot count, so no attempt passes.
        api = api_visitor.api_login(server, email, cluster.password)
        assert_unavailable(api, api=True)
        assert SESSION_COOKIE not in api.cookies
        page = submit_form()
        assert_unavailable(page, api=False)
        assert SESSION_COOKIE not in page.cookies
        for visitor in (api_visitor, page_visitor):
            assert visitor.session_cookie is None
            assert visitor.get(server, "/api/me/").status_code == 401
            assert visitor.get(server, "/orders/").status_code == 302

        # What needs no throttle keeps working for the signed-in browser (sessions are in PostgreSQL).
        for path in ("/orders/", "/api/orders/", "/api/me/", "/accounts/sessions/"):
            answer = signed_in.get(server, path)
            assert answer.status_code == 200, describe(answer)
        assert_probes(agents, server, ready=False)
    finally:
        fault_rig.redis.restore()

    # Back without a restart: the same requests now succeed.
    eventually(lambda: agents("probe").get(server, "/readyz/"), 200, "/readyz/")
    api_visitor.forget_csrf()
    api = eventually(lambda: api_visitor.api_login(server, email, cluster.password), 200, "POST /api/auth/login/")
    assert api.json()["user"]["email"] == email
    assert api_visitor.get(server, "/api/me/").status_code == 200
    page = login_form(page_visitor, server, email, cluster.password)()
    assert page.status_code == 302 and page.headers["Location"] == "/orders/", describe(page)
    assert page_visitor.get(server, "/orders/").status_code == 200
    assert server.is_running and server.booted_workers() == workers, server.log_tail()


def test_postgres_unreachable_is_503_without_a_stack_trace_and_service_resumes(cluster, fault_rig, agents):
    server = fault_rig.server
    workers = server.booted_workers()
    signed_in = agents("signed-in").sign_in(server, cluster.email("fault-postgres"), cluster.password)
    assert signed_in.get(server, "/orders/").status_code == 200
    assert signed_in.get(server, "/api/orders/").status_code == 200
    signed_in.csrf_token(server)

    log_start = server.log_size()
    fault_rig.postgres.cut()
    try:
        answers = [
            (signed_in.get(server, "/orders/"), False),
            (signed_in.get(server, "/accounts/profile/"), False),
            (signed_in.get(server, "/api/orders/"), True),
            (signed_in.get(server, "/api/me/"), True),
            (signed_in.post_json(server, "/api/orders/", {"amount": "5.00", "currency": "EUR"}), True),
        ]
        for answer, api in answers:
            assert_unavailable(answer, api=api)
        assert_probes(agents, server, ready=False)
    finally:
        fault_rig.postgres.restore()

    # Each outage answer is still traced: its request id, and a request log line with the 503.
    logged = {record["request_id"]: record for record in server.request_log(log_start)}
    for answer, _api in answers:
        request_id = answer.headers.get("X-Request-ID")
        assert request_id and logged.get(request_id, {}).get("status") == 503, (describe(answer), request_id)

    # Back without a restart: the same session, the same requests.
    eventually(lambda: agents("probe").get(server, "/readyz/"), 200, "/readyz/")
    eventually(lambda: signed_in.get(server, "/orders/"), 200, "GET /orders/")
    eventually(lambda: signed_in.get(server, "/api/orders/"), 200, "GET /api/orders/")
    created = eventually(
        lambda: signed_in.post_json(server, "/api/orders/", {"amount": "5.00", "currency": "EUR"}),
        201,
        "POST /api/orders/",
    )
    assert created.json()["owner"] == cluster.user_id("fault-postgres")
    assert server.is_running and server.booted_workers() == workers, server.log_tail()


def test_both_unreachable_then_both_back(cluster, fault_rig, agents):
    server = fault_rig.server
    signed_in = agents("signed-in").sign_in(server, cluster.email("fault-both"), cluster.password)
    visitor = agents("visitor")
    visitor.csrf_token(server)

    fault_rig.postgres.cut()
    fault_rig.redis.cut()
    try:
        assert_unavailable(signed_in.get(server, "/orders/"), api=False)
        assert_unavailable(signed_in.get(server, "/api/orders/"), api=True)
        assert_unavailable(visitor.api_login(server, cluster.email("fault-both-login"), cluster.password), api=True)
        assert_probes(agents, server, ready=False)
    finally:
        fault_rig.redis.restore()
        fault_rig.postgres.restore()

    eventually(lambda: agents("probe").get(server, "/readyz/"), 200, "/readyz/")
    eventually(lambda: signed_in.get(server, "/orders/"), 200, "GET /orders/")
    visitor.forget_csrf()
    eventually(
        lambda: visitor.api_login(server, cluster.email("fault-both-login"), cluster.password),
        200,
        "POST /api/auth/login/",
    )
