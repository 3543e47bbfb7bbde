"""The production profile for real, as the service tests use it: :mod:`bench.harness` plus test clients.

A :class:`Cluster` is a :class:`bench.harness.Profile` (a PostgreSQL database and a Redis
key prefix of its own, the run's certificate and keys, gunicorn processes started as ``make
serve`` starts them, all removed again at the end) with what the tests add on top: the
accounts and OAuth clients they sign in with, servers that read their own structured log,
browser-like :class:`Agent` clients and racing requests.

Only loopback addresses are used. The machine's PostgreSQL and Redis are never stopped or
reconfigured: the fault tests put a :class:`~tests.services.proxy.TcpProxy` in between.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import requests

from bench.harness import LOOPBACK, SESSION_COOKIE, Profile, Server as ProfileServer, free_ports, with_address

__all__ = ["Agent", "Cluster", "Server", "with_address"]

HTTP_TIMEOUT = 30
WORKERS = 2
THROTTLES = {
    "LOGIN_RATE_PER_ACCOUNT": "5/5m",
    # Every request comes from 127.0.0.1: the per-IP limits would otherwise couple
    # unrelated tests. The per-account limit is the one under test.
    "LOGIN_RATE_PER_IP": "1000/m",
    "TOKEN_RATE_PER_CLIENT": "1000/m",
    "TOKEN_RATE_PER_IP": "1000/m",
}


# --- Server processes, as the tests read them ------------------------------------------------


class Server(ProfileServer):
    """A gunicorn master of the cluster, with its request log readable line by line."""

    def request_log(self, start: int = 0) -> list[dict]:
        """The structured request log lines (``"event": "request"``) written since ``start``."""
        return request_log_records(self.log_text(start))

    def wait_for_log(self, needle: str, start: int = 0, timeout: float = 10) -> str:
        """The log since ``start`` once it contains ``needle`` (lines are written as requests end)."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.log_text(start)
            if needle in text:
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"{needle!r} never appeared in the log of server {self.name}")
            time.sleep(0.1)


def request_log_records(text: str) -> list[dict]:
    records = []
    for line in text.splitlines():
        start = line.find("{")
        if start < 0 or '"event"' not in line:
            continue
        try:
            record = json.loads(line[start:])
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("event") == "request":
            records.append(record)
    return records


# --- HTTP clients ------------------------------------------------------------------------------


def https_session(cert: Path) -> requests.Session:
    """A ``requests`` session that trusts only the run's certificate.

    ``trust_env`` is off: REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE in the environment would
    otherwise override ``verify`` (and proxy variables could route loopback elsewhere).
    """
    http = requests.Session()
    http.trust_env = False
    http.verify = str(cert)
    return http


class Agent:
    """A browser, more or less: one cookie jar, CSRF tokens, no automatic redirects.

    Cookies are kept per host, not per port (as browsers do), so one agent talking to two
    processes on 127.0.0.1 sends both the same session: the point of these tests.
    """

    def __init__(self, cert: Path, user_agent: str = "services-tests"):
        self.cert = cert
        self.http = https_session(cert)
        self.http.headers["User-Agent"] = user_agent
        self._csrf: str | None = None

    def close(self) -> None:
        self.http.close()

    # Cookies

    def cookie(self, name: str) -> str | None:
        return self.http.cookies.get(name)

    @property
    def session_cookie(self) -> str | None:
        return self.cookie(SESSION_COOKIE)

    def set_cookie(self, name: str, value: str) -> None:
        self.http.cookies.set(name, value, domain=LOOPBACK, path="/", secure=True)

    def clone(self, user_agent: str | None = None) -> Agent:
        """A new agent (its own connection) carrying this one's cookies and CSRF token."""
        other = Agent(self.cert, user_agent or self.http.headers["User-Agent"])
        for cookie in self.http.cookies:
            other.http.cookies.set_cookie(cookie)
        other._csrf = self._csrf
        return other

    # Requests

    def get(self, server: Server, path: str, **kwargs) -> requests.Response:
        return self.http.get(server.url(path), allow_redirects=False, timeout=HTTP_TIMEOUT, **kwargs)

    def csrf_token(self, server: Server) -> str:
        if self._csrf is None:
            response = self.get(server, "/api/auth/csrf/")
            assert response.status_code == 200, (response.status_code, response.text[:300])
            self._csrf = response.json()["csrfToken"]
        return self._csrf

    def forget_csrf(self) -> None:
        self._csrf = None

    def post_json(
        self, server: Server, path: str, data: dict | None = None, *, headers: dict | None = None
    ) -> requests.Response:
        """An unsafe API request with the session: X-CSRFToken and a same-origin Referer."""
        all_headers = {"X-CSRFToken": self.csrf_token(server), "Referer": server.url(path), **(headers or {})}
        return self.http.post(
            server.url(path), json=data or {}, headers=all_headers, allow_redirects=False, timeout=HTTP_TIMEOUT
        )

    def post_form(
        self, server: Server, path: str, data: dict, *, referer: str | None = None, **kwargs
    ) -> requests.Response:
        headers = {"Referer": referer or server.url(path), **kwargs.pop("headers", {})}
        return self.http.post(
            server.url(path), data=data, headers=headers, allow_redirects=False, timeout=HTTP_TIMEOUT, **kwargs
        )

    def api_login(self, server: Server, email: str, password: str) -> requests.Response:
        response = self.post_json(server, "/api/auth/login/", {"email": email, "password": password})
        # Signing in rotates the CSRF secret: the next unsafe request needs a fresh token.
        self.forget_csrf()
        return response

    def sign_in(self, server: Server, email: str, password: str) -> Agent:
        response = self.api_login(server, email, password)
        assert response.status_code == 200, (response.status_code, response.text[:300])
        assert self.session_cookie, "no session cookie after signing in"
        return self


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- Racing requests ---------------------------------------------------------------------------


