"""The production profile, run for real on this machine: one harness for ``make bench`` and the service tests.

A :class:`Profile` owns everything one run creates, and removes all of it again in
:meth:`Profile.tear_down`, also when a step failed:

- a PostgreSQL database of its own (``<name>_<pid>_<random>``) on the server named by
  ``DATABASE_URL`` (default ``127.0.0.1:5432``), created from that server's maintenance
  database ``postgres`` and dropped at the end;
- a Redis key prefix of its own (``CACHE_KEY_PREFIX``), whose keys are deleted at the end
  (never ``FLUSHALL``/``FLUSHDB``: the Redis server is shared);
- a temporary directory: a self-signed certificate for 127.0.0.1, the OIDC signing key,
  collected static files, ``DJANGO_VAR_DIR`` and the server logs;
- gunicorn masters started as ``make serve`` starts them (:func:`gunicorn_command`, the one
  place that command is written), terminated and waited for.

The environment of every process it starts is built here from nothing but the caller's
non-site variables: the shell's ``DJANGO_ENV``, ``DATABASE_URL`` and the like (the *test*
profile's values under pytest) are never inherited. Only loopback addresses are used; the
machine's PostgreSQL and Redis are never stopped, reconfigured or flushed.

The keys and certificates written here are for loopback runs only, never for production.
"""

from __future__ import annotations

import datetime
import http.client
import ipaddress
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # python bench/run.py, or a tool run from another directory
    sys.path.insert(0, str(ROOT))

from config.keys import rsa_private_key_pem, write_private  # noqa: E402 - needs ROOT on sys.path

BIN = Path(sys.executable).parent if (Path(sys.executable).parent / "gunicorn").exists() else ROOT / ".venv" / "bin"
PYTHON = str(BIN / "python") if (BIN / "python").exists() else sys.executable
GUNICORN = BIN / "gunicorn"

LOOPBACK = "127.0.0.1"
LOOPBACK_HOSTS = frozenset({LOOPBACK, "localhost", "::1"})
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
START_TIMEOUT = 90.0
STOP_TIMEOUT = 20.0
SESSION_COOKIE = "__Host-sessionid"
CSRF_COOKIE = "__Host-csrftoken"

# Every environment variable that configures the site (settings) or its server (make serve).
SITE_VARIABLES = frozenset(
    {
        "DJANGO_ENV", "DJANGO_SECRET_KEY", "DJANGO_SETTINGS_MODULE", "DJANGO_VAR_DIR", "DATABASE_URL", "REDIS_URL",
        "CACHE_KEY_PREFIX", "PUBLIC_ORIGIN", "ALLOWED_HOSTS", "CSRF_TRUSTED_ORIGINS", "CORS_ALLOWED_ORIGINS",
        "TRUSTED_PROXY_COUNT", "FORWARDED_ALLOW_IPS", "EMAIL_URL", "DEFAULT_FROM_EMAIL", "HOST", "PORT",
        "WEB_CONCURRENCY", "LOGIN_RATE_PER_ACCOUNT", "LOGIN_RATE_PER_IP", "REGISTER_RATE_PER_IP",
        "PASSWORD_RESET_RATE_PER_IP", "PASSWORD_RESET_RATE_PER_ACCOUNT", "EMAIL_CONFIRM_RATE",
        "PASSWORD_CHANGE_RATE_PER_ACCOUNT", "SESSION_IDLE_TIMEOUT", "SESSION_ABSOLUTE_TIMEOUT", "ACCESS_TOKEN_TTL",
        "REFRESH_TOKEN_IDLE_TTL", "REFRESH_TOKEN_ABSOLUTE_TTL", "OIDC_RSA_PRIVATE_KEY", "OIDC_RSA_PRIVATE_KEY_FILE",
        "OIDC_RSA_INACTIVE_KEY_FILES", "REQUEST_LOG_LEVEL", "DENIAL_AUDIT_RATE", "TOKEN_RATE_PER_CLIENT",
        "TOKEN_RATE_PER_IP",
        "GUNICORN_CMD_ARGS", "GUNICORN_THREADS", "GUNICORN_KEEPALIVE", "TLS_CERT_FILE", "TLS_KEY_FILE",
    }
)
# Read by the harness's settings modules (bench.settings, tests.services.server_settings):
# collected static files go to the run's directory, never over the checkout's staticfiles/.
STATIC_ROOT_VARIABLE = "HARNESS_STATIC_ROOT"
PROFILE_VARIABLES = SITE_VARIABLES | {STATIC_ROOT_VARIABLE}


