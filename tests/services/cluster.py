"""The production profile for real: a database of its own, gunicorn over https, several processes.

A :class:`Cluster` owns everything one test run creates, and removes all of it again:

- a PostgreSQL database of its own (``auth_mp_<pid>_<random>``) on the server named by
  ``DATABASE_URL`` (default ``127.0.0.1:5432``), migrated with the production profile and
  dropped at the end;
- a Redis key prefix of its own (``CACHE_KEY_PREFIX``), whose keys are deleted at the end
  (never ``FLUSHALL``/``FLUSHDB``: the Redis server is shared);
- a temporary directory: a self-signed certificate for 127.0.0.1, the OIDC signing key,
  collected static files, ``DJANGO_VAR_DIR`` and the server logs;
- gunicorn processes started as ``make serve`` starts them, terminated (and waited for).

Only loopback addresses are used. The machine's PostgreSQL and Redis are never stopped or
reconfigured: the fault tests put a :class:`~tests.services.proxy.TcpProxy` in between.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
import redis
import requests

from config.environment import SITE_VARIABLES
from config.keys import write_oidc_key, write_tls_certificate

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent if (Path(sys.executable).parent / "gunicorn").exists() else ROOT / ".venv" / "bin"
PYTHON = str(BIN / "python") if (BIN / "python").exists() else sys.executable
GUNICORN = str(BIN / "gunicorn")

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
LOOPBACK = "127.0.0.1"
HTTP_TIMEOUT = 30
START_TIMEOUT = 60
WORKERS = 2
SESSION_COOKIE = "__Host-sessionid"
CSRF_COOKIE = "__Host-csrftoken"

# What the settings read from the environment: never inherited from the shell running pytest
# (which holds the *test* profile's values), always set here explicitly when needed.
APP_VARIABLES = SITE_VARIABLES | {"SERVICES_STATIC_ROOT"}


# --- Addresses -----------------------------------------------------------------------------


def admin_database_url() -> str:
    """The PostgreSQL server to create the run's database on (``DATABASE_URL``'s server)."""
    url = os.environ.get("DATABASE_URL", "").strip()
    return url if url.startswith(("postgres://", "postgresql://")) else DEFAULT_DATABASE_URL


def shared_redis_url() -> str:
    url = os.environ.get("REDIS_URL", "").strip()
    return url if url.startswith("redis://") else DEFAULT_REDIS_URL


def with_address(url: str, *, host: str | None = None, port: int | None = None, path: str | None = None) -> str:
    """``url`` with another host, port or path (user and password kept)."""
    parts = urlsplit(url)
    userinfo = ""
    if parts.username:
        userinfo = quote(parts.username, safe="")
        if parts.password:
            userinfo += ":" + quote(parts.password, safe="")
        userinfo += "@"
    netloc = f"{userinfo}{host or parts.hostname}:{port or parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path if path is None else path, "", ""))


def free_ports(count: int) -> list[int]:
    """Ports nobody listens on now (all held open together, so they are distinct)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((LOOPBACK, 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


# --- Key material ----------------------------------------------------------------------------


# --- Server processes --------------------------------------------------------------------------


@dataclass
class Server:
    """One gunicorn master (with its workers) serving the production profile over https."""

    name: str
    port: int
    process: subprocess.Popen
    log_path: Path
    cert: Path

    @property
    def origin(self) -> str:
        return f"https://{LOOPBACK}:{self.port}"

    def url(self, path: str) -> str:
        return path if path.startswith("http") else self.origin + path

    @property
    def is_running(self) -> bool:
        return self.process.poll() is None

    def log_size(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def log_text(self, start: int = 0) -> str:
        with self.log_path.open("rb") as handle:
            handle.seek(start)
            return handle.read().decode("utf-8", errors="replace")

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_text()[-chars:] if self.log_path.exists() else "(no log)"

    def wait_until_healthy(self, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        with https_session(self.cert) as http:
            while time.monotonic() < deadline:
                if not self.is_running:
                    raise RuntimeError(f"server {self.name} exited with {self.process.returncode}:\n{self.log_tail()}")
                try:
                    if http.get(self.url("/healthz/"), timeout=2).status_code == 200:
                        return
                except requests.RequestException:
                    pass
                time.sleep(0.2)
        raise RuntimeError(f"server {self.name} did not answer /healthz/ within {timeout}s:\n{self.log_tail()}")

    def stop(self) -> None:
        """SIGTERM the master (gunicorn stops its workers), wait; kill its own group if stuck."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                # The master was started in a session of its own: its group is it and its workers.
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)

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

    def booted_workers(self) -> int:
        """How many workers this master has booted so far (a restarted worker adds one)."""
        return len(re.findall(r"Booting worker with pid", self.log_text()))


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

    def clone(self, user_agent: str | None = None) -> "Agent":
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

    def post_json(self, server: Server, path: str, data: dict | None = None, *, headers: dict | None = None) -> requests.Response:
        """An unsafe API request with the session: X-CSRFToken and a same-origin Referer."""
        all_headers = {"X-CSRFToken": self.csrf_token(server), "Referer": server.url(path), **(headers or {})}
        return self.http.post(
            server.url(path), json=data or {}, headers=all_headers, allow_redirects=False, timeout=HTTP_TIMEOUT
        )

    def post_form(self, server: Server, path: str, data: dict, *, referer: str | None = None, **kwargs) -> requests.Response:
        headers = {"Referer": referer or server.url(path), **kwargs.pop("headers", {})}
        return self.http.post(
            server.url(path), data=data, headers=headers, allow_redirects=False, timeout=HTTP_TIMEOUT, **kwargs
        )

    def api_login(self, server: Server, email: str, password: str) -> requests.Response:
        response = self.post_json(server, "/api/auth/login/", {"email": email, "password": password})
        # Signing in rotates the CSRF secret: the next unsafe request needs a fresh token.
        self.forget_csrf()
        return response

    def sign_in(self, server: Server, email: str, password: str) -> "Agent":
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
    return f"{response.request.method} {urlsplit(response.url).netloc}{urlsplit(response.url).path} -> {response.status_code} {response.text[:200]!r}"


# --- The cluster -------------------------------------------------------------------------------


@dataclass
class Cluster:
    users: dict[str, dict]
    clients: list[dict]
    tmp: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="auth-services-")))
    run_id: str = field(default_factory=lambda: f"{os.getpid()}_{secrets.token_hex(3)}")
    password: str = field(default_factory=lambda: f"Mp-{secrets.token_hex(12)}")
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(64))
    servers: list[Server] = field(default_factory=list)
    user_ids: dict[str, str] = field(default_factory=dict)
    registered: dict[str, dict] = field(default_factory=dict)
    database_created: bool = False

    def __post_init__(self) -> None:
        self.db_name = f"auth_mp_{self.run_id}"
        self.cache_prefix = f"auth-mp-{self.run_id}"
        self.admin_url = admin_database_url()
        self.redis_url = shared_redis_url()
        self.database_url = with_address(self.admin_url, path=f"/{self.db_name}")
        self.cert, self.key = write_tls_certificate(self.tmp)
        self.oidc_key = write_oidc_key(self.tmp)
        self.static_root = self.tmp / "static"
        self.var_dir = self.tmp / "var"
        self.var_dir.mkdir()
        # Process A (the public origin), process B, and the fault-test process.
        self.port_a, self.port_b, self.port_fault = free_ports(3)
        self.origins = [f"https://{LOOPBACK}:{port}" for port in (self.port_a, self.port_b, self.port_fault)]

    def __repr__(self) -> str:  # never the password, keys or client secrets in a failure report
        return f"Cluster(database={self.db_name!r}, cache_prefix={self.cache_prefix!r}, tmp={str(self.tmp)!r})"

    # Environment

    def environment(self, *, database_url: str | None = None, redis_url: str | None = None) -> dict[str, str]:
        env = {name: value for name, value in os.environ.items() if name not in APP_VARIABLES}
        env.update(
            DJANGO_ENV="production",
            DJANGO_SETTINGS_MODULE="tests.services.server_settings",
            SERVICES_STATIC_ROOT=str(self.static_root),
            DJANGO_SECRET_KEY=self.secret_key,
            DJANGO_VAR_DIR=str(self.var_dir),
            DATABASE_URL=database_url or self.database_url,
            REDIS_URL=redis_url or self.redis_url,
            CACHE_KEY_PREFIX=self.cache_prefix,
            PUBLIC_ORIGIN=self.origins[0],
            ALLOWED_HOSTS=f"{LOOPBACK},localhost",
            CSRF_TRUSTED_ORIGINS=",".join(self.origins),
            OIDC_RSA_PRIVATE_KEY_FILE=str(self.oidc_key),
            WEB_CONCURRENCY=str(WORKERS),
            TRUSTED_PROXY_COUNT="0",
            LOGIN_RATE_PER_ACCOUNT="5/5m",
            # Every request comes from 127.0.0.1: the per-IP limits would otherwise couple
            # unrelated tests. The per-account limit is the one under test.
            LOGIN_RATE_PER_IP="1000/m",
            TOKEN_RATE_PER_CLIENT="1000/m",
            TOKEN_RATE_PER_IP="1000/m",
            PYTHONUNBUFFERED="1",
        )
        return env

    def manage(self, *args: str, with_stdin: bool = False) -> subprocess.Popen:
        """Start ``manage.py`` with the production profile against the run's database."""
        return subprocess.Popen(
            [PYTHON, "manage.py", *args],
            cwd=ROOT,
            env=self.environment(),
            stdin=subprocess.PIPE if with_stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    @staticmethod
    def finish(process: subprocess.Popen, what: str, stdin: str | None = None, timeout: float = 180) -> str:
        try:
            out, err = process.communicate(stdin, timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            raise RuntimeError(f"{what} did not finish within {timeout}s") from None
        if process.returncode != 0:
            raise RuntimeError(f"{what} failed ({process.returncode}):\n{out[-3000:]}\n{err[-3000:]}")
        return out

    # Life cycle

    def set_up(self) -> None:
        with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'CREATE DATABASE "{self.db_name}"')
        self.database_created = True
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
        self.user_ids = json.loads(self.finish(seeding, "seeding users", stdin=json.dumps(spec)).strip().splitlines()[-1])
        for client, process in registrations:
            self.registered[client["key"]] = json.loads(self.finish(process, f"register_client {client['key']}").strip().splitlines()[-1])

    def start_server(self, name: str, port: int, **environment) -> Server:
        log_path = self.tmp / f"server-{name}.log"
        command = [
            GUNICORN, "config.wsgi:application",
            "--config", "config/gunicorn.conf.py",
            "--bind", f"{LOOPBACK}:{port}",
            "--workers", str(WORKERS),
            "--access-logfile", "-",
            "--forwarded-allow-ips", "",
            "--certfile", str(self.cert),
            "--keyfile", str(self.key),
            # Not make serve's: gunicorn's control socket defaults to one path per user
            # (~/.gunicorn/gunicorn.ctl), which would collide with anyone else's gunicorn.
            "--no-control-socket",
        ]
        with log_path.open("ab") as log:  # O_APPEND: the master and its workers all write here
            process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=self.environment(**environment),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        server = Server(name=name, port=port, process=process, log_path=log_path, cert=self.cert)
        self.servers.append(server)
        return server

    def tear_down(self) -> None:
        problems = []
        for server in self.servers:
            try:
                server.stop()
            except Exception as error:  # noqa: BLE001 - keep cleaning up, report at the end
                problems.append(f"stopping {server.name}: {error!r}")
        if self.database_created:
            try:
                with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=10) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
            except Exception as error:  # noqa: BLE001
                problems.append(f"dropping {self.db_name}: {error!r}")
        try:
            client = redis.Redis.from_url(self.redis_url, socket_timeout=5, socket_connect_timeout=5)
            keys = list(client.scan_iter(match=f"{self.cache_prefix}:*", count=500))
            if keys:
                client.delete(*keys)
            client.close()
        except Exception as error:  # noqa: BLE001
            problems.append(f"deleting Redis keys {self.cache_prefix}:*: {error!r}")
        shutil.rmtree(self.tmp, ignore_errors=True)
        if problems:
            raise RuntimeError("; ".join(problems))

    # Looking at the database directly (not through any server process)

    def sql(self, query: str, *params) -> list[tuple]:
        with psycopg.connect(self.database_url, autocommit=True, connect_timeout=10) as conn:
            return conn.execute(query, params).fetchall()

    def sql_value(self, query: str, *params):
        rows = self.sql(query, *params)
        return rows[0][0] if rows else None

    def email(self, key: str) -> str:
        return f"{key}@example.com"

    def user_id(self, key: str) -> str:
        return self.user_ids[self.email(key)]
