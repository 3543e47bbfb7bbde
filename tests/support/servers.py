"""The real processes the browser talks to: the site under runserver, and the example app.

Each one is started in its own process group on a loopback address and stopped (the
whole group) when the test session ends, also when a test failed or the run was
interrupted. Nothing here reaches beyond 127.0.0.1.
"""

from __future__ import annotations

import atexit
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
LOOPBACK = "127.0.0.1"
# The names a browser may use for a site started here: both reach 127.0.0.1 and nothing else.
SITE_HOST_NAMES = {LOOPBACK, "localhost"}

# The password every demo account gets in the browser tests (seed_demo --password).
DEMO_PASSWORD = "e2e tulip harbour lantern 42"
# The demo admins' authenticator-app secret (seed_demo --totp-secret); tests compute codes from it.
DEMO_TOTP_SECRET = "E2EADMINSECRETTOTPE2EADMINSECRET"

# The redirect URI seed_demo registers for demo-client is http://127.0.0.1:8765/callback.
DEMO_CLIENT_PORT = 8765

STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0

# Every variable the settings read: a server under test starts from the embedded default
# (DJANGO_ENV=local, its own SQLite file and keys in a fresh directory), never from
# whatever the shell running the tests happens to export (make test-services sets
# DATABASE_URL and REDIS_URL, for one).
CONFIG_VARIABLES = {
    "DJANGO_ENV",
    "DJANGO_VAR_DIR",
    "DJANGO_SECRET_KEY",
    "DATABASE_URL",
    "REDIS_URL",
    "CACHE_KEY_PREFIX",
    "PUBLIC_ORIGIN",
    "ALLOWED_HOSTS",
    "CSRF_TRUSTED_ORIGINS",
    "CORS_ALLOWED_ORIGINS",
    "TRUSTED_PROXY_COUNT",
    "WEB_CONCURRENCY",
    "EMAIL_URL",
    "DEFAULT_FROM_EMAIL",
    "HOST",
    "PORT",
    "LOGIN_RATE_PER_ACCOUNT",
    "LOGIN_RATE_PER_IP",
    "REGISTER_RATE_PER_IP",
    "PASSWORD_RESET_RATE_PER_IP",
    "PASSWORD_RESET_RATE_PER_ACCOUNT",
    "EMAIL_CONFIRM_RATE",
    "PASSWORD_CHANGE_RATE_PER_ACCOUNT",
    "TOKEN_RATE_PER_CLIENT",
    "TOKEN_RATE_PER_IP",
    "DENIAL_AUDIT_RATE",
    "SESSION_IDLE_TIMEOUT",
    "SESSION_ABSOLUTE_TIMEOUT",
    "ACCESS_TOKEN_TTL",
    "REFRESH_TOKEN_IDLE_TTL",
    "REFRESH_TOKEN_ABSOLUTE_TTL",
    "OIDC_RSA_PRIVATE_KEY",
    "OIDC_RSA_PRIVATE_KEY_FILE",
    "OIDC_RSA_INACTIVE_KEY_FILES",
    "ISSUER",
    "CLIENT_ID",
    "REQUEST_LOG_LEVEL",
    "DJANGO_SETTINGS_MODULE",
}

# Many journeys sign in from one IP, several times per account, within a minute: the
# throttles are opened wide on the main server. The throttle journey has its own server
# with the contract's defaults.
GENEROUS_RATES = {
    "LOGIN_RATE_PER_ACCOUNT": "1000/m",
    "LOGIN_RATE_PER_IP": "1000/m",
    "REGISTER_RATE_PER_IP": "1000/m",
    "PASSWORD_CHANGE_RATE_PER_ACCOUNT": "1000/m",
    "PASSWORD_RESET_RATE_PER_IP": "1000/m",
    "EMAIL_CONFIRM_RATE": "1000/m",
}
CONTRACT_RATES = {"LOGIN_RATE_PER_ACCOUNT": "5/5m", "LOGIN_RATE_PER_IP": "30/m"}


