"""make bench: what authentication and authorization cost, against baselines measured in the same run.

    .venv/bin/python -m bench.run [--runs 3] [--duration 4] [--warmup 2] [--workers 2]
                                  [--large-orders 100000] [--large-tokens 100000] [--quick]

One run owns everything it creates and removes all of it again, also when it fails or is
interrupted:

- a PostgreSQL database of its own (``bench_<pid>_<random>``), migrated and seeded with bulk
  inserts, dropped at the end;
- a Redis key prefix of its own (``CACHE_KEY_PREFIX``), whose keys are deleted at the end
  (never FLUSHALL/FLUSHDB: the server is shared);
- a temporary directory: the self-signed certificate for 127.0.0.1, the OIDC signing key,
  collected static files, wrk's case files and the server log;
- one gunicorn master with ``--workers`` workers (the same for every case), started as
  ``make serve`` starts it (production profile, ``config/gunicorn.conf.py``, https, access
  log), under
  ``bench.settings`` (``config.settings`` plus the baseline routes).

The load comes from wrk, a separate process, on loopback only. Each case gets a warm-up
and ``--runs`` runs; a figure is the median over the runs, its spread the lowest and highest
run. A ratio is taken run by run between two cases measured alternately (A B B A ...), so
slow drift of a shared machine hits both sides alike. See bench/README.md for the figures.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import importlib.metadata
import json
import os
import platform
import random
import re
import resource
import secrets
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from config.environment import SITE_VARIABLES  # noqa: E402 - needs ROOT on sys.path
from config.keys import write_oidc_key, write_tls_certificate  # noqa: E402 - needs ROOT on sys.path

BENCH_DIR = ROOT / "bench"
RESULTS_PATH = BENCH_DIR / "results.json"
LUA_SCRIPT = BENCH_DIR / "wrk.lua"
BIN = Path(sys.executable).parent
GUNICORN = BIN / "gunicorn"
LOOPBACK = "127.0.0.1"
DEFAULT_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
SESSION_COOKIE = "__Host-sessionid"
CSRF_COOKIE = "__Host-csrftoken"
REDIRECT_URI = "http://127.0.0.1:8765/callback"
USER_SCOPES = "openid profile email orders:read orders:write"
TOKEN_SCOPE = "openid orders:read"
START_TIMEOUT = 90.0
HTTP_TIMEOUT = 30.0
# Upper bounds of what one worker pair can serve per second, used only to size the pools of
# single-use items (codes, refresh tokens, login accounts) with room to spare.
TOKEN_RATE_BOUND = 300
LOGIN_RATE_BOUND = 80

# What the settings read from the environment: never inherited from the calling shell,
# always set here (the bench server is the production profile, configured explicitly).
APP_VARIABLES = SITE_VARIABLES | {"BENCH_STATIC_ROOT"}


# --- Configuration ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    runs: int
    duration: int
    warmup: int
    workers: int
    high_connections: int
    small_orders: int
    large_orders: int
    small_tokens: int
    large_tokens: int
    small_users: int
    large_users: int
    customer_orders: int
    argon2_batch: int

    @property
    def busy_connections(self) -> int:
        """Two connections per worker keep every worker busy on slow requests (logins, token
        endpoint): while one request's response travels and the next one arrives, the
        worker's other thread hashes. More would only queue."""
        return 2 * self.workers

    @property
    def case_seconds(self) -> int:
        return self.warmup + self.runs * self.duration


