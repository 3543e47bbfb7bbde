"""``python -m bench.profile``: where a request's CPU goes, as flame graphs under the bench's load.

For each case it starts the production profile the bench's way (``bench.harness``: gunicorn
with ``config/gunicorn.conf.py``, https, PostgreSQL and Redis), under ``py-spy record
--subprocesses`` as the parent process (so no ptrace permission beyond one's own children
is needed), sends the case's load with wrk for ``--seconds`` at the bench's connection count,
stops the server and turns py-spy's collapsed stacks into:

- ``bench/profiles/<case>.svg``: a small flame graph of the samples inside requests;
- ``bench/profiles/summary.json``: per case, requests/s, the gunicorn processes' CPU per
  request (py-spy samples from outside with ``--nonblocking``, so it adds little), and the
  share of the request samples each part of the code took (``bench.flame``).

It prints the summary as Markdown tables (``bench/README.md`` keeps the latest). Everything it
creates (database, Redis keys, temporary files, servers) is removed at the end, as in
``bench.run``. The absolute numbers depend on how busy the machine is; the shares much less.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import flame  # noqa: E402 - needs ROOT on sys.path
from bench.cases import login_cases, prepare_database, read_cases, token_cases  # noqa: E402
from bench.console import say  # noqa: E402
from bench.harness import BIN, Profile, Server, free_ports  # noqa: E402
from bench.options import parse_config  # noqa: E402
from bench.run import THROTTLES, clean_up  # noqa: E402
from bench.seeding import Data, seed_login_accounts, seed_token_pools  # noqa: E402
from bench.wrk import Bench, Case  # noqa: E402

PY_SPY = BIN / "py-spy"
CLIENT_TOMBSTONE_SECONDS = 31  # oauth.token_cache.TTL, plus one
OUT = ROOT / "bench" / "profiles"
TOKEN_CASES = ("client_credentials", "refresh_public", "refresh_confidential", "exchange_public",
               "exchange_confidential", "introspection")
READ_CASES = ("floor", "detail_bearer", "detail_baseline", "plain")
LOGIN_CASES = ("login", "login_throttled")  # at one connection, as make bench times them


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (py-spy's gunicorn master and its workers)."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as handle:
                    stat = handle.read().decode(errors="replace")
            except OSError:
                continue
            parent = int(stat[stat.rfind(")") + 2:].split()[1])
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as handle:
                stat = handle.read().decode(errors="replace")
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def stop_profiled(server: Server) -> None:
    """SIGTERM gunicorn's master (py-spy's child): py-spy writes its file once it has exited."""
    for pid in descendants(server.process.pid)[:1]:
        os.kill(pid, signal.SIGTERM)
    try:
        server.process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        server.stop()


def profile_case(profile: Profile, bench: Bench, case_on: Callable[[Server], Case], key: str, *, connections: int,
                 seconds: int) -> dict:
    """Profile one case; ``case_on`` builds it for the started server (a sign-in needs its CSRF pair)."""
    raw = profile.tmp / f"{key}.txt"
    wrapper = [str(PY_SPY), "record", "--subprocesses", "--nonblocking", "--gil", "--nolineno", "--rate", "100",
               "--format", "raw", "--output", str(raw), "--"]
    server = profile.start_server(f"profile-{key}", profile.ports[0], wrapper=wrapper)
    try:
        server.wait_until_ready()
        bench.server = server
        case = dataclasses.replace(case_on(server), key=key)
        bench.wrk(case, connections, 1, warm_up=True)  # connections, caches, first imports
        gunicorn = descendants(server.process.pid)
        before = cpu_seconds(gunicorn)
        run = bench.wrk(case, connections, seconds)
        used = cpu_seconds(gunicorn) - before
    finally:
        stop_profiled(server)
        profile.servers.remove(server)
    if run["bad"]:
        raise RuntimeError(f"{case.key}: {run['bad']} bad responses ({run['statuses']})")
    if os.environ.get("BENCH_PROFILE_KEEP_RAW"):  # the collapsed stacks, for another tool
        (OUT / f"{case.key}.collapsed.txt").write_text(raw.read_text())
    stacks = flame.request_stacks(flame.parse(raw.read_text()))
    title = f"{case.label}: {run['requests']} requests in {seconds} s @{connections}, samples inside requests"
    (OUT / f"{case.key}.svg").write_text(flame.render_svg(flame.tree(stacks), title))
    return {
        "label": case.label,
        "connections": connections,
        "rps": round(run["rps"], 1),
        "cpu_ms_per_request": round(used * 1000 / run["requests"], 2),
        "samples": sum(count for _frames, count in stacks),
        "parts": [(label, round(share, 1)) for label, share in flame.shares(stacks)],
        "self": [(label, round(share, 1)) for label, share in flame.self_shares(stacks)],
    }


def markdown(summary: dict) -> str:
    keys = list(summary)
    head = "| | " + " | ".join(keys) + " |\n|---|" + "---|" * len(keys) + "\n"
    rows = ["| req/s | " + " | ".join(str(summary[k]["rps"]) for k in keys) + " |",
            "| gunicorn CPU ms/request | " + " | ".join(str(summary[k]["cpu_ms_per_request"]) for k in keys) + " |"]
    for index, (label, _share) in enumerate(summary[keys[0]]["parts"]):
        rows.append(f"| {label} | " + " | ".join(f"{summary[k]['parts'][index][1]}%" for k in keys) + " |")
    rows.append("| **self time by package** | " + " | ".join("" for _ in keys) + " |")
    for index, (label, _share) in enumerate(summary[keys[0]]["self"]):
        rows.append(f"| {label} | " + " | ".join(f"{summary[k]['self'][index][1]}%" for k in keys) + " |")
    return head + "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=18, help="seconds of load per case (default 18)")
    parser.add_argument("--case", action="append", choices=TOKEN_CASES + READ_CASES + LOGIN_CASES,
                        help="a case to profile (repeatable; default: every token case)")
    parser.add_argument("--tag", default="", help="a suffix for the output files (e.g. -before)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    # The --quick sizes, and pools of codes and refresh tokens for one run of --seconds.
    config = dataclasses.replace(parse_config(["--quick"]), runs=1, duration=args.seconds + 2, warmup=1)
    OUT.mkdir(exist_ok=True)
    profile = Profile(name="benchprof", settings_module="bench.settings", ports=free_ports(1),
                      workers=config.workers, variables=THROTTLES)
    summary: dict[str, dict] = {}
    try:
        data = Data()
        prepare_database(config, profile, data, random.Random(7))
        pools = seed_token_pools(config, data)
        plain = Case("plain", "GET /plain/ (the bare view)", "/plain/", headers={"Accept": "application/json"})
        cases = {**token_cases(data, pools), **read_cases(data), "plain": plain}
        bench = Bench(None, config, profile.tmp)  # type: ignore[arg-type]  # each case sets its server
        for key in ("public", "confidential"):
            bench.add_pool(f"codes-{key}", pools.codes[key])
            bench.add_pool(f"refresh-{key}", pools.refresh[key])
        if set(args.case or ()) & set(LOGIN_CASES):
            seed_login_accounts(config, data)
            bench.add_pool("logins", data.login_emails)
        # Registering a client writes its policy, which tombstones the client's cache entry for
        # token_cache.TTL seconds: a case measured before that reads every client from the database.
        time.sleep(CLIENT_TOMBSTONE_SECONDS)
        for key in args.case or TOKEN_CASES:
            connections = 1 if key in READ_CASES + LOGIN_CASES else config.busy_connections
            say(f"profiling {key} for {args.seconds} s @{connections}")
            case_on = (lambda server, key=key: login_cases(server, data)[key]) if key in LOGIN_CASES else (
                lambda server, key=key: cases[key])
            summary[key + args.tag] = profile_case(profile, bench, case_on, key + args.tag, connections=connections,
                                                   seconds=args.seconds)
            time.sleep(1)
    finally:
        for problem in clean_up(profile):
            say(f"cleanup: {problem}")
    path = OUT / f"summary{args.tag}.json"
    # Cases profiled earlier under the same tag stay; those profiled now replace theirs.
    kept = json.loads(path.read_text()) if path.exists() else {}
    path.write_text(json.dumps({**kept, **summary}, indent=2) + "\n")
    print(markdown(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