def free_port() -> int:
    """A TCP port nobody listens on right now, on the loopback interface."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def is_port_taken(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1)
        return sock.connect_ex((LOOPBACK, port)) == 0


def clean_environment(**overrides: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if name not in CONFIG_VARIABLES}
    env.update(PYTHONUNBUFFERED="1", **overrides)
    return env


@dataclass
class Process:
    """One started server: its origin, its process (group) and where its output goes."""

    name: str
    origin: str
    popen: subprocess.Popen
    log_path: Path
    _stopped: bool = field(default=False, repr=False)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        """Stop the process group we started (only ours, by its id); SIGKILL if it lingers."""
        if self._stopped:
            return
        self._stopped = True
        if self.popen.poll() is not None:
            return
        try:
            os.killpg(self.popen.pid, signal.SIGTERM)
            self.popen.wait(timeout=STOP_TIMEOUT)
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=STOP_TIMEOUT)


def _spawn(name: str, origin: str, args: list[str], env: dict[str, str], log_path: Path) -> Process:
    log = log_path.open("ab")
    popen = subprocess.Popen(
        args, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    log.close()  # the child holds its own copy
    process = Process(name=name, origin=origin, popen=popen, log_path=log_path)
    atexit.register(process.stop)  # even if pytest itself is torn down abruptly
    return process


def wait_until_up(process: Process, url: str, timeout: float = STARTUP_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.popen.poll() is not None:
            raise RuntimeError(f"{process.name} exited with {process.popen.returncode}:\n{process.log_tail()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status < 500:
                    return
        except urllib.error.HTTPError as error:
            if error.code < 500:
                return
        except OSError:
            pass
        time.sleep(0.2)
    process.stop()
    raise RuntimeError(f"{process.name} did not answer {url} within {timeout:.0f} s:\n{process.log_tail()}")


def _manage(var_dir: Path, env: dict[str, str], log_path: Path, *args: str) -> None:
    with log_path.open("ab") as log:
        result = subprocess.run(
            [PYTHON, "manage.py", *args], cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, timeout=120,
        )
    if result.returncode != 0:
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-40:])
        raise RuntimeError(f"manage.py {args[0]} failed ({result.returncode}) in {var_dir}:\n{tail}")


def start_site(var_dir: Path, *, rates: dict[str, str], host_name: str = LOOPBACK) -> Process:
    """Migrate a fresh SQLite database, seed the demo data and serve it on a free port.

    The server always listens on 127.0.0.1; ``host_name`` is the name the browser uses.
    ``"localhost"`` gives the site ``PUBLIC_ORIGIN=http://localhost:<port>``: the origin a
    passkey journey needs, because WebAuthn refuses an IP address as RP id (and Chromium
    treats plain-http localhost as a secure context).
    """
    if host_name not in SITE_HOST_NAMES:
        raise ValueError(f"host_name must be one of {sorted(SITE_HOST_NAMES)} (loopback only), not {host_name!r}")
    var_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    origin = f"http://{host_name}:{port}"
    env = clean_environment(
        DJANGO_ENV="local", DJANGO_VAR_DIR=str(var_dir), HOST=LOOPBACK, PORT=str(port),
        DJANGO_SETTINGS_MODULE="config.settings", **rates,
    )
    if host_name != LOOPBACK:
        env["PUBLIC_ORIGIN"] = origin
    log_path = var_dir / "server.log"
    _manage(var_dir, env, log_path, "migrate", "--noinput")
    _manage(var_dir, env, log_path, "seed_demo", "--password", DEMO_PASSWORD, "--totp-secret", DEMO_TOTP_SECRET)
    process = _spawn(
        f"site on {origin}",
        origin,
        [PYTHON, "manage.py", "runserver", f"{LOOPBACK}:{port}", "--noreload"],
        env,
        log_path,
    )
    wait_until_up(process, f"http://{LOOPBACK}:{port}/healthz/")
    return process


def start_demo_client(issuer: str, log_dir: Path) -> Process:
    """The example third-party app, on the port its registered redirect URI names."""
    if is_port_taken(DEMO_CLIENT_PORT):
        raise RuntimeError(
            f"Port {DEMO_CLIENT_PORT} on {LOOPBACK} is taken: the example app must listen there, because that is the "
            f"redirect URI seed_demo registers for demo-client. Stop whatever listens on it (a `demo_client.py` "
            f"left running?) and run the tests again."
        )
    origin = f"http://{LOOPBACK}:{DEMO_CLIENT_PORT}"
    env = clean_environment(ISSUER=issuer, PORT=str(DEMO_CLIENT_PORT))
    process = _spawn(
        f"example app on {origin}", origin, [PYTHON, "examples/demo_client.py"], env, log_dir / "demo_client.log"
    )
    wait_until_up(process, f"{origin}/")
    return process