def parse_config(argv: list[str]) -> Config:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="measured runs per case (default 3)")
    parser.add_argument("--duration", type=int, default=4, help="seconds per run (default 4)")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up per case (default 2)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers, the same for every case (default 2)")
    parser.add_argument("--connections", type=int, default=16, help="the high concurrency level (default 16)")
    parser.add_argument("--large-orders", type=int, default=100_000, help="orders at the large size (default 100000)")
    parser.add_argument("--large-tokens", type=int, default=100_000, help="access tokens at the large size (default 100000)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes and 1-second runs: checks the harness only")
    args = parser.parse_args(argv)
    if args.quick:
        args.runs, args.duration, args.warmup = 2, 1, 1
        args.large_orders, args.large_tokens = 2_000, 2_000
    for name in ("runs", "duration", "warmup", "workers", "connections"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.large_orders < 1_000 or args.large_tokens < 1_000:
        parser.error("--large-orders and --large-tokens must be at least 1000 (the small size is 100 and 1000)")
    return Config(
        runs=args.runs,
        duration=args.duration,
        warmup=args.warmup,
        workers=args.workers,
        high_connections=args.connections,
        small_orders=100,
        large_orders=args.large_orders,
        small_tokens=1_000,
        large_tokens=args.large_tokens,
        small_users=20,
        large_users=max(20, args.large_orders // 50),
        customer_orders=60,
        argon2_batch=10 if not args.quick else 4,
    )


# --- Output ----------------------------------------------------------------------------------

STARTED = time.monotonic()


def say(message: str) -> None:
    print(f"[{time.monotonic() - STARTED:6.1f}s] {message}", file=sys.stderr, flush=True)


class Progress:
    """A progress bar on stderr: redrawn in place on a terminal, a line per quarter otherwise."""

    WIDTH = 30
    SHOWN_FROM = 5_000  # rows; smaller inserts take a moment and get no bar

    def __init__(self, label: str, total: int):
        self.label, self.total, self.done = label, max(1, total), 0
        self.is_shown = total >= self.SHOWN_FROM
        self.is_tty = sys.stderr.isatty()
        self._last_quarter = -1
        self._draw()

    def advance(self, count: int) -> None:
        self.done = min(self.total, self.done + count)
        self._draw()

    def close(self) -> None:
        self.done = self.total
        self._draw()
        if self.is_tty and self.is_shown:
            print(file=sys.stderr, flush=True)

    def _draw(self) -> None:
        if not self.is_shown:
            return
        share = self.done / self.total
        bar = "#" * int(share * self.WIDTH) + "." * (self.WIDTH - int(share * self.WIDTH))
        line = f"    {self.label:<24} [{bar}] {self.done:>9,}/{self.total:,}"
        if self.is_tty:
            print("\r" + line, end="", file=sys.stderr, flush=True)
            return
        quarter = int(share * 4)
        if quarter != self._last_quarter:
            self._last_quarter = quarter
            print(line, file=sys.stderr, flush=True)


# --- Statistics ------------------------------------------------------------------------------


def spread(values: list[float]) -> dict:
    values = [float(v) for v in values]
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "runs": values}


def ratios(numerators: list[float], denominators: list[float]) -> list[float]:
    return [n / d if d else float("inf") for n, d in zip(numerators, denominators)]


# --- Key material ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", "", ""))


def service_urls() -> tuple[str, str]:
    """The PostgreSQL server (its maintenance database) and the Redis server to use."""
    database_url = os.environ.get("DATABASE_URL", "").strip()
    admin_url = with_database(database_url, "postgres") if database_url.startswith(("postgres://", "postgresql://")) else DEFAULT_POSTGRES_URL
    redis_url = os.environ.get("REDIS_URL", "").strip()
    redis_url = redis_url if redis_url.startswith("redis://") else DEFAULT_REDIS_URL
    for url in (admin_url, redis_url):
        host = urlsplit(url).hostname
        if host not in (LOOPBACK, "localhost", "::1"):
            raise SystemExit(f"bench: {url} is not on loopback; the benchmark only uses loopback addresses.")
    return admin_url, redis_url


# --- The run's resources -------------------------------------------------------------------


@dataclass
class Run:
    """Everything one benchmark run creates, and how to remove it."""

    config: Config
    tmp: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="auth-bench-")))
    run_id: str = field(default_factory=lambda: f"{os.getpid()}_{secrets.token_hex(3)}")
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(64))
    database_created: bool = False
    server: subprocess.Popen | None = None

    def __post_init__(self) -> None:
        try:
            self._prepare()
        except BaseException:
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise

    def _prepare(self) -> None:
        self.admin_url, self.redis_url = service_urls()
        self.db_name = f"bench_{self.run_id}"
        self.cache_prefix = f"bench-{self.run_id}"
        self.database_url = with_database(self.admin_url, self.db_name)
        self.port = free_port()
        self.origin = f"https://{LOOPBACK}:{self.port}"
        self.log_path = self.tmp / "server.log"
        self.static_root = self.tmp / "static"
        self.var_dir = self.tmp / "var"
        self.var_dir.mkdir()
        self.cert, self.key = write_tls_certificate(self.tmp)
        self.oidc_key = write_oidc_key(self.tmp)

    def environment(self) -> dict[str, str]:
        env = {name: value for name, value in os.environ.items() if name not in APP_VARIABLES}
        env.update(
            DJANGO_ENV="production",
            DJANGO_SETTINGS_MODULE="bench.settings",
            BENCH_STATIC_ROOT=str(self.static_root),
            DJANGO_SECRET_KEY=self.secret_key,
            DJANGO_VAR_DIR=str(self.var_dir),
            DATABASE_URL=self.database_url,
            REDIS_URL=self.redis_url,
            CACHE_KEY_PREFIX=self.cache_prefix,
            PUBLIC_ORIGIN=self.origin,
            ALLOWED_HOSTS=LOOPBACK,
            CSRF_TRUSTED_ORIGINS=self.origin,
            OIDC_RSA_PRIVATE_KEY_FILE=str(self.oidc_key),
            WEB_CONCURRENCY=str(self.config.workers),
            TRUSTED_PROXY_COUNT="0",
            HOST=LOOPBACK,
            PORT=str(self.port),
            # Every request comes from 127.0.0.1: the per-IP limit is opened wide. The
            # per-account limit stays low: real logins use a fresh account each, and the
            # throttled-login case needs an account over its limit.
            LOGIN_RATE_PER_IP="1000000/m",
            LOGIN_RATE_PER_ACCOUNT="3/h",
            TOKEN_RATE_PER_CLIENT="1000000/m",
            TOKEN_RATE_PER_IP="1000000/m",
            PYTHONUNBUFFERED="1",
        )
        return env

    # Life cycle

    def create_database(self) -> None:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'CREATE DATABASE "{self.db_name}"')
        self.database_created = True

    def start_server(self) -> None:
        command = [
            str(GUNICORN), "config.wsgi:application",
            "--config", "config/gunicorn.conf.py",
            "--bind", f"{LOOPBACK}:{self.port}",
            "--workers", str(self.config.workers),
            "--access-logfile", "-",
            "--forwarded-allow-ips", "",
            "--certfile", str(self.cert),
            "--keyfile", str(self.key),
            # make serve's command, but gunicorn's control socket defaults to one path per user
            # (~/.gunicorn/gunicorn.ctl), which would collide with anyone else's gunicorn.
            "--no-control-socket",
        ]
        with self.log_path.open("ab") as log:
            self.server = subprocess.Popen(
                command, cwd=ROOT, env=self.environment(), stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.server.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.server.returncode}:\n{self.log_tail()}")
            try:
                if https_get(self, "/readyz/").status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"gunicorn did not answer /readyz/ within {START_TIMEOUT:.0f} s:\n{self.log_tail()}")

    def server_cpu_seconds(self) -> float:
        """CPU time (user + system) used so far by the gunicorn master and its workers."""
        if self.server is None:
            return 0.0
        master = self.server.pid
        total = 0
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as handle:
                    stat = handle.read().decode(errors="replace")
            except OSError:
                continue  # the process ended meanwhile
            fields = stat[stat.rfind(")") + 2:].split()  # after "pid (comm) ": state, ppid, ...
            if int(entry.name) == master or int(fields[1]) == master:
                total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
        return total / os.sysconf("SC_CLK_TCK")

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def stop_server(self) -> None:
        """SIGTERM the master we started (it stops its workers); kill its own group if stuck."""
        if self.server is None or self.server.poll() is not None:
            return
        self.server.terminate()
        try:
            self.server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.server.pid, signal.SIGKILL)  # the group of the session we started
            self.server.wait(timeout=10)

    def clean_up(self) -> list[str]:
        problems = []
        try:
            self.stop_server()
        except Exception as error:  # noqa: BLE001 - keep cleaning up, report at the end
            problems.append(f"stopping gunicorn: {error!r}")
        try:
            if "django" in sys.modules:
                from django.db import connections

                connections.close_all()
        except Exception as error:  # noqa: BLE001
            problems.append(f"closing database connections: {error!r}")
        if self.database_created:
            try:
                import psycopg

                with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=10) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
                self.database_created = False
            except Exception as error:  # noqa: BLE001
                problems.append(f"dropping database {self.db_name}: {error!r}")
        try:
            import redis

            client = redis.Redis.from_url(self.redis_url, socket_timeout=5, socket_connect_timeout=5)
            keys = list(client.scan_iter(match=f"{self.cache_prefix}:*", count=1000))
            for start in range(0, len(keys), 1000):
                client.delete(*keys[start:start + 1000])
            client.close()
        except Exception as error:  # noqa: BLE001
            problems.append(f"deleting Redis keys {self.cache_prefix}:*: {error!r}")
        shutil.rmtree(self.tmp, ignore_errors=True)
        return problems


# --- Talking to the server (setup and checks only; the load comes from wrk) ---------------------


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    cookies: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)


def https_get(run: Run, path: str, headers: dict | None = None) -> Reply:
    return https_request(run, "GET", path, headers=headers)


def https_request(run: Run, method: str, path: str, *, headers: dict | None = None, body: bytes | None = None) -> Reply:
    """One request over https to the run's server, trusting only its certificate."""
    import http.client

    context = ssl.create_default_context(cafile=str(run.cert))
    conn = http.client.HTTPSConnection(LOOPBACK, run.port, timeout=HTTP_TIMEOUT, context=context)
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


def csrf_pair(run: Run) -> tuple[str, str]:
    """A CSRF cookie and the matching X-CSRFToken value, as a browser gets them."""
    reply = https_get(run, "/api/auth/csrf/")
    if reply.status != 200 or CSRF_COOKIE not in reply.cookies:
        raise RuntimeError(f"GET /api/auth/csrf/ answered {reply.status} {reply.body[:200]!r}")
    return reply.cookies[CSRF_COOKIE], reply.json()["csrfToken"]