def release_together(calls: list[Callable[[], object]], timeout: float = 90) -> list:
    """Run every call in a thread of its own, all released at the same instant by a barrier."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(index: int, call: Callable[[], requests.Response]) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = call()
        except BaseException as error:  # noqa: BLE001 - reported below with the others
            results[index] = error

    threads = [threading.Thread(target=run, args=(i, call), daemon=True) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(timeout=max(0.1, deadline - time.monotonic()))
    assert not any(thread.is_alive() for thread in threads), "a racing request hung"
    errors = [result for result in results if isinstance(result, BaseException)]
    assert not errors, errors
    return results


def describe(response: requests.Response) -> str:
    where = urlsplit(response.url)
    return f"{response.request.method} {where.netloc}{where.path} -> {response.status_code} {response.text[:200]!r}"


# --- The cluster -------------------------------------------------------------------------------


class Cluster(Profile):
    """Three loopback ports (process A, the public origin; process B; the fault-test process F),
    the users and OAuth clients the tests need, and their ids once seeded."""

    server_class = Server

    def __init__(self, *, users: dict[str, dict], clients: list[dict]):
        self.port_a, self.port_b, self.port_fault = free_ports(3)
        super().__init__(
            name="auth_mp", settings_module="tests.services.server_settings",
            ports=[self.port_a, self.port_b, self.port_fault], workers=WORKERS, variables=THROTTLES,
        )
        self.users, self.clients = users, clients
        self.password = f"Mp-{secrets.token_hex(12)}"
        self.user_ids: dict[str, str] = {}
        self.registered: dict[str, dict] = {}

    def set_up(self) -> None:
        """Create and migrate the database, collect static files, seed the users and clients."""
        self.create_database()
        migrate = self.manage("migrate", "--noinput")
        collect = self.manage("collectstatic", "--noinput", "--verbosity", "0")
        self.finish(migrate, "migrate")
        self.finish(collect, "collectstatic")

        spec = {
            "users": [
                {"email": email, "password": self.password, **attributes} for email, attributes in self.users.items()
            ]
        }
        seeding = self.manage("shell", "-c", "from tests.services.seed import main; main()", with_stdin=True)
        registrations = [(client, self.manage("register_client", *client["args"])) for client in self.clients]
        self.user_ids = json.loads(
            self.finish(seeding, "seeding users", stdin=json.dumps(spec)).strip().splitlines()[-1]
        )
        for client, process in registrations:
            self.registered[client["key"]] = json.loads(
                self.finish(process, f"register_client {client['key']}").strip().splitlines()[-1]
            )

    def tear_down(self) -> list[str]:
        problems = super().tear_down()
        if problems:
            raise RuntimeError("; ".join(problems))
        return problems

    # Looking at the database directly (not through any server process)

    def sql_value(self, query: str, *params):
        rows = self.sql(query, *params)
        return rows[0][0] if rows else None

    def email(self, key: str) -> str:
        return f"{key}@example.com"

    def user_id(self, key: str) -> str:
        return self.user_ids[self.email(key)]
