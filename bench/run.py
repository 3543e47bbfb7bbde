"""make bench: what authentication and authorization cost, against baselines measured in the same run.

    .venv/bin/python -m bench.run [--runs 3] [--duration 4] [--warmup 2] [--workers 2]
                                  [--large-orders 100000] [--large-tokens 100000] [--quick]

One run owns everything it creates and removes all of it again, also when it fails or is
interrupted: :class:`bench.harness.Profile` gives it a PostgreSQL database of its own
(``bench_<pid>_<random>``), a Redis key prefix of its own, a temporary directory (the
self-signed certificate, the OIDC key, static files, wrk's case files, the server log) and
one gunicorn master with ``--workers`` workers started as ``make serve`` starts it, under
``bench.settings`` (``config.settings`` plus the baseline routes).

The modules: :mod:`bench.cases` (what is measured, in which order), :mod:`bench.seeding`
(bulk inserts), :mod:`bench.wrk` (the load: wrk on loopback), :mod:`bench.figures` (the
figures, the goals in one table, the printed table). Each case gets a warm-up and ``--runs``
runs; a figure is the median over the runs, its spread the lowest and highest run. A ratio
is taken run by run between two cases measured alternately (A B B A ...), so slow drift of
a shared machine hits both sides alike. See bench/README.md for the figures.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import os
import platform
import shutil
import signal
import ssl
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.cases import run_suite  # noqa: E402 - needs ROOT on sys.path
from bench.console import STARTED, say  # noqa: E402
from bench.figures import build_figures, render_table  # noqa: E402
from bench.harness import GUNICORN, HarnessError, Profile, free_ports  # noqa: E402
from bench.options import Config, parse_config  # noqa: E402

RESULTS_PATH = ROOT / "bench" / "results.json"
# Every request comes from 127.0.0.1: the per-IP limit is opened wide. The per-account limit
# stays low: real logins use a fresh account each, and the throttled-login case needs an
# account over its limit.
THROTTLES = {
    "LOGIN_RATE_PER_IP": "1000000/m",
    "LOGIN_RATE_PER_ACCOUNT": "3/h",
    "TOKEN_RATE_PER_CLIENT": "1000000/m",
    "TOKEN_RATE_PER_IP": "1000000/m",
}


def versions(redis_url: str) -> dict:
    import django
    import redis
    from django.db import connection

    found: dict[str, object] = {
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
    client = redis.Redis.from_url(redis_url, socket_timeout=5)
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



def results_document(config: Config, suite: dict, figures: list, *, started_at: dt.datetime, load_before,
                     redis_url: str) -> dict:
    """What bench/results.json holds: every figure, every run's raw numbers, the machine, the versions."""
    return {
        "started_at": started_at.isoformat(timespec="seconds"),
        "runtime_s": round(time.monotonic() - STARTED, 1),
        "machine": {
            "cores": os.cpu_count(),
            "cores_available": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
            "platform": platform.platform(),
            "load_average_before": load_before,
            "load_average_after": os.getloadavg(),
        },
        "versions": versions(redis_url),
        "commit": git_commit(),
        "config": {
            "workers": config.workers, "runs": config.runs, "run_seconds": config.duration,
            "warmup_seconds": config.warmup, "high_connections": config.high_connections,
            "busy_connections": config.busy_connections, "wrk_threads": 1, "tls": "self-signed P-256, loopback",
            "login_rate_per_account": THROTTLES["LOGIN_RATE_PER_ACCOUNT"],
            "login_rate_per_ip": THROTTLES["LOGIN_RATE_PER_IP"],
            "token_rate_per_client": THROTTLES["TOKEN_RATE_PER_CLIENT"],
            "token_rate_per_ip": THROTTLES["TOKEN_RATE_PER_IP"],
        },
        "sizes": suite["sizes"],
        "figures": [figure.as_dict() for figure in figures],
        "cases": suite["bench"].results,
        "queries": suite["queries"],
        "argon2_batches": suite["argon2"],
        "second_step": suite["second_step"],
        "problems": suite["bench"].problems,
    }


def report(figures: list, problems: list[str], runtime_s: float) -> None:
    print()
    print(render_table(figures))
    print()
    passed = sum(1 for f in figures if f.passed is True)
    missed = sum(1 for f in figures if f.passed is False)
    print(f"{passed} PASS, {missed} MISS; every figure in {RESULTS_PATH.relative_to(ROOT)} "
          f"({os.cpu_count()} cores, {runtime_s:.0f} s).")
    if problems:
        print("\nProblems (figures marked ERR are not to be trusted):")
        for problem in problems:
            print(f"  - {problem}")


def measure(config: Config, profile: Profile) -> int:
    """Run the suite, write bench/results.json, print the table; 1 when a case had bad responses."""
    started_at, load_before = dt.datetime.now(dt.UTC), os.getloadavg()
    suite = run_suite(config, profile)
    figures = build_figures(config, suite)
    results = results_document(config, suite, figures, started_at=started_at, load_before=load_before,
                               redis_url=profile.redis_url)
    RESULTS_PATH.write_text(json.dumps(results, indent=2, default=str) + "\n")
    report(figures, suite["bench"].problems, results["runtime_s"])
    return 1 if suite["bench"].problems else 0


def interrupt(signum, frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def clean_up(profile: Profile) -> list[str]:
    """Close this process's database connections, then remove everything the run made."""
    problems = []
    try:
        if "django" in sys.modules:
            from django.db import connections

            connections.close_all()
    except Exception as error:  # noqa: BLE001 - keep cleaning up, report at the end
        problems.append(f"closing database connections: {error!r}")
    return problems + profile.tear_down()


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
    try:
        # Two ports: the site, and the stock Django + DOT project (bench/stock/).
        profile = Profile(name="bench", settings_module="bench.settings", ports=free_ports(2),
                          workers=config.workers, variables=THROTTLES)
    except HarnessError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 2

    status = 1
    try:
        status = measure(config, profile)
    except KeyboardInterrupt as stop:
        print(f"\nbench: interrupted ({stop}); cleaning up.", file=sys.stderr)
        status = 130
    except Exception as error:  # noqa: BLE001 - reported, then everything is cleaned up
        import traceback

        traceback.print_exc()
        print(f"\nbench: failed: {error}", file=sys.stderr)
        for server in profile.servers:
            print(f"--- server log (tail) ---\n{server.log_tail()}", file=sys.stderr)
        status = 1
    finally:
        for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            signal.signal(signum, signal.SIG_IGN)  # cleaning up is not to be interrupted
        problems = clean_up(profile)
        for problem in problems:
            print(f"bench: cleanup: {problem}", file=sys.stderr)
        say("cleaned up: server stopped, database dropped, Redis keys and temporary files removed"
            if not problems else "cleanup finished with problems")
    return status if not problems else (status or 1)


if __name__ == "__main__":
    sys.exit(main())
