"""The load: wrk, a separate process on loopback, driven through ``bench/wrk.lua``.

Each case is written to a Lua table file that ``wrk.lua`` reads (method, path, headers, a
body or a body template filled with single-use items from a file). wrk prints one
``BENCH_RESULT {json}`` line; :func:`parse_wrk_output` reads it and :func:`run_figures`
turns it, with the CPU the server and wrk used meanwhile, into one run's figures.
"""

from __future__ import annotations

import json
import os
import re
import resource
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from bench.console import say
from bench.figures import spread
from bench.harness import Server
from bench.options import LOPSIDED_RETRIES, Config

LUA_SCRIPT = Path(__file__).resolve().parent / "wrk.lua"
RESULT_PREFIX = "BENCH_RESULT "
SOCKET_ERRORS = ("connect", "read", "write", "timeout")
# A run in which one process did this much of the server's work was served by one worker:
# the kernel handed it every connection (they are kept alive, so the run stays that way).
LOPSIDED_SHARE = 0.9
ONE_CORE = 1.2  # server CPU seconds per second: what one GIL-bound worker can use, with room


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
    server: Server | None = None  # another server than the bench's (the stock project)


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


def parse_wrk_output(stdout: str) -> dict | None:
    """The ``BENCH_RESULT`` record wrk.lua printed, or None when there is none."""
    line = next((line for line in stdout.splitlines() if line.startswith(RESULT_PREFIX)), None)
    return None if line is None else json.loads(line[len(RESULT_PREFIX):])


def run_figures(result: dict, *, expect: tuple[int, ...], server_cpu_s: float, wrk_cpu_s: float) -> dict:
    """One wrk run's figures: latencies in ms, req/s, server CPU per request, bad responses."""
    seconds = result["duration_us"] / 1e6
    requests = result["requests"]
    statuses = {int(k): v for k, v in result["statuses"].items()}
    unexpected = sum(v for k, v in statuses.items() if k not in expect)
    socket_errors = sum(result["errors"][k] for k in SOCKET_ERRORS)
    return {
        "p50_ms": result["p50_us"] / 1000,
        "p90_ms": result["p90_us"] / 1000,
        "p99_ms": result["p99_us"] / 1000,
        "mean_ms": result["mean_us"] / 1000,
        "rps": requests / seconds if seconds else 0.0,
        "requests": requests,
        # Server CPU (gunicorn master and workers, not PostgreSQL, Redis or wrk) per request.
        "cpu_ms": server_cpu_s * 1000 / requests if requests else 0.0,
        "server_cpu_share": server_cpu_s / seconds if seconds else 0.0,
        "wrk_cpu_share": wrk_cpu_s / seconds if seconds else 0.0,
        "statuses": statuses,
        "unexpected_statuses": unexpected,
        "socket_errors": result["errors"],
        "exhausted": result["exhausted"],
        "bad": unexpected + socket_errors + result["exhausted"],
    }


def children_cpu_seconds() -> float:
    """CPU time of this process's finished children (wrk), user and system."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def busiest_share(before: dict[int, float], after: dict[int, float]) -> float:
    """The share of the server's CPU, between two readings, that its busiest process used."""
    used = [seconds - before.get(pid, 0.0) for pid, seconds in after.items()]
    total = sum(used)
    return max(used) / total if total > 0 else 0.0


def is_lopsided(run: dict, *, connections: int, workers: int) -> bool:
    """Did one worker serve a run meant for several, at most one core's worth?

    With one connection, one worker always serves it. A worker whose threads spend their time
    outside the GIL (Argon2 releases it) uses both cores on its own: that run is not held to one.
    """
    return (
        workers > 1
        and connections >= workers
        and run["busiest_share"] > LOPSIDED_SHARE
        and run["server_cpu_share"] < ONE_CORE
    )