def login_headers(run: Run, cookie: str, token: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "Cookie": f"{CSRF_COOKIE}={cookie}",
        "X-CSRFToken": token,
        "Origin": run.origin,
        "Referer": f"{run.origin}/accounts/login/",
    }


def api_login(run: Run, email: str, password: str) -> Reply:
    cookie, token = csrf_pair(run)
    body = json.dumps({"email": email, "password": password}).encode()
    return https_request(run, "POST", "/api/auth/login/", headers=login_headers(run, cookie, token), body=body)


# --- Seeding ---------------------------------------------------------------------------------


def checksum(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(24)


def bulk_insert(model, rows, total: int, label: str, batch_size: int = 2000) -> list:
    """Insert ``total`` rows from an iterable in batches, with a progress bar; returns them."""
    progress = Progress(label, total)
    created, batch = [], []
    for row in rows:
        batch.append(row)
        if len(batch) == batch_size:
            created.extend(model.objects.bulk_create(batch))
            progress.advance(len(batch))
            batch = []
    if batch:
        created.extend(model.objects.bulk_create(batch))
        progress.advance(len(batch))
    progress.close()
    return created


@dataclass
class Data:
    """What the seeding made that the cases need."""

    customer_id: str = ""
    customer_email: str = ""
    customer_password: str = ""
    customer_order: str = ""
    other_order: str = ""
    customer_token: str = ""
    support_token: str = ""
    introspected_token: str = ""
    session_key: str = ""
    login_password: str = ""
    login_emails: list[str] = field(default_factory=list)
    throttled_email: str = ""
    clients: dict[str, dict] = field(default_factory=dict)
    filler_user_ids: list = field(default_factory=list)
    orders: int = 0
    tokens: int = 0
    users: int = 0


def currency_for(region: str) -> str:
    return "EUR" if region == "EU" else "USD"


def random_order(owner_id, region: str, rng: random.Random, now: dt.datetime, max_age_days: int = 365):
    from orders.models import Order

    return Order(
        id=uuid.UUID(int=rng.getrandbits(128), version=4),
        owner_id=owner_id,
        region=region,
        amount=Decimal(rng.randint(100, 99_999)) / 100,
        currency=currency_for(region),
        status=rng.choice(("pending", "paid", "cancelled", "refunded")),
        created_at=now - dt.timedelta(seconds=rng.randint(0, max_age_days * 86400)),
    )


def seed_small(config: Config, data: Data, rng: random.Random) -> None:
    """The small size: a customer with a page and a bit, a few others, 1,000 tokens."""
    from django.contrib.auth.hashers import make_password
    from oauth2_provider.models import AccessToken, Application

    from accounts.models import User
    from oauth.registration import register_client
    from orders.models import Order

    now = dt.datetime.now(dt.timezone.utc)
    unusable = make_password(None)
    data.customer_password = f"bench {secrets.token_hex(8)} customer"
    people = {
        "customer": User(email="bench-customer@example.com", name="Bench Customer", role="customer", region="EU",
                         password=make_password(data.customer_password)),
        "other": User(email="bench-other@example.com", name="Other Customer", role="customer", region="EU", password=unusable),
        "support": User(email="bench-support@example.com", name="Bench Support", role="support", region="EU", password=unusable),
        "oauth": User(email="bench-oauth@example.com", name="OAuth User", role="customer", region="EU", password=unusable),
    }
    User.objects.bulk_create(people.values())
    data.customer_id, data.customer_email = str(people["customer"].pk), people["customer"].email
    fillers = bulk_insert(User, filler_users(0, config.small_users, unusable), config.small_users, "users (small)")
    data.filler_user_ids = [(user.pk, user.region) for user in fillers]

    for key, spec in {
        "public": dict(client_type="public", grant="authorization-code", redirect_uris=[REDIRECT_URI], scopes=USER_SCOPES.split()),
        "confidential": dict(client_type="confidential", grant="authorization-code", redirect_uris=[REDIRECT_URI], scopes=USER_SCOPES.split()),
        "service": dict(client_type="confidential", grant="client-credentials", scopes=["orders:read"], role="support", region="EU"),
        "resource": dict(client_type="confidential", grant="client-credentials", scopes=["orders:read"], role="support",
                         region="EU", introspect=True),
    }.items():
        registered = register_client(name=f"Bench {key}", client_id=f"bench-{key}", **spec)
        data.clients[key] = {"client_id": registered.client_id, "client_secret": registered.client_secret,
                             "pk": Application.objects.get(client_id=registered.client_id).pk}

    customer_orders = [
        random_order(people["customer"].pk, "EU", rng, now, max_age_days=30) for _ in range(config.customer_orders)
    ]
    Order.objects.bulk_create(customer_orders)
    data.customer_order = str(max(customer_orders, key=lambda order: order.created_at).pk)
    other_order = random_order(people["other"].pk, "EU", rng, now)
    Order.objects.bulk_create([other_order])
    data.other_order = str(other_order.pk)
    rest = config.small_orders - config.customer_orders - 1
    bulk_insert(Order, filler_orders(data.filler_user_ids, rest, rng, now), rest, "orders (small)")

    expires = now + dt.timedelta(days=1)
    public_pk = data.clients["public"]["pk"]
    named = []
    for attribute, user, scope in (
        ("customer_token", people["customer"], TOKEN_SCOPE),
        ("support_token", people["support"], TOKEN_SCOPE),
        ("introspected_token", people["oauth"], TOKEN_SCOPE),
    ):
        raw = new_token()
        setattr(data, attribute, raw)
        named.append(AccessToken(user=user, application_id=public_pk, token="", token_checksum=checksum(raw),
                                 expires=expires, scope=scope))
    AccessToken.objects.bulk_create(named)
    rest = config.small_tokens - len(named)
    bulk_insert(AccessToken, filler_tokens(data, 0, rest, public_pk, expires, rng), rest, "access tokens (small)")
    data.orders, data.tokens = config.small_orders, config.small_tokens
    data.users = User.objects.count()
    analyze()


def filler_users(start: int, count: int, password: str):
    from accounts.models import User

    for index in range(start, start + count):
        region = "EU" if index % 2 == 0 else "US"
        yield User(email=f"bench-user-{index:07d}@example.com", name=f"User {index}", role="customer", region=region,
                   password=password)


def filler_orders(owners: list, count: int, rng: random.Random, now: dt.datetime):
    for _ in range(count):
        owner_id, region = owners[rng.randrange(len(owners))]
        yield random_order(owner_id, region, rng, now)


def filler_tokens(data: Data, start: int, count: int, application_pk: int, expires: dt.datetime, rng: random.Random):
    from oauth2_provider.models import AccessToken

    for index in range(start, start + count):
        owner_id, _region = data.filler_user_ids[rng.randrange(len(data.filler_user_ids))]
        yield AccessToken(user_id=owner_id, application_id=application_pk, token="",
                          token_checksum=checksum(f"bench-filler-{data.customer_id}-{index}"),
                          expires=expires, scope=TOKEN_SCOPE)


def grow_to_large(config: Config, data: Data, rng: random.Random) -> None:
    """Grow everyone else's data to the large size; the customer's own orders stay as they are."""
    from django.contrib.auth.hashers import make_password

    from accounts.models import User
    from oauth2_provider.models import AccessToken
    from orders.models import Order

    now = dt.datetime.now(dt.timezone.utc)
    more_users = config.large_users - config.small_users
    if more_users > 0:
        fillers = bulk_insert(User, filler_users(config.small_users, more_users, make_password(None)), more_users, "users (large)")
        data.filler_user_ids += [(user.pk, user.region) for user in fillers]
    more_orders = config.large_orders - data.orders
    bulk_insert(Order, filler_orders(data.filler_user_ids, more_orders, rng, now), more_orders, "orders (large)", 5000)
    more_tokens = config.large_tokens - data.tokens
    expires = now + dt.timedelta(days=1)
    bulk_insert(AccessToken, filler_tokens(data, data.tokens, more_tokens, data.clients["public"]["pk"], expires, rng),
                more_tokens, "access tokens (large)", 5000)
    data.orders, data.tokens = config.large_orders, config.large_tokens
    data.users = User.objects.count()
    analyze()


def analyze() -> None:
    """What autovacuum does after a bulk load: fresh statistics, and a visibility map that lets
    a count over the region index run as an index-only scan, as it would in production."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")


def seed_login_accounts(config: Config, data: Data) -> None:
    """Accounts for the login cases, one per attempt (the per-account throttle stays on)."""
    from django.contrib.auth.hashers import make_password

    from accounts.models import User

    data.login_password = f"bench {secrets.token_hex(8)} login"
    encoded = make_password(data.login_password)  # Argon2id, the configured parameters; shared by all
    count = LOGIN_RATE_BOUND * 2 * config.case_seconds + 100
    users = bulk_insert(
        User,
        (User(email=f"bench-login-{index:06d}@example.com", name=f"Login {index}", role="customer", region="EU",
              password=encoded) for index in range(count)),
        count,
        "login accounts",
    )
    data.throttled_email = users[0].email
    data.login_emails = [user.email for user in users[1:]]


@dataclass
class Pools:
    codes: dict[str, list[str]] = field(default_factory=dict)
    refresh: dict[str, list[str]] = field(default_factory=dict)
    verifier: str = ""


def seed_token_pools(config: Config, data: Data) -> Pools:
    """Single-use authorization codes (with PKCE) and refresh tokens, as the server would have made them."""
    from oauth2_provider.models import AccessToken, Grant, RefreshToken

    from accounts.models import User
    from oauth.models import TokenFamily, digest

    pools = Pools(verifier=secrets.token_urlsafe(48))
    challenge = base64.urlsafe_b64encode(hashlib.sha256(pools.verifier.encode()).digest()).rstrip(b"=").decode()
    user = User.objects.get(email="bench-oauth@example.com")
    now = dt.datetime.now(dt.timezone.utc)
    count = TOKEN_RATE_BOUND * config.case_seconds + 100
    for key in ("public", "confidential"):
        application_pk = data.clients[key]["pk"]
        codes = [secrets.token_urlsafe(24) for _ in range(count)]
        bulk_insert(Grant, (Grant(user=user, code=code, application_id=application_pk, expires=now + dt.timedelta(hours=2),
                                  redirect_uri=REDIRECT_URI, scope=TOKEN_SCOPE, code_challenge=challenge,
                                  code_challenge_method="S256", nonce="", claims="{}") for code in codes),
                    count, f"codes ({key})")
        bulk_insert(TokenFamily, (TokenFamily(application_id=application_pk, user=user, code_digest=digest(code),
                                              auth_time=now) for code in codes), count, f"code families ({key})")
        pools.codes[key] = codes

        refresh = [new_token() for _ in range(count)]
        families = [uuid.uuid4() for _ in range(count)]
        access = bulk_insert(AccessToken, (AccessToken(user=user, application_id=application_pk, token="",
                                                       token_checksum=checksum(new_token()),
                                                       expires=now + dt.timedelta(minutes=10), scope=TOKEN_SCOPE)
                                           for _ in range(count)), count, f"access tokens ({key})")
        bulk_insert(RefreshToken, (RefreshToken(user=user, application_id=application_pk, token="",
                                                token_checksum=checksum(raw), access_token=token, token_family=family)
                                   for raw, token, family in zip(refresh, access, families)), count, f"refresh tokens ({key})")
        bulk_insert(TokenFamily, (TokenFamily(application_id=application_pk, user=user, code_digest=digest(new_token()),
                                              family=family, auth_time=now, started_at=now, redeemed_at=now)
                                  for family in families), count, f"refresh families ({key})")
        pools.refresh[key] = refresh
    analyze()
    return pools


# --- wrk -------------------------------------------------------------------------------------


def children_cpu_seconds() -> float:
    """CPU time of this process's finished children (wrk), user and system."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def lua_literal(value) -> str:
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
        return f'"{escaped}"'
    if isinstance(value, dict):
        return "{" + ", ".join(f"[{lua_literal(k)}] = {lua_literal(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"no Lua literal for {type(value).__name__}")


@dataclass
class Case:
    key: str
    label: str
    path: str
    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None
    pool: str | None = None  # a name in Bench.items: each request takes the next item
    body_template: str | None = None
    expect: tuple[int, ...] = (200,)


class Bench:
    """Runs the cases with wrk against the run's server and keeps every measurement."""

    def __init__(self, run: Run):
        self.run = run
        self.config = run.config
        self.items: dict[str, Path] = {}
        self.cursors: dict[str, int] = {}
        self.results: dict[str, dict] = {}
        self.problems: list[str] = []
        self._case_files = 0

    def add_pool(self, name: str, values: list[str]) -> None:
        path = self.run.tmp / f"items-{name}.txt"
        path.write_text("\n".join(values) + "\n")
        self.items[name], self.cursors[name] = path, 0

    def _case_file(self, case: Case) -> Path:
        self._case_files += 1
        table = {"method": case.method, "path": case.path, "headers": case.headers, "body": case.body,
                 "items_file": str(self.items[case.pool]) if case.pool else None, "body_template": case.body_template}
        path = self.run.tmp / f"case-{self._case_files:03d}-{case.key}.lua"
        path.write_text("return " + lua_literal(table) + "\n")
        return path

    def wrk(self, case: Case, connections: int, seconds: int) -> dict:
        """One wrk run of ``seconds`` with ``connections`` connections (one thread)."""
        if self.run.server is None or self.run.server.poll() is not None:
            raise RuntimeError(f"the server is not running:\n{self.run.log_tail()}")
        env = dict(os.environ, BENCH_CASE=str(self._case_file(case)))
        if case.pool:
            env["BENCH_ITEMS_OFFSET"] = str(self.cursors[case.pool])
        command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", str(LUA_SCRIPT),
                   f"{self.run.origin}{case.path}"]
        cpu_before, wrk_before = self.run.server_cpu_seconds(), children_cpu_seconds()
        completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=seconds + 60)
        cpu_used, wrk_used = self.run.server_cpu_seconds() - cpu_before, children_cpu_seconds() - wrk_before
        line = next((l for l in completed.stdout.splitlines() if l.startswith("BENCH_RESULT ")), None)
        if completed.returncode != 0 or line is None:
            raise RuntimeError(f"wrk failed for {case.key} ({completed.returncode}):\n{completed.stdout[-2000:]}\n{completed.stderr[-2000:]}")
        result = json.loads(line[len("BENCH_RESULT "):])
        if case.pool:
            self.cursors[case.pool] += result["sent"]
        seconds_measured = result["duration_us"] / 1e6
        statuses = {int(k): v for k, v in result["statuses"].items()}
        unexpected = sum(v for k, v in statuses.items() if k not in case.expect)
        socket_errors = sum(result["errors"][k] for k in ("connect", "read", "write", "timeout"))
        return {
            "p50_ms": result["p50_us"] / 1000,
            "p90_ms": result["p90_us"] / 1000,
            "p99_ms": result["p99_us"] / 1000,
            "mean_ms": result["mean_us"] / 1000,
            "rps": result["requests"] / seconds_measured if seconds_measured else 0.0,
            "requests": result["requests"],
            # Server CPU (gunicorn master and workers, not PostgreSQL, Redis or wrk) per request.
            "cpu_ms": cpu_used * 1000 / result["requests"] if result["requests"] else 0.0,
            "server_cpu_share": cpu_used / seconds_measured if seconds_measured else 0.0,
            "wrk_cpu_share": wrk_used / seconds_measured if seconds_measured else 0.0,
            "statuses": statuses,
            "unexpected_statuses": unexpected,
            "socket_errors": result["errors"],
            "exhausted": result["exhausted"],
            "bad": unexpected + socket_errors + result["exhausted"],
        }

    def measure(self, *cases: Case, connections: int, tag: str = "") -> list[dict]:
        """Warm up each case, then run them alternately (A B, B A, A B ...) ``runs`` times."""
        names = " vs ".join(case.key for case in cases)
        say(f"  {names} @ {connections} connection{'s' if connections > 1 else ''}")
        for case in cases:
            self.wrk(case, connections, self.config.warmup)
        runs: dict[str, list[dict]] = {case.key: [] for case in cases}
        for index in range(self.config.runs):
            order = cases if index % 2 == 0 else tuple(reversed(cases))
            for case in order:
                runs[case.key].append(self.wrk(case, connections, self.config.duration))
        return [self._record(case, connections, runs[case.key], tag) for case in cases]

    def _record(self, case: Case, connections: int, runs: list[dict], tag: str) -> dict:
        key = f"{case.key}@{connections}{tag}"
        bad = sum(run["bad"] for run in runs)
        record = {
            "label": case.label,
            "method": case.method,
            "path": re.sub(r"[0-9a-f]{8}-[0-9a-f-]{27}", "<uuid>", case.path),
            "connections": connections,
            "p50_ms": spread([run["p50_ms"] for run in runs]),
            "p99_ms": spread([run["p99_ms"] for run in runs]),
            "rps": spread([run["rps"] for run in runs]),
            "cpu_ms": spread([run["cpu_ms"] for run in runs]),
            "server_cpu_share": spread([run["server_cpu_share"] for run in runs]),
            "wrk_cpu_share": spread([run["wrk_cpu_share"] for run in runs]),
            "runs": runs,
            "spoiled": bad > 0,
        }
        if bad:
            statuses: dict[int, int] = {}
            for run in runs:
                for status, count in run["statuses"].items():
                    statuses[status] = statuses.get(status, 0) + count
            self.problems.append(
                f"{key}: {bad} bad responses (statuses {statuses}, expected {case.expect}; socket errors "
                f"{[run['socket_errors'] for run in runs]}; items exhausted {sum(run['exhausted'] for run in runs)})"
            )
        self.results[key] = record
        return record


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
    extra = {"HTTP_AUTHORIZATION": f"Bearer {bearer}"} if bearer else {}
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


