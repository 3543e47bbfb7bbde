"""The cases of ``make bench`` and the order in which they are measured.

The runner's own process sets Django up against the run's database (to migrate, seed and
count queries with the test client); the measured requests go to gunicorn over https,
sent by wrk (:mod:`bench.wrk`). A few requests are sent from here too, with the standard
library: signing the customer in, and checking that each baseline returns what its endpoint
returns before anything is measured.
"""

from __future__ import annotations

import base64
import http.client
import json
import logging
import os
import random
import ssl
import statistics
import subprocess
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from bench.console import say
from bench.harness import CSRF_COOKIE, LOOPBACK, PYTHON, ROOT, SESSION_COOKIE, Profile, Server
from bench.options import Config
from bench.seeding import (
    REDIRECT_URI,
    TOKEN_RATE_BOUND,
    Data,
    grow_to_large,
    seed_login_accounts,
    seed_second_step_accounts,
    seed_small,
    seed_token_pools,
)
from bench.wrk import Bench, Case

HTTP_TIMEOUT = 30.0
STOCK_SETTINGS = "bench.stock.settings"
# The cases whose query count is compared between the small and the large size.
QUERY_CASES = ("detail_bearer", "detail_baseline", "list_bearer", "list_baseline", "page_session", "page_baseline",
               "detail_denied", "region_list")

# --- Talking to the server (setup and checks only; the load comes from wrk) ---------------------


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    cookies: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)


def https_request(server: Server, method: str, path: str, *, headers: dict | None = None,
                  body: bytes | None = None) -> Reply:
    """One request over https to the run's server, trusting only its certificate."""
    context = ssl.create_default_context(cafile=str(server.cert))
    conn = http.client.HTTPSConnection(LOOPBACK, server.port, timeout=HTTP_TIMEOUT, context=context)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        cookies = {}
        for name, value in response.getheaders():
            if name.lower() == "set-cookie":
                cookie_name, _, rest = value.partition("=")
                cookies[cookie_name.strip()] = rest.split(";", 1)[0]
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, cookies, response.read())
    finally:
        conn.close()


def https_get(server: Server, path: str, headers: dict | None = None) -> Reply:
    return https_request(server, "GET", path, headers=headers)


def csrf_pair(server: Server) -> tuple[str, str]:
    """A CSRF cookie and the matching X-CSRFToken value, as a browser gets them."""
    reply = https_get(server, "/api/auth/csrf/")
    if reply.status != 200 or CSRF_COOKIE not in reply.cookies:
        raise RuntimeError(f"GET /api/auth/csrf/ answered {reply.status} {reply.body[:200]!r}")
    return reply.cookies[CSRF_COOKIE], reply.json()["csrfToken"]


def login_headers(server: Server, cookie: str, token: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "Cookie": f"{CSRF_COOKIE}={cookie}",
        "X-CSRFToken": token,
        "Origin": server.origin,
        "Referer": f"{server.origin}/accounts/login/",
    }


def api_login(server: Server, email: str, password: str) -> Reply:
    cookie, token = csrf_pair(server)
    body = json.dumps({"email": email, "password": password}).encode()
    return https_request(server, "POST", "/api/auth/login/", headers=login_headers(server, cookie, token), body=body)


# --- Query counts (Django's test client on the same database) ---------------------------------


def count_queries(path: str, *, bearer: str | None = None, session_key: str | None = None) -> dict:
    """Queries one steady-state request runs, captured in process with CaptureQueriesContext."""
    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST=LOOPBACK)
    if session_key:
        client.cookies[settings.SESSION_COOKIE_NAME] = session_key
    extra: dict[str, Any] = {"HTTP_AUTHORIZATION": f"Bearer {bearer}"} if bearer else {}
    for _ in range(2):  # the first requests may touch the session (at most once a minute)
        client.get(path, secure=True, **extra)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path, secure=True, **extra)
    return {"status": response.status_code, "count": len(captured.captured_queries),
            "sql": [query["sql"][:400] for query in captured.captured_queries]}