class Bench:
    """Runs the cases with wrk against the run's server and keeps every measurement."""

    def __init__(self, server: Server, config: Config, tmp: Path):
        self.server = server
        self.config = config
        self.tmp = tmp
        self.items: dict[str, Path] = {}
        self.cursors: dict[str, int] = {}
        self.results: dict[str, dict] = {}
        self.problems: list[str] = []
        self.set_aside: dict[str, int] = {}  # lopsided runs measured again, per case
        self._case_files = 0

    def add_pool(self, name: str, values: list[str]) -> None:
        path = self.tmp / f"items-{name}.txt"
        path.write_text("\n".join(values) + "\n")
        self.items[name], self.cursors[name] = path, 0

    def _case_file(self, case: Case) -> Path:
        self._case_files += 1
        table = {"method": case.method, "path": case.path, "headers": case.headers, "body": case.body,
                 "items_file": str(self.items[case.pool]) if case.pool else None, "body_template": case.body_template}
        path = self.tmp / f"case-{self._case_files:03d}-{case.key}.lua"
        path.write_text("return " + lua_literal(table) + "\n")
        return path

    def wrk(self, case: Case, connections: int, seconds: int, *, warm_up: bool = False) -> dict:
        """One wrk run of ``seconds`` with ``connections`` connections (one thread).

        Each gunicorn worker has a socket of its own (``reuse_port``) and the kernel spreads new
        connections across them by a hash, so now and then one worker still gets all of a run's:
        the run then measures one worker (at most one core, the GIL's) instead of the server, on
        either side of a comparison. Such a run is measured again, at most
        ``LOPSIDED_RETRIES`` times per case (the pools of single-use items have room for that);
        the run kept says how many were set aside before it.
        """
        server = case.server or self.server
        set_aside = 0
        while True:
            run = self._wrk_once(case, server, connections, seconds)
            retries_left = not warm_up and self.set_aside.get(case.key, 0) < LOPSIDED_RETRIES
            if not retries_left or not is_lopsided(run, connections=connections, workers=self.config.workers):
                run["lopsided_runs_set_aside"] = set_aside
                return run
            set_aside += 1
            self.set_aside[case.key] = self.set_aside.get(case.key, 0) + 1
            say(f"    {case.key}: one worker served all {connections} connections; measuring again")

    def _wrk_once(self, case: Case, server: Server, connections: int, seconds: int) -> dict:
        if not server.is_running:
            raise RuntimeError(f"the server is not running:\n{server.log_tail()}")
        env = dict(os.environ, BENCH_CASE=str(self._case_file(case)))
        if case.pool:
            env["BENCH_ITEMS_OFFSET"] = str(self.cursors[case.pool])
        command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", str(LUA_SCRIPT),
                   server.url(case.path)]
        cpu_before, wrk_before = server.cpu_seconds_by_process(), children_cpu_seconds()
        completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=seconds + 60)
        cpu_after, wrk_used = server.cpu_seconds_by_process(), children_cpu_seconds() - wrk_before
        cpu_used = sum(cpu_after.values()) - sum(cpu_before.get(pid, 0.0) for pid in cpu_after)
        result = parse_wrk_output(completed.stdout)
        if completed.returncode != 0 or result is None:
            raise RuntimeError(
                f"wrk failed for {case.key} ({completed.returncode}):\n"
                f"{completed.stdout[-2000:]}\n{completed.stderr[-2000:]}"
            )
        if case.pool:
            self.cursors[case.pool] += result["sent"]
        run = run_figures(result, expect=case.expect, server_cpu_s=cpu_used, wrk_cpu_s=wrk_used)
        run["busiest_share"] = busiest_share(cpu_before, cpu_after)
        return run

    def measure(self, *cases: Case, connections: int, tag: str = "") -> list[dict]:
        """Warm up each case, then run them alternately (A B, B A, A B ...) ``runs`` times."""
        names = " vs ".join(case.key for case in cases)
        say(f"  {names} @ {connections} connection{'s' if connections > 1 else ''}")
        for case in cases:
            self.wrk(case, connections, self.config.warmup, warm_up=True)
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
            "lopsided_runs_set_aside": sum(run.get("lopsided_runs_set_aside", 0) for run in runs),
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