class HarnessError(RuntimeError):
    """The production profile could not be set up, started or removed."""


# --- Addresses -----------------------------------------------------------------------------


def with_address(url: str, *, host: str | None = None, port: int | None = None, path: str | None = None) -> str:
    """``url`` with another host, port or path (user and password kept, percent-encoded once)."""
    parts = urlsplit(url)
    userinfo = ""
    if parts.username:
        userinfo = quote(unquote(parts.username), safe="")
        if parts.password:
            userinfo += ":" + quote(unquote(parts.password), safe="")
        userinfo += "@"
    netloc = f"{userinfo}{host or parts.hostname}:{port or parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path if path is None else path, "", ""))


def require_loopback(url: str) -> str:
    if urlsplit(url).hostname not in LOOPBACK_HOSTS:
        raise HarnessError(
            f"{with_address(url, path='')} is not on loopback; the harness only uses loopback addresses."
        )
    return url


def admin_database_url() -> str:
    """The maintenance database of ``DATABASE_URL``'s PostgreSQL server, where runs create theirs."""
    url = os.environ.get("DATABASE_URL", "").strip()
    if not url.startswith(("postgres://", "postgresql://")):
        return DEFAULT_DATABASE_URL
    return require_loopback(with_address(url, port=urlsplit(url).port or 5432, path="/postgres"))


def shared_redis_url() -> str:
    url = os.environ.get("REDIS_URL", "").strip()
    return require_loopback(url) if url.startswith("redis://") else DEFAULT_REDIS_URL


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


# --- Key material (loopback runs only) --------------------------------------------------------


def write_oidc_key(directory: Path) -> Path:
    return write_private(directory / "oidc.pem", rsa_private_key_pem())


def write_tls_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost, valid for a day; its key is 0600."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, LOOPBACK)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(LOOPBACK)), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path = directory / "tls-cert.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert_path, write_private(directory / "tls-key.pem", key_pem)


# --- The server ------------------------------------------------------------------------------


def gunicorn_command(*, port: int, workers: int, cert: Path, key: Path) -> list[str]:
    """``make serve``'s gunicorn command, on a loopback port with the run's certificate."""
    return [
        str(GUNICORN), "config.wsgi:application",
        "--config", "config/gunicorn.conf.py",
        "--bind", f"{LOOPBACK}:{port}",
        "--workers", str(workers),
        "--access-logfile", "-",
        "--forwarded-allow-ips", "",
        "--certfile", str(cert),
        "--keyfile", str(key),
        # Not make serve's: gunicorn's control socket defaults to one path per user
        # (~/.gunicorn/gunicorn.ctl), which would collide with anyone else's gunicorn.
        "--no-control-socket",
    ]


def https_status(cert: Path, port: int, path: str, timeout: float = 5) -> int:
    """The status of one GET over https to 127.0.0.1:``port``, trusting only ``cert``."""
    context = ssl.create_default_context(cafile=str(cert))
    conn = http.client.HTTPSConnection(LOOPBACK, port, timeout=timeout, context=context)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    finally:
        conn.close()


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

    def booted_workers(self) -> int:
        """How many workers this master has booted so far (a restarted worker adds one)."""
        return len(re.findall(r"Booting worker with pid", self.log_text()))

    def wait_until_ready(self, timeout: float = START_TIMEOUT, path: str = "/readyz/") -> None:
        """Until ``path`` answers 200 (``/readyz/``: the database and the cache answer too)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.is_running:
                raise HarnessError(f"server {self.name} exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                if https_status(self.cert, self.port, path) == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise HarnessError(f"server {self.name} did not answer {path} within {timeout:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        """SIGTERM the master (gunicorn stops its workers), wait; kill its own group if stuck."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                # The master was started in a session of its own: its group is it and its workers.
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)

    def cpu_seconds(self) -> float:
        """CPU time (user + system) used so far by the master and its workers, from /proc."""
        return sum(self.cpu_seconds_by_process().values())

    def cpu_seconds_by_process(self) -> dict[int, float]:
        """CPU time (user + system) used so far by the master and by each worker, by pid."""
        master, used = self.process.pid, {}
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
                # utime, stime (fields 14 and 15 of stat)
                used[int(entry.name)] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return used