# --- Argon2 alone ----------------------------------------------------------------------------


def argon2_batch(size: int) -> dict:
    """``size`` verifies with the configured hasher: wall-clock p50 and CPU seconds per verify."""
    from accounts.hashers import Argon2idHasher

    hasher = Argon2idHasher()
    password = "bench argon2 verify alone"
    encoded = hasher.encode(password, hasher.salt())
    walls, cpus = [], []
    for _ in range(size):
        wall, cpu = time.perf_counter(), time.process_time()
        if not hasher.verify(password, encoded):
            raise RuntimeError("Argon2 verify failed")
        cpus.append(time.process_time() - cpu)
        walls.append(time.perf_counter() - wall)
    return {"p50_ms": statistics.median(walls) * 1000, "cpu_s": statistics.median(cpus)}


# --- The suite -------------------------------------------------------------------------------


def run_suite(config: Config, profile: Profile) -> dict:
    """Set up, seed, start gunicorn and measure every case; the measurements, for the figures."""
    rng, data = random.Random(7), Data()
    prepare_database(config, profile, data, rng)
    server = start_server(config, profile)
    stock = start_stock(config, profile)
    data.session_key = sign_in_customer(server, data)
    bench = Bench(server, config, profile.tmp)
    cases = read_cases(data)
    check_baselines(server, cases, data)
    queries, sizes = measure_sizes(config, bench, cases, data, rng)
    measure_reads(config, bench, cases)
    measure_stock_reads(bench, cases, stock)
    argon2 = measure_logins(config, bench, server, data)
    second_step = measure_second_step(config, server, data)
    measure_token_endpoint(config, bench, data, stock)
    return {"bench": bench, "queries": queries, "sizes": sizes, "argon2": argon2, "second_step": second_step,
            "data": data}