def check_same_body(run: Run, measured: Reply, baseline: Reply, what: str) -> None:
    if measured.status != 200 or baseline.status != 200:
        raise RuntimeError(f"{what}: measured {measured.status}, baseline {baseline.status} (expected 200 for both)")
    if measured.json() != baseline.json():
        raise RuntimeError(f"{what}: the baseline does not return the same JSON as the endpoint it stands for")


def run_suite(run: Run) -> dict:
    config = run.config
    rng = random.Random(7)
    data = Data()

    say(f"PostgreSQL database {run.db_name}, Redis prefix {run.cache_prefix}, server {run.origin}")
    run.create_database()
    os.environ.update(run.environment())
    import django

    django.setup()
    import logging

    from django.core.management import call_command

    # The in-process test client must not print a log line per request; the server is unaffected.
    for name in ("request", "audit", "django.request"):
        logging.getLogger(name).setLevel(logging.ERROR)

    say("migrating")
    call_command("migrate", interactive=False, verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    say(f"seeding the small size: {config.small_orders:,} orders, {config.small_tokens:,} tokens")
    seed_small(config, data, rng)

    say(f"starting gunicorn ({config.workers} workers, https) on {run.origin}")
    run.start_server()
    reply = api_login(run, data.customer_email, data.customer_password)
    if reply.status != 200 or SESSION_COOKIE not in reply.cookies:
        raise RuntimeError(f"signing the customer in answered {reply.status} {reply.body[:300]!r}")
    data.session_key = reply.cookies[SESSION_COOKIE]

    bench = Bench(run)
    customer = data.customer_id
    bearer = {"Authorization": f"Bearer {data.customer_token}", "Accept": "application/json"}
    plain = {"Accept": "application/json"}
    cases = {
        "detail_bearer": Case("detail_bearer", "GET /api/orders/<id>/ (bearer)", f"/api/orders/{data.customer_order}/", headers=bearer),
        "detail_baseline": Case("detail_baseline", "baseline detail (no auth)",
                                f"/api/baseline/customers/{customer}/orders/{data.customer_order}/", headers=plain),
        "list_bearer": Case("list_bearer", "GET /api/orders/ (bearer)", "/api/orders/", headers=bearer),
        "list_baseline": Case("list_baseline", "baseline list (no auth)", f"/api/baseline/customers/{customer}/orders/", headers=plain),
        "page_session": Case("page_session", "GET /orders/ (session)", "/orders/",
                             headers={"Cookie": f"{SESSION_COOKIE}={data.session_key}", "Accept": "text/html"}),
        "page_baseline": Case("page_baseline", "baseline page (no auth)", f"/baseline/customers/{customer}/orders/",
                              headers={"Accept": "text/html"}),
        "detail_denied": Case("detail_denied", "GET /api/orders/<other's id>/ (bearer, 404)",
                              f"/api/orders/{data.other_order}/", headers=bearer, expect=(404,)),
        "floor": Case("floor", "GET /healthz/ (no work: the per-request floor)", "/healthz/", headers=plain),
        "region_list": Case("region_list", "GET /api/orders/ (bearer, support: region-wide)", "/api/orders/",
                            headers={"Authorization": f"Bearer {data.support_token}", "Accept": "application/json"}),
    }

    say("checking that each baseline returns what its endpoint returns")
    check_same_body(run, https_get(run, cases["detail_bearer"].path, bearer), https_get(run, cases["detail_baseline"].path), "detail")
    check_same_body(run, https_get(run, cases["list_bearer"].path, bearer), https_get(run, cases["list_baseline"].path), "list")
    for key in ("page_session", "page_baseline"):
        status = https_get(run, cases[key].path, cases[key].headers).status
        if status != 200:
            raise RuntimeError(f"{cases[key].label} answered {status}")
    denied = https_get(run, cases["detail_denied"].path, bearer)
    if denied.status != 404:
        raise RuntimeError(f"another customer's order answered {denied.status}, not 404")

    query_targets = {
        "detail_bearer": dict(path=cases["detail_bearer"].path, bearer=data.customer_token),
        "detail_baseline": dict(path=cases["detail_baseline"].path),
        "list_bearer": dict(path="/api/orders/", bearer=data.customer_token),
        "list_baseline": dict(path=cases["list_baseline"].path),
        "page_session": dict(path="/orders/", session_key=data.session_key),
        "page_baseline": dict(path=cases["page_baseline"].path),
        "detail_denied": dict(path=cases["detail_denied"].path, bearer=data.customer_token),
        "region_list": dict(path="/api/orders/", bearer=data.support_token),
    }
    queries: dict[str, dict] = {}
    sizes: dict[str, dict] = {}

    say("queries per request and p50, small size")
    queries["small"] = {key: count_queries(**target) for key, target in query_targets.items()}
    sizes["small"] = {"orders": data.orders, "access_tokens": data.tokens, "users": data.users}
    for key in ("detail_bearer", "list_bearer", "page_session", "region_list"):
        bench.measure(cases[key], connections=1, tag="/small")

    say(f"growing to the large size: {config.large_orders:,} orders, {config.large_tokens:,} tokens")
    grow_to_large(config, data, rng)
    sizes["large"] = {"orders": data.orders, "access_tokens": data.tokens, "users": data.users}
    say("queries per request, large size")
    queries["large"] = {key: count_queries(**target) for key, target in query_targets.items()}

    say("endpoints vs their baselines, large size")
    bench.measure(cases["floor"], connections=1)
    for pair in (("detail_bearer", "detail_baseline"), ("list_bearer", "list_baseline")):
        for connections in (1, config.high_connections):
            bench.measure(cases[pair[0]], cases[pair[1]], connections=connections)
    bench.measure(cases["page_session"], cases["page_baseline"], connections=1)
    bench.measure(cases["detail_denied"], cases["detail_bearer"], connections=1, tag="/paired-with-denied")
    bench.measure(cases["region_list"], connections=1)

    say("logins")
    seed_login_accounts(config, data)
    bench.add_pool("logins", data.login_emails)
    for _ in range(4):  # three real attempts use up the account's 3/h, the fourth is throttled
        api_login(run, data.throttled_email, data.login_password)
    cookie, token = csrf_pair(run)
    headers = login_headers(run, cookie, token)
    login = Case("login", "POST /api/auth/login/ (real, Argon2)", "/api/auth/login/", method="POST", headers=headers,
                 pool="logins", body_template=json.dumps({"email": "{item}", "password": data.login_password}))
    throttled = Case("login_throttled", "POST /api/auth/login/ (throttled, 429)", "/api/auth/login/", method="POST",
                     headers=headers, body=json.dumps({"email": data.throttled_email, "password": data.login_password}),
                     expect=(429,))
    argon2 = [argon2_batch(config.argon2_batch) for _ in range(config.runs)]
    bench.measure(login, throttled, connections=1)
    argon2 += [argon2_batch(config.argon2_batch) for _ in range(config.runs)]
    bench.measure(login, connections=config.busy_connections)

    say("token endpoint")
    pools = seed_token_pools(config, data)
    form = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
    basic = {key: "Basic " + base64.b64encode(f"{quote(c['client_id'])}:{quote(c['client_secret'] or '')}".encode()).decode()
             for key, c in data.clients.items()}
    token_cases = {}
    for key in ("public", "confidential"):
        bench.add_pool(f"codes-{key}", pools.codes[key])
        bench.add_pool(f"refresh-{key}", pools.refresh[key])
        client_part = f"&client_id={data.clients[key]['client_id']}" if key == "public" else ""
        headers = dict(form, **({"Authorization": basic[key]} if key == "confidential" else {}))
        token_cases[f"exchange_{key}"] = Case(
            f"exchange_{key}", f"code + PKCE exchange ({key} client)", "/o/token/", method="POST", headers=headers,
            pool=f"codes-{key}",
            body_template=urlencode({"grant_type": "authorization_code", "redirect_uri": REDIRECT_URI,
                                     "code_verifier": pools.verifier}) + "&code={item}" + client_part)
        token_cases[f"refresh_{key}"] = Case(
            f"refresh_{key}", f"refresh ({key} client)", "/o/token/", method="POST", headers=headers,
            pool=f"refresh-{key}", body_template="grant_type=refresh_token&refresh_token={item}" + client_part)
    token_cases["client_credentials"] = Case(
        "client_credentials", "client credentials (confidential)", "/o/token/", method="POST",
        headers=dict(form, Authorization=basic["service"]), body="grant_type=client_credentials&scope=orders%3Aread")
    token_cases["introspection"] = Case(
        "introspection", "introspection (resource server)", "/o/introspect/", method="POST",
        headers=dict(form, Authorization=basic["resource"]), body=urlencode({"token": data.introspected_token}))
    connections = config.busy_connections
    bench.measure(token_cases["exchange_public"], token_cases["exchange_confidential"], connections=connections)
    bench.measure(token_cases["refresh_public"], token_cases["refresh_confidential"], connections=connections)
    bench.measure(token_cases["client_credentials"], connections=connections)
    bench.measure(token_cases["introspection"], connections=connections)

    return {"bench": bench, "queries": queries, "sizes": sizes, "argon2": argon2, "data": data}


# --- Figures ---------------------------------------------------------------------------------


@dataclass
class Figure:
    section: str
    label: str
    value: dict | None  # spread(); None for a figure shown as text
    unit: str = ""
    goal: str = ""
    passed: bool | None = None  # None: no goal (context)
    text: str = ""
    note: str = ""

    def as_dict(self) -> dict:
        return {"section": self.section, "label": self.label, "value": self.value, "unit": self.unit, "goal": self.goal,
                "passed": self.passed, "text": self.text, "note": self.note}


def build_figures(config: Config, suite: dict) -> list[Figure]:
    results = suite["bench"].results
    queries, argon2 = suite["queries"], suite["argon2"]
    figures: list[Figure] = []
    high = config.high_connections

    def runs(key: str, metric: str) -> list[float]:
        return [run[metric] for run in results[key]["runs"]]

    def add_ratio(section, label, top, bottom, metric, goal="", test=None, note=""):
        value = spread(ratios(runs(top, metric), runs(bottom, metric)))
        spoiled = results[top]["spoiled"] or results[bottom]["spoiled"]
        passed = None if spoiled or test is None else test(value["median"])
        figures.append(Figure(section, label, value, "x", goal, passed, note="spoiled: see problems" if spoiled else note))

    def add_plain(section, label, key, metric, unit, note=""):
        figures.append(Figure(section, label, results[key][metric], unit, note=note))

    at_most = lambda limit: (lambda v: v <= limit)  # noqa: E731
    at_least = lambda limit: (lambda v: v >= limit)  # noqa: E731

    large = suite["sizes"]["large"]
    section = f"Bearer token vs plain view ({large['orders']:,} orders, {large['access_tokens']:,} tokens)"
    add_plain(section, "floor: GET /healthz/ p50 @1", "floor@1", "p50_ms", "ms", note="context: gunicorn and middleware")
    add_plain(section, "floor: server CPU/req @1", "floor@1", "cpu_ms", "ms", note="context: keep-alive connections, TLS set up once per connection")
    for what in ("detail", "list"):
        for connections in (1, high):
            top, bottom = f"{what}_bearer@{connections}", f"{what}_baseline@{connections}"
            add_plain(section, f"{what}: bearer p50 @{connections}", top, "p50_ms", "ms")
            add_plain(section, f"{what}: baseline p50 @{connections}", bottom, "p50_ms", "ms")
            add_ratio(section, f"{what}: p50 bearer/baseline @{connections}", top, bottom, "p50_ms", "<= 1.3", at_most(1.3))
            add_ratio(section, f"{what}: req/s bearer/baseline @{connections}", top, bottom, "rps", ">= 0.75", at_least(0.75))
            if connections == 1:
                add_ratio(section, f"{what}: server CPU/req bearer/baseline @1", top, bottom, "cpu_ms", note="context")
            else:
                add_plain(section, f"{what}: cores used by gunicorn @{connections} (bearer)", top, "server_cpu_share", "",
                          note=f"context: wrk {results[top]['wrk_cpu_share']['median']:.2f} cores")

    section = "Session page vs plain page"
    add_plain(section, "/orders/ session p50 @1", "page_session@1", "p50_ms", "ms")
    add_plain(section, "baseline page p50 @1", "page_baseline@1", "p50_ms", "ms")
    add_ratio(section, "p50 session/baseline @1", "page_session@1", "page_baseline@1", "p50_ms", "<= 1.3", at_most(1.3))
    add_ratio(section, "server CPU/req session/baseline @1", "page_session@1", "page_baseline@1", "cpu_ms", note="context")

    small = suite["sizes"]["small"]
    section = (f"Scaling: {small['orders']:,} -> {large['orders']:,} orders, {small['access_tokens']:,} -> "
               f"{large['access_tokens']:,} tokens (the customer's {config.customer_orders} orders stay)")
    for key, label in (("detail_bearer", "detail (bearer)"), ("list_bearer", "list (bearer)"), ("page_session", "/orders/ (session)"),
                       ("detail_denied", "denied detail (bearer)"), ("detail_baseline", "baseline detail"),
                       ("list_baseline", "baseline list"), ("page_baseline", "baseline page")):
        before, after = queries["small"][key]["count"], queries["large"][key]["count"]
        figures.append(Figure(section, f"queries/request: {label}", None, "", "constant", before == after, text=f"{before} -> {after}"))
    for key, label in (("detail_bearer", "detail (bearer)"), ("list_bearer", "list (bearer)"), ("page_session", "/orders/ (session)")):
        add_ratio(section, f"p50 large/small: {label}", f"{key}@1", f"{key}@1/small", "p50_ms", "<= 1.3", at_most(1.3))
    before, after = queries["small"]["region_list"]["count"], queries["large"]["region_list"]["count"]
    figures.append(Figure(section, "queries/request: region-wide list (support)", None, "", "bounded", before == after,
                          text=f"{before} -> {after}", note="a page of 50 (max 500) and COUNT(*) over the region"))
    add_plain(section, "region-wide list p50 @1, large", "region_list@1", "p50_ms", "ms")
    add_ratio(section, "p50 large/small: region-wide list (support)", "region_list@1", "region_list@1/small", "p50_ms",
              note="context: the COUNT(*) grows with the region")

    section = "Denied vs allowed (no timing oracle)"
    denied, allowed = "detail_denied@1/paired-with-denied", "detail_bearer@1/paired-with-denied"
    add_plain(section, "denied (404) p50 @1", denied, "p50_ms", "ms")
    add_plain(section, "allowed (200) p50 @1", allowed, "p50_ms", "ms")
    add_ratio(section, "p50 denied/allowed @1", denied, allowed, "p50_ms", "0.8 - 1.2", lambda v: 0.8 <= v <= 1.2)
    add_ratio(section, "server CPU/req denied/allowed @1", denied, allowed, "cpu_ms", note="context")

    section = "Login (Argon2id, the configured parameters)"
    argon_p50 = [batch["p50_ms"] for batch in argon2]
    argon_cpu = [batch["cpu_s"] for batch in argon2]
    figures.append(Figure(section, "Argon2 verify alone p50", spread(argon_p50), "ms"))
    figures.append(Figure(section, "Argon2 verify alone CPU", spread([c * 1000 for c in argon_cpu]), "ms"))
    add_plain(section, "login p50 @1", "login@1", "p50_ms", "ms")
    add_plain(section, "login server CPU/req @1", "login@1", "cpu_ms", "ms")
    login_runs = runs("login@1", "p50_ms")
    value = spread(ratios(login_runs, argon_p50[: len(login_runs)]))
    figures.append(Figure(section, "login p50 / Argon2 p50", value, "x", "<= 1.2",
                          None if results["login@1"]["spoiled"] else value["median"] <= 1.2))
    busy = f"login@{config.busy_connections}"
    cores = os.cpu_count() or 1
    add_plain(section, f"logins/s @{config.busy_connections}", busy, "rps", "/s")
    bound = [cores / cpu for cpu in argon_cpu[-len(runs(busy, "rps")):]]
    figures.append(Figure(section, f"cores/Argon2 CPU-s ({cores} cores)", spread(bound), "/s"))
    value = spread(ratios(runs(busy, "rps"), bound))
    figures.append(Figure(section, "logins/s / (cores/Argon2 CPU-s)", value, "x", ">= 0.8",
                          None if results[busy]["spoiled"] else value["median"] >= 0.8))
    figures.append(Figure(section, f"cores used by gunicorn @{config.busy_connections}",
                          spread(runs(busy, "server_cpu_share")), "",
                          note=f"context: wrk {results[busy]['wrk_cpu_share']['median']:.2f} cores"))
    add_plain(section, "throttled login p50 @1", "login_throttled@1", "p50_ms", "ms")
    add_ratio(section, "server CPU/req throttled/real login", "login_throttled@1", "login@1", "cpu_ms", "<= 0.05", at_most(0.05))
    add_ratio(section, "p50 throttled/real login", "login_throttled@1", "login@1", "p50_ms", note="context")

    connections = config.busy_connections
    section = f"Token endpoint (@{connections} connections)"
    for grant in ("exchange", "refresh"):
        name = "code + PKCE exchange" if grant == "exchange" else "refresh"
        public, confidential = f"{grant}_public@{connections}", f"{grant}_confidential@{connections}"
        add_plain(section, f"{name}/s: public", public, "rps", "/s")
        add_plain(section, f"{name}/s: confidential", confidential, "rps", "/s")
        add_ratio(section, f"{name}: req/s public/confidential", public, confidential, "rps", "0.67 - 1.5",
                  lambda v: 1 / 1.5 <= v <= 1.5)
        add_ratio(section, f"{name}: server CPU/req confidential/public", confidential, public, "cpu_ms", note="context")
    add_plain(section, "client credentials/s", f"client_credentials@{connections}", "rps", "/s")
    add_plain(section, "introspection/s", f"introspection@{connections}", "rps", "/s")
    return figures


def format_number(value: float, unit: str) -> str:
    if unit == "x":
        return f"{value:.2f}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def render_table(figures: list[Figure]) -> str:
    rows = []
    section = None
    for figure in figures:
        if figure.section != section:
            section = figure.section
            rows.append(("section", section))
        if figure.value is None:
            median, low_high = figure.text, ""
        else:
            median = format_number(figure.value["median"], figure.unit)
            low_high = f"{format_number(figure.value['min'], figure.unit)} - {format_number(figure.value['max'], figure.unit)}"
        unit = "" if figure.unit == "x" else figure.unit
        mark = {True: "PASS", False: "MISS", None: ""}[figure.passed]
        if figure.note.startswith("spoiled"):
            mark = "ERR"
        rows.append(("row", (figure.label, f"{median} {unit}".strip(), low_high, figure.goal, mark, figure.note)))
    widths = [max(len(row[1][i]) for row in rows if row[0] == "row") for i in range(5)]
    widths = [max(width, len(title)) for width, title in zip(widths, ("Figure", "Median", "Spread (min - max)", "Goal", "Mark"))]
    header = ("Figure", "Median", "Spread (min - max)", "Goal", "Mark")
    line = "  ".join(title.ljust(width) for title, width in zip(header, widths))
    out = [line, "-" * len(line)]
    for kind, row in rows:
        if kind == "section":
            out.append(f"== {row}")
            continue
        cells = "  ".join(cell.ljust(width) for cell, width in zip(row[:5], widths))
        out.append((cells + (f"  ({row[5]})" if row[5] else "")).rstrip())
    return "\n".join(out)


# --- Versions --------------------------------------------------------------------------------


def versions(run: Run) -> dict:
    import django
    import redis
    from django.db import connection

    found = {
        "python": platform.python_version(),
        "django": django.get_version(),
        "django-oauth-toolkit": importlib.metadata.version("django-oauth-toolkit"),
        "djangorestframework": importlib.metadata.version("djangorestframework"),
        "gunicorn": importlib.metadata.version("gunicorn"),
        "argon2-cffi": importlib.metadata.version("argon2-cffi"),
        "openssl (python)": ssl.OPENSSL_VERSION,
    }
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        found["postgresql"] = cursor.fetchone()[0]
    client = redis.Redis.from_url(run.redis_url, socket_timeout=5)
    found["redis"] = client.info("server").get("redis_version")
    client.close()
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True, timeout=10)
    found["wrk"] = (wrk.stdout + wrk.stderr).strip().splitlines()[0] if (wrk.stdout + wrk.stderr).strip() else "unknown"
    return found