# --- The profile -----------------------------------------------------------------------------


class Profile:
    """One run's database, Redis prefix, keys, environment and servers, and their removal.

    ``ports`` are the servers' ports; the first is the public origin (``PUBLIC_ORIGIN``) and
    all of them are trusted for CSRF. ``variables`` set further site variables (the
    throttles) for every process.
    """

    server_class: type[Server] = Server

    def __init__(self, *, name: str, settings_module: str, ports: list[int], workers: int = 2,
                 variables: dict[str, str] | None = None):
        self.tmp = Path(tempfile.mkdtemp(prefix=f"{name.replace('_', '-')}-"))
        self.run_id = f"{os.getpid()}_{secrets.token_hex(3)}"
        self.settings_module = settings_module
        self.ports = list(ports)
        self.workers = workers
        self.variables = dict(variables or {})
        self.secret_key = secrets.token_urlsafe(64)
        self.servers: list[Server] = []
        self.database_created = False
        self.extra_databases: list[str] = []
        self.db_name = f"{name}_{self.run_id}"
        self.cache_prefix = f"{name.replace('_', '-')}-{self.run_id}"
        self.origins = [f"https://{LOOPBACK}:{port}" for port in self.ports]
        self.static_root = self.tmp / "static"
        self.var_dir = self.tmp / "var"
        try:
            self.admin_url = admin_database_url()
            self.redis_url = shared_redis_url()
            self.database_url = with_address(self.admin_url, path=f"/{self.db_name}")
            self.var_dir.mkdir()
            self.cert, self.key = write_tls_certificate(self.tmp)
            self.oidc_key = write_oidc_key(self.tmp)
        except BaseException:
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise

    def __repr__(self) -> str:  # never the secret key or the key files' contents in a failure report
        return (
            f"{type(self).__name__}(database={self.db_name!r}, "
            f"cache_prefix={self.cache_prefix!r}, tmp={str(self.tmp)!r})"
        )

    def environment(self, *, database_url: str | None = None, redis_url: str | None = None,
                    settings_module: str | None = None) -> dict[str, str]:
        """The environment of the run's processes: the production profile, set explicitly."""
        env = {name: value for name, value in os.environ.items() if name not in PROFILE_VARIABLES}
        env.update(
            DJANGO_ENV="production",
            DJANGO_SETTINGS_MODULE=settings_module or self.settings_module,
            DJANGO_SECRET_KEY=self.secret_key,
            DJANGO_VAR_DIR=str(self.var_dir),
            DATABASE_URL=database_url or self.database_url,
            REDIS_URL=redis_url or self.redis_url,
            CACHE_KEY_PREFIX=self.cache_prefix,
            PUBLIC_ORIGIN=self.origins[0],
            ALLOWED_HOSTS=f"{LOOPBACK},localhost",
            CSRF_TRUSTED_ORIGINS=",".join(self.origins),
            OIDC_RSA_PRIVATE_KEY_FILE=str(self.oidc_key),
            WEB_CONCURRENCY=str(self.workers),
            TRUSTED_PROXY_COUNT="0",
            HOST=LOOPBACK,
            PORT=str(self.ports[0]),
            PYTHONUNBUFFERED="1",
            **{STATIC_ROOT_VARIABLE: str(self.static_root)},
        )
        env.update(self.variables)
        return env

    # Life cycle

    def create_database(self) -> None:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'CREATE DATABASE "{self.db_name}"')
        self.database_created = True

    def create_extra_database(self, suffix: str) -> str:
        """Another database of the run (``<name>_<suffix>``), dropped with the run's; its URL."""
        import psycopg

        name = f"{self.db_name}_{suffix}"
        with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self.extra_databases.append(name)
        return with_address(self.admin_url, path=f"/{name}")

    def manage(self, *args: str, with_stdin: bool = False) -> subprocess.Popen:
        """Start ``manage.py`` with the production profile against the run's database."""
        return subprocess.Popen(
            [PYTHON, "manage.py", *args], cwd=ROOT, env=self.environment(),
            stdin=subprocess.PIPE if with_stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )

    @staticmethod
    def finish(process: subprocess.Popen, what: str, stdin: str | None = None, timeout: float = 180) -> str:
        """Wait for a ``manage`` process; its standard output, or an error with both outputs' tails."""
        try:
            out, err = process.communicate(stdin, timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            raise HarnessError(f"{what} did not finish within {timeout}s") from None
        if process.returncode != 0:
            raise HarnessError(f"{what} failed ({process.returncode}):\n{out[-3000:]}\n{err[-3000:]}")
        return out

    def start_server(self, name: str, port: int, *, database_url: str | None = None,
                     redis_url: str | None = None, wrapper: list[str] | None = None,
                     settings_module: str | None = None) -> Server:
        """Start gunicorn on ``port`` (not waiting for it: see :meth:`Server.wait_until_ready`).

        ``wrapper`` runs before the command (``py-spy record ... --``: ``bench/profile.py``).
        """
        log_path = self.tmp / f"server-{name}.log"
        command = [*(wrapper or []), *gunicorn_command(port=port, workers=self.workers, cert=self.cert, key=self.key)]
        with log_path.open("ab") as log:  # O_APPEND: the master and its workers all write here
            process = subprocess.Popen(
                command, cwd=ROOT,
                env=self.environment(database_url=database_url, redis_url=redis_url, settings_module=settings_module),
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        server = self.server_class(name=name, port=port, process=process, log_path=log_path, cert=self.cert)
        self.servers.append(server)
        return server

    def sql(self, query: str, *params) -> list[tuple]:
        """Rows of one query on the run's database, on a connection of its own (no server involved)."""
        import psycopg

        with psycopg.connect(self.database_url, autocommit=True, connect_timeout=10) as conn:
            return conn.execute(query, params).fetchall()

    def tear_down(self) -> list[str]:
        """Stop the servers, drop the database, delete the Redis keys and the directory; the problems met."""
        problems = []
        for server in self.servers:
            try:
                server.stop()
            except Exception as error:  # noqa: BLE001 - keep cleaning up, report at the end
                problems.append(f"stopping server {server.name}: {error!r}")
        for name in list(self.extra_databases):
            try:
                import psycopg

                with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=10) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                self.extra_databases.remove(name)
            except Exception as error:  # noqa: BLE001
                problems.append(f"dropping database {name}: {error!r}")
        if self.database_created:
            try:
                import psycopg

                with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=10) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
                self.database_created = False
            except Exception as error:  # noqa: BLE001
                problems.append(f"dropping database {self.db_name}: {error!r}")
        try:
            self.delete_cache_keys()
        except Exception as error:  # noqa: BLE001
            problems.append(f"deleting Redis keys {self.cache_prefix}:*: {error!r}")
        shutil.rmtree(self.tmp, ignore_errors=True)
        return problems

    def delete_cache_keys(self) -> None:
        import redis

        client = redis.Redis.from_url(self.redis_url, socket_timeout=5, socket_connect_timeout=5)
        try:
            keys = list(client.scan_iter(match=f"{self.cache_prefix}:*", count=1000))
            for start in range(0, len(keys), 1000):
                client.delete(*keys[start:start + 1000])
        finally:
            client.close()