def prepare_database(config: Config, profile: Profile, data: Data, rng: random.Random) -> None:
    """Create the run's database, set Django up on it in this process, migrate and seed the small size."""
    say(f"PostgreSQL database {profile.db_name}, Redis prefix {profile.cache_prefix}, server {profile.origins[0]}")
    profile.create_database()
    os.environ.update(profile.environment())
    import django

    django.setup()
    from django.core.management import call_command

    # The in-process test client must not print a log line per request; the server is unaffected.
    for name in ("request", "audit", "django.request"):
        logging.getLogger(name).setLevel(logging.ERROR)

    say("migrating")
    call_command("migrate", interactive=False, verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    say(f"seeding the small size: {config.small_orders:,} orders, {config.small_tokens:,} tokens")
    seed_small(config, data, rng)


def start_server(config: Config, profile: Profile) -> Server:
    say(f"starting gunicorn ({config.workers} workers, https) on {profile.origins[0]}")
    server = profile.start_server("bench", profile.ports[0])
    server.wait_until_ready()
    return server


@dataclass
class Stock:
    """The stock Django + DOT project (bench/stock/) as served for the run, and what it was seeded with."""

    server: Server
    client_id: str
    client_secret: str
    token: str
    public_client_id: str = ""
    codes: list[str] = field(default_factory=list)
    refresh_tokens: list[str] = field(default_factory=list)
    verifier: str = ""


def start_stock(config: Config, profile: Profile) -> Stock:
    """Migrate and seed the stock project's own database, then serve it with the same gunicorn command."""
    say(f"stock Django + django-oauth-toolkit project on {profile.origins[1]}")
    database_url = profile.create_extra_database("stock")
    env = profile.environment(database_url=database_url, settings_module=STOCK_SETTINGS)
    pool = str(TOKEN_RATE_BOUND * config.case_seconds + 100)  # as many codes and refresh tokens as ours
    seeded = subprocess.run([PYTHON, "-m", "bench.stock.seed", pool], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=600)
    if seeded.returncode != 0:
        raise RuntimeError(f"seeding the stock project failed:\n{seeded.stdout[-2000:]}\n{seeded.stderr[-3000:]}")
    found = json.loads(seeded.stdout)
    server = profile.start_server("stock", profile.ports[1], database_url=database_url, settings_module=STOCK_SETTINGS)
    server.wait_until_ready(path="/plain/")
    return Stock(server, found["client_id"], found["client_secret"], found["token"], found["public_client_id"],
                 found["codes"], found["refresh_tokens"], found["verifier"])


def stock_cases(stock: Stock) -> dict[str, Case]:
    form = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
    basic = "Basic " + base64.b64encode(f"{quote(stock.client_id)}:{quote(stock.client_secret)}".encode()).decode()
    return {
        "plain": Case("plain", "GET /plain/ (this project, the bare view)", "/plain/",
                      headers={"Accept": "application/json"}),
        "plain_stock": Case("plain_stock", "GET /plain/ (stock Django, the same view)", "/plain/",
                            headers={"Accept": "application/json"}, server=stock.server),
        "bearer_stock": Case("bearer_stock", "GET /bearer/ (stock DOT ProtectedResourceView)", "/bearer/",
                             headers={"Authorization": f"Bearer {stock.token}", "Accept": "application/json"},
                             server=stock.server),
        "client_credentials_stock": Case(
            "client_credentials_stock", "client credentials (stock DOT)", "/o/token/", method="POST",
            headers=dict(form, Authorization=basic), body="grant_type=client_credentials", server=stock.server),
        "exchange_public_stock": Case(
            "exchange_public_stock", "code + PKCE exchange (stock DOT, public client)", "/o/token/", method="POST",
            headers=form, pool="codes-stock", server=stock.server,
            body_template=urlencode({"grant_type": "authorization_code", "redirect_uri": REDIRECT_URI,
                                     "code_verifier": stock.verifier, "client_id": stock.public_client_id})
            + "&code={item}"),
        "refresh_public_stock": Case(
            "refresh_public_stock", "refresh (stock DOT, public client)", "/o/token/", method="POST", headers=form,
            pool="refresh-stock", server=stock.server,
            body_template=f"grant_type=refresh_token&client_id={quote(stock.public_client_id)}"
            + "&refresh_token={item}"),
        "introspection_stock": Case(
            "introspection_stock", "introspection (stock DOT)", "/o/introspect/", method="POST",
            headers=dict(form, Authorization=basic), body=urlencode({"token": stock.token}), server=stock.server),
    }


def measure_stock_reads(bench: Bench, cases: dict[str, Case], stock: Stock) -> None:
    """The bare view here against the same view in stock Django; stock DOT's bearer view against its bare view."""
    say("this project and stock Django + DOT, side by side")
    stocked = stock_cases(stock)
    bench.measure(stocked["plain"], stocked["plain_stock"], connections=1)
    bench.measure(stocked["bearer_stock"], stocked["plain_stock"], connections=1, tag="/paired-with-stock-bearer")


def sign_in_customer(server: Server, data: Data) -> str:
    """The measured customer's session key."""
    reply = api_login(server, data.customer_email, data.customer_password)
    if reply.status != 200 or SESSION_COOKIE not in reply.cookies:
        raise RuntimeError(f"signing the customer in answered {reply.status} {reply.body[:300]!r}")
    return reply.cookies[SESSION_COOKIE]


def read_cases(data: Data) -> dict[str, Case]:
    """The read cases: each measured endpoint and the baseline it is compared with."""
    customer = data.customer_id
    bearer = {"Authorization": f"Bearer {data.customer_token}", "Accept": "application/json"}
    plain = {"Accept": "application/json"}
    return {
        "detail_bearer": Case(
            "detail_bearer", "GET /api/orders/<id>/ (bearer)", f"/api/orders/{data.customer_order}/", headers=bearer
        ),
        "detail_pat": Case(
            "detail_pat",
            "GET /api/orders/<id>/ (personal token)",
            f"/api/orders/{data.customer_order}/",
            headers={"Authorization": f"Bearer {data.customer_personal_token}", "Accept": "application/json"},
        ),
        "detail_baseline": Case(
            "detail_baseline",
            "baseline detail (no auth)",
            f"/api/baseline/customers/{customer}/orders/{data.customer_order}/",
            headers=plain,
        ),
        "list_bearer": Case("list_bearer", "GET /api/orders/ (bearer)", "/api/orders/", headers=bearer),
        "list_baseline": Case(
            "list_baseline", "baseline list (no auth)", f"/api/baseline/customers/{customer}/orders/", headers=plain
        ),
        "page_session": Case(
            "page_session",
            "GET /orders/ (session)",
            "/orders/",
            headers={"Cookie": f"{SESSION_COOKIE}={data.session_key}", "Accept": "text/html"},
        ),
        "page_baseline": Case(
            "page_baseline",
            "baseline page (no auth)",
            f"/baseline/customers/{customer}/orders/",
            headers={"Accept": "text/html"},
        ),
        "detail_denied": Case(
            "detail_denied",
            "GET /api/orders/<other's id>/ (bearer, 404)",
            f"/api/orders/{data.other_order}/",
            headers=bearer,
            expect=(404,),
        ),
        "floor": Case("floor", "GET /healthz/ (no work: the per-request floor)", "/healthz/", headers=plain),
        "region_list": Case(
            "region_list",
            "GET /api/orders/ (bearer, support: region-wide)",
            "/api/orders/",
            headers={"Authorization": f"Bearer {data.support_token}", "Accept": "application/json"},
        ),
    }


def check_same_body(measured: Reply, baseline: Reply, what: str) -> None:
    if measured.status != 200 or baseline.status != 200:
        raise RuntimeError(f"{what}: measured {measured.status}, baseline {baseline.status} (expected 200 for both)")
    if measured.json() != baseline.json():
        raise RuntimeError(f"{what}: the baseline does not return the same JSON as the endpoint it stands for")


def check_baselines(server: Server, cases: dict[str, Case], data: Data) -> None:
    """Each baseline returns what its endpoint returns; another customer's order is a 404."""
    say("checking that each baseline returns what its endpoint returns")
    for what in ("detail", "list"):
        measured, baseline = cases[f"{what}_bearer"], cases[f"{what}_baseline"]
        check_same_body(https_get(server, measured.path, measured.headers), https_get(server, baseline.path), what)
    pat, baseline = cases["detail_pat"], cases["detail_baseline"]
    pat_reply = https_get(server, pat.path, pat.headers)
    check_same_body(pat_reply, https_get(server, baseline.path), "detail (personal token)")
    for key in ("page_session", "page_baseline"):
        status = https_get(server, cases[key].path, cases[key].headers).status
        if status != 200:
            raise RuntimeError(f"{cases[key].label} answered {status}")
    denied = https_get(server, cases["detail_denied"].path, cases["detail_denied"].headers)
    if denied.status != 404:
        raise RuntimeError(f"another customer's order answered {denied.status}, not 404")


def query_targets(cases: dict[str, Case], data: Data) -> dict[str, dict]:
    """How the test client requests each case whose queries are counted."""
    bearer_of = {"detail_bearer": data.customer_token, "list_bearer": data.customer_token,
                 "detail_denied": data.customer_token, "region_list": data.support_token}
    targets = {key: {"path": cases[key].path} for key in QUERY_CASES}
    for key, token in bearer_of.items():
        targets[key]["bearer"] = token
    targets["page_session"]["session_key"] = data.session_key
    return targets


def measure_sizes(config: Config, bench: Bench, cases: dict[str, Case], data: Data,
                  rng: random.Random) -> tuple[dict, dict]:
    """Queries per request and p50 at the small size, then growth to the large size and its queries."""
    targets = query_targets(cases, data)
    queries: dict[str, dict] = {}
    sizes: dict[str, dict] = {}
    say("queries per request and p50, small size")
    queries["small"] = {key: count_queries(**target) for key, target in targets.items()}
    sizes["small"] = {"orders": data.orders, "access_tokens": data.tokens, "users": data.users}
    for key in ("detail_bearer", "list_bearer", "page_session", "region_list"):
        bench.measure(cases[key], connections=1, tag="/small")

    say(f"growing to the large size: {config.large_orders:,} orders, {config.large_tokens:,} tokens")
    grow_to_large(config, data, rng)
    sizes["large"] = {"orders": data.orders, "access_tokens": data.tokens, "users": data.users}
    say("queries per request, large size")
    queries["large"] = {key: count_queries(**target) for key, target in targets.items()}
    return queries, sizes


def measure_reads(config: Config, bench: Bench, cases: dict[str, Case]) -> None:
    say("endpoints vs their baselines, large size")
    bench.measure(cases["floor"], connections=1)
    for measured, baseline in (("detail_bearer", "detail_baseline"), ("list_bearer", "list_baseline")):
        for connections in (1, config.high_connections):
            bench.measure(cases[measured], cases[baseline], connections=connections)
    bench.measure(cases["page_session"], cases["page_baseline"], connections=1)
    bench.measure(cases["detail_pat"], cases["detail_baseline"], connections=1)
    bench.measure(cases["detail_pat"], cases["detail_bearer"], connections=1, tag="/paired-with-pat")
    bench.measure(cases["detail_denied"], cases["detail_bearer"], connections=1, tag="/paired-with-denied")
    bench.measure(cases["region_list"], connections=1)


def measure_second_step(config: Config, server: Server, data: Data) -> dict[str, list[float]]:
    """What a second factor adds to a sign-in: the password step and the code step, one after the other.

    wrk cannot carry a pending session from one request to the next, so these are timed from
    here, one sign-in at a time on a new connection each (both steps pay the same handshake):
    the figure is the ratio of the two, not an absolute.
    """
    import pyotp

    say("second step (authenticator app)")
    seed_second_step_accounts(data, config.second_step_accounts)
    first: list[float] = []
    second: list[float] = []
    totp = pyotp.TOTP(data.mfa_secret)
    for email in data.mfa_emails:
        cookie, token = csrf_pair(server)
        headers = login_headers(server, cookie, token)
        body = json.dumps({"email": email, "password": data.login_password}).encode()
        started = time.perf_counter()
        reply = https_request(server, "POST", "/api/auth/login/", headers=headers, body=body)
        first.append((time.perf_counter() - started) * 1000)
        if reply.status != 200 or reply.json().get("status") != "mfa_required" or SESSION_COOKIE not in reply.cookies:
            raise RuntimeError(f"the password step answered {reply.status} {reply.body[:200]!r}")
        pending = reply.cookies[SESSION_COOKIE]
        step_headers = {**headers, "Cookie": f"{CSRF_COOKIE}={cookie}; {SESSION_COOKIE}={pending}"}
        code = json.dumps({"code": totp.now()}).encode()
        started = time.perf_counter()
        reply = https_request(server, "POST", "/api/auth/login/2fa/", headers=step_headers, body=code)
        second.append((time.perf_counter() - started) * 1000)
        if reply.status != 200:
            raise RuntimeError(f"the second step answered {reply.status} {reply.body[:200]!r}")
    return {"password_step_ms": first, "code_step_ms": second}


def login_cases(server: Server, data: Data) -> dict[str, Case]:
    """A real sign-in (a fresh account from the ``logins`` pool each time) and a throttled one.

    Pushes ``data.throttled_email`` over its per-account limit on ``server`` first, and takes a
    CSRF cookie and token from it, as a browser would.
    """
    for _ in range(4):  # three real attempts use up the account's 3/h, the fourth is throttled
        api_login(server, data.throttled_email, data.login_password)
    cookie, token = csrf_pair(server)
    headers = login_headers(server, cookie, token)
    return {
        "login": Case("login", "POST /api/auth/login/ (real, Argon2)", "/api/auth/login/", method="POST",
                      headers=headers, pool="logins",
                      body_template=json.dumps({"email": "{item}", "password": data.login_password})),
        "login_throttled": Case("login_throttled", "POST /api/auth/login/ (throttled, 429)", "/api/auth/login/",
                                method="POST", headers=headers,
                                body=json.dumps({"email": data.throttled_email, "password": data.login_password}),
                                expect=(429,)),
    }


def measure_logins(config: Config, bench: Bench, server: Server, data: Data) -> list[dict]:
    """Real and throttled logins, and Argon2 verify alone between them; the Argon2 batches."""
    say("logins")
    seed_login_accounts(config, data)
    bench.add_pool("logins", data.login_emails)
    cases = login_cases(server, data)
    login, throttled = cases["login"], cases["login_throttled"]
    argon2 = [argon2_batch(config.argon2_batch) for _ in range(config.runs)]
    bench.measure(login, throttled, connections=1)
    argon2 += [argon2_batch(config.argon2_batch) for _ in range(config.runs)]
    bench.measure(login, connections=config.busy_connections)
    return argon2


def token_cases(data: Data, pools) -> dict[str, Case]:
    """The token endpoint's cases: code exchange and refresh per client type, client credentials, introspection."""
    form = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
    basic = {
        key: "Basic " + base64.b64encode(f"{quote(c['client_id'])}:{quote(c['client_secret'] or '')}".encode()).decode()
        for key, c in data.clients.items()
    }
    cases = {}
    for key in ("public", "confidential"):
        client_part = f"&client_id={data.clients[key]['client_id']}" if key == "public" else ""
        headers = dict(form, **({"Authorization": basic[key]} if key == "confidential" else {}))
        cases[f"exchange_{key}"] = Case(
            f"exchange_{key}", f"code + PKCE exchange ({key} client)", "/o/token/", method="POST", headers=headers,
            pool=f"codes-{key}",
            body_template=urlencode({"grant_type": "authorization_code", "redirect_uri": REDIRECT_URI,
                                     "code_verifier": pools.verifier}) + "&code={item}" + client_part)
        cases[f"refresh_{key}"] = Case(
            f"refresh_{key}", f"refresh ({key} client)", "/o/token/", method="POST", headers=headers,
            pool=f"refresh-{key}", body_template="grant_type=refresh_token&refresh_token={item}" + client_part)
    cases["client_credentials"] = Case(
        "client_credentials", "client credentials (confidential)", "/o/token/", method="POST",
        headers=dict(form, Authorization=basic["service"]), body="grant_type=client_credentials&scope=orders%3Aread")
    cases["introspection"] = Case(
        "introspection", "introspection (resource server)", "/o/introspect/", method="POST",
        headers=dict(form, Authorization=basic["resource"]), body=urlencode({"token": data.introspected_token}))
    return cases


def measure_token_endpoint(config: Config, bench: Bench, data: Data, stock: Stock) -> None:
    say("token endpoint")
    pools = seed_token_pools(config, data)
    for key in ("public", "confidential"):
        bench.add_pool(f"codes-{key}", pools.codes[key])
        bench.add_pool(f"refresh-{key}", pools.refresh[key])
    bench.add_pool("codes-stock", stock.codes)
    bench.add_pool("refresh-stock", stock.refresh_tokens)
    cases = token_cases(data, pools)
    stocked = stock_cases(stock)
    connections = config.busy_connections
    bench.measure(cases["exchange_public"], cases["exchange_confidential"], stocked["exchange_public_stock"],
                  connections=connections)
    bench.measure(cases["refresh_public"], cases["refresh_confidential"], stocked["refresh_public_stock"],
                  connections=connections)
    bench.measure(cases["client_credentials"], stocked["client_credentials_stock"], connections=connections)
    bench.measure(cases["introspection"], stocked["introspection_stock"], connections=connections)