def git_commit() -> str | None:
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10)
        return done.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


# --- Main ------------------------------------------------------------------------------------


def interrupt(signum, frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    config = parse_config(sys.argv[1:] if argv is None else argv)
    if shutil.which("wrk") is None:
        print("bench: wrk is not installed (Debian: apt-get install -y wrk).", file=sys.stderr)
        return 2
    if not GUNICORN.exists():
        print(f"bench: {GUNICORN} is missing; run `make install` first.", file=sys.stderr)
        return 2
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, interrupt)

    started_at = dt.datetime.now(dt.timezone.utc)
    load_before = os.getloadavg()
    run = Run(config)
    status, problems = 1, []
    try:
        suite = run_suite(run)
        figures = build_figures(config, suite)
        bench = suite["bench"]
        results = {
            "started_at": started_at.isoformat(timespec="seconds"),
            "runtime_s": round(time.monotonic() - STARTED, 1),
            "machine": {
                "cores": os.cpu_count(),
                "cores_available": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
                "platform": platform.platform(),
                "load_average_before": load_before,
                "load_average_after": os.getloadavg(),
            },
            "versions": versions(run),
            "commit": git_commit(),
            "config": {
                "workers": config.workers, "runs": config.runs, "run_seconds": config.duration,
                "warmup_seconds": config.warmup, "high_connections": config.high_connections,
                "busy_connections": config.busy_connections, "wrk_threads": 1, "tls": "self-signed P-256, loopback",
                "login_rate_per_account": "3/h", "login_rate_per_ip": "1000000/m", "token_rate_per_client": "1000000/m",
            },
            "sizes": suite["sizes"],
            "figures": [figure.as_dict() for figure in figures],
            "cases": bench.results,
            "queries": suite["queries"],
            "argon2_batches": suite["argon2"],
            "problems": bench.problems,
        }
        RESULTS_PATH.write_text(json.dumps(results, indent=2, default=str) + "\n")
        print()
        print(render_table(figures))
        print()
        passed = sum(1 for f in figures if f.passed is True)
        missed = [f.label for f in figures if f.passed is False]
        print(f"{passed} PASS, {len(missed)} MISS; every figure in {RESULTS_PATH.relative_to(ROOT)} "
              f"({os.cpu_count()} cores, {results['runtime_s']:.0f} s).")
        if bench.problems:
            print("\nProblems (figures marked ERR are not to be trusted):")
            for problem in bench.problems:
                print(f"  - {problem}")
        status = 1 if bench.problems else 0
    except KeyboardInterrupt as stop:
        print(f"\nbench: interrupted ({stop}); cleaning up.", file=sys.stderr)
        status = 130
    except Exception as error:  # noqa: BLE001 - reported, then everything is cleaned up
        import traceback

        traceback.print_exc()
        print(f"\nbench: failed: {error}", file=sys.stderr)
        if run.server is not None:
            print(f"--- server log (tail) ---\n{run.log_tail()}", file=sys.stderr)
        status = 1
    finally:
        for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            signal.signal(signum, signal.SIG_IGN)  # cleaning up is not to be interrupted
        problems = run.clean_up()
        for problem in problems:
            print(f"bench: cleanup: {problem}", file=sys.stderr)
        say("cleaned up: server stopped, database dropped, Redis keys and temporary files removed"
            if not problems else "cleanup finished with problems")
    return status if not problems else (status or 1)


if __name__ == "__main__":
    sys.exit(main())
