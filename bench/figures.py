"""The figures of a benchmark run, the goals they are held to, and the table that shows them.

Everything here is pure: it reads the measurements (``Bench.results``, the query counts,
the Argon2 batches) and computes. Every goal is declared once, in :data:`GOALS`; a figure
names its goal, and the table shows the goal's text and PASS or MISS. The suite reports the
goals and never asserts them: a MISS is a finding, not a failed build.
"""

from __future__ import annotations

import os
import statistics
from dataclasses import dataclass

# --- Statistics ------------------------------------------------------------------------------


def spread(values: list[float]) -> dict:
    values = [float(v) for v in values]
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "runs": values}


def ratios(numerators: list[float], denominators: list[float]) -> list[float]:
    return [n / d if d else float("inf") for n, d in zip(numerators, denominators, strict=False)]


# --- Goals -----------------------------------------------------------------------------------

AT_MOST, AT_LEAST, BETWEEN, UNCHANGED = "at most", "at least", "between", "unchanged"


@dataclass(frozen=True)
class Goal:
    """What a figure must be: ``figure`` compared (``comparison``) with ``limit``, and why."""

    name: str
    figure: str
    comparison: str
    limit: float | tuple[float, float] | None
    why: str
    shown: str = ""  # the text of an UNCHANGED goal ("constant", "bounded")
    every_run: bool = False  # held by the worst run (the spread's min or max), not the median

    @property
    def bound(self) -> float:
        """The limit of an AT_MOST or AT_LEAST goal."""
        assert isinstance(self.limit, int | float), f"{self.name} has no single bound"
        return self.limit

    @property
    def interval(self) -> tuple[float, float]:
        """The limits of a BETWEEN goal."""
        assert isinstance(self.limit, tuple), f"{self.name} has no interval"
        return self.limit

    @property
    def text(self) -> str:
        every = " every run" if self.every_run else ""
        if self.comparison == AT_MOST:
            return f"<= {_short(self.bound)}{every}"
        if self.comparison == AT_LEAST:
            return f">= {_short(self.bound)}{every}"
        if self.comparison == BETWEEN:
            low, high = self.interval
            return f"{_short(low)} - {_short(high)}"
        return self.shown

    def is_met(self, value) -> bool:
        """``value`` is the figure's median; for UNCHANGED, the pair (before, after)."""
        if self.comparison == AT_MOST:
            return value <= self.bound
        if self.comparison == AT_LEAST:
            return value >= self.bound
        if self.comparison == BETWEEN:
            low, high = self.interval
            return low <= value <= high
        if self.comparison == UNCHANGED:
            before, after = value
            return before == after
        raise ValueError(f"unknown comparison {self.comparison!r}")


def _short(number: float) -> str:
    return f"{round(number, 2):g}"


GOALS = (
    Goal(
        "bearer-latency",
        "p50 bearer / plain view, detail and list, @1 and @high",
        AT_MOST,
        1.3,
        "a bearer token and the policy add at most 30% to a read's latency",
    ),
    Goal(
        "bearer-throughput",
        "req/s bearer / plain view, detail and list, @1 and @high",
        AT_LEAST,
        0.75,
        "a server answering bearer requests keeps three quarters of the plain view's throughput",
    ),
    Goal(
        "pat-latency",
        "p50 personal token / plain view, detail @1",
        AT_MOST,
        1.3,
        "a personal access token adds no more to a read than an OAuth bearer token may",
    ),
    Goal(
        "pat-vs-bearer",
        "p50 personal token / OAuth bearer, detail @1",
        AT_MOST,
        1.1,
        "a personal token costs what an OAuth bearer token costs (the same cache, the same policy)",
    ),
    Goal(
        "session-latency",
        "p50 session page / plain page @1",
        AT_MOST,
        1.3,
        "the same bound for a page signed in with a session cookie",
    ),
    Goal(
        "queries-constant",
        "queries per request, small -> large size",
        UNCHANGED,
        None,
        "no query is added as orders and tokens grow: no N+1, no per-row look-up",
        shown="constant",
    ),
    Goal(
        "scaling-latency",
        "p50 large / small size, for a customer whose 60 orders stay",
        AT_MOST,
        1.3,
        "a customer's request costs the same whether the tables hold a hundred rows or a hundred thousand",
    ),
    Goal(
        "region-queries-bounded",
        "queries per request of a support user's region-wide list, small -> large",
        UNCHANGED,
        None,
        "the page is bounded (at most 500 rows); only the exact COUNT(*) grows, with the region",
        shown="bounded",
    ),
    Goal(
        "no-timing-oracle",
        "p50 denied (404) / allowed (200) @1, same token, measured alternately",
        BETWEEN,
        (0.8, 1.2),
        "another customer's order costs what one's own costs, so timing does not tell which orders exist",
    ),
    Goal(
        "login-latency",
        "login p50 / Argon2 verify alone p50",
        AT_MOST,
        1.1,
        "a sign-in is the password hash plus at most 10% (issue 16: Argon2 alone is the floor)",
    ),
    Goal(
        "login-throughput",
        "logins/s / (cores / Argon2 CPU-s)",
        AT_LEAST,
        0.85,
        "logins reach 85% of the ceiling Argon2 alone allows on this machine's cores (issue 16)",
    ),
    Goal(
        "throttled-cost",
        "server CPU/req throttled (429) / real login",
        AT_MOST,
        0.05,
        "a throttled attempt costs the server at most 5% of a real one, so a flood of them burns no CPU",
    ),
    Goal(
        "bearer-detail-every-run",
        "req/s bearer / plain view, detail @1, in every run",
        AT_LEAST,
        0.9,
        "issue 16: a bearer read keeps 90% of the plain view's throughput in every run "
        "(stock django-oauth-toolkit's ProtectedResourceView keeps 0.48 of its bare view, measured side by side)",
        every_run=True,
    ),
    Goal(
        "plain-vs-stock",
        "req/s of the bare view here / the same view in a stock Django project @1",
        AT_LEAST,
        0.95,
        "issue 16: this project's middleware (request log, audit binding, CSP, login requirement, sessions) "
        "costs a bare view at most 5% against startproject's stack",
    ),
    Goal(
        "client-credentials-rate",
        "client credentials/s @4 (2 workers)",
        AT_LEAST,
        411,
        "anchor: Ory Hydra issues 411-513 client-credentials tokens/s on 2 CPUs",
    ),
    Goal(
        "refresh-rate",
        "refresh/s @4, public and confidential",
        AT_LEAST,
        240,
        "anchor: Keycloak refreshes about 120 tokens/s per vCPU, 240 on this machine's 2",
    ),
    Goal(
        "exchange-rate",
        "code + PKCE exchange/s @4, public and confidential",
        AT_LEAST,
        240,
        "anchor: as a refresh (Keycloak, about 120/s per vCPU); an exchange does the same work plus the code",
    ),
    Goal(
        "introspection-rate",
        "introspection/s @4",
        AT_LEAST,
        1000,
        "anchor: Ory Hydra introspects 5.1-7.9k tokens/s (in memory); 1000/s with PostgreSQL behind",
    ),
    Goal(
        "client-parity",
        "req/s public / confidential client, code exchange and refresh",
        BETWEEN,
        (1 / 1.5, 1.5),
        "a confidential client's secret is checked without a password hash: both kinds get the same throughput",
    ),
)
GOAL = {goal.name: goal for goal in GOALS}


# --- Figures ---------------------------------------------------------------------------------


@dataclass
class Figure:
    section: str
    label: str
    value: dict | None  # spread(); None for a figure shown as text
    unit: str = ""
    goal: str = ""
    passed: bool | None = None  # None: no goal (context), or not to be trusted (spoiled)
    text: str = ""
    note: str = ""

    def as_dict(self) -> dict:
        return {"section": self.section, "label": self.label, "value": self.value, "unit": self.unit, "goal": self.goal,
                "passed": self.passed, "text": self.text, "note": self.note}


SPOILED_NOTE = "spoiled: see problems"


class Figures:
    """Builds the figures of one section after another from a suite's measurements."""

    def __init__(self, suite: dict):
        self.results = suite["bench"].results
        self.queries = suite["queries"]
        self.figures: list[Figure] = []
        self.section = ""

    def runs(self, key: str, metric: str) -> list[float]:
        return [run[metric] for run in self.results[key]["runs"]]

    def is_spoiled(self, *keys: str) -> bool:
        return any(self.results[key]["spoiled"] for key in keys)

    def add(self, label: str, value: dict | None, unit: str = "", goal: Goal | None = None, *, measured=None,
            spoiled: bool = False, text: str = "", note: str = "") -> None:
        """One figure; with a goal, PASS or MISS on ``measured`` (default: the median, or the worst run)."""
        passed = None
        if goal is not None and not spoiled:
            if measured is None:
                assert value is not None, f"{label}: a goal needs a measured value"
                # An every-run goal is held by the worst run: the lowest for "at least".
                worst = value["min"] if goal.comparison == AT_LEAST else value["max"]
                measured = worst if goal.every_run else value["median"]
            passed = goal.is_met(measured)
        self.figures.append(Figure(self.section, label, value, unit, goal.text if goal else "", passed, text=text,
                                   note=SPOILED_NOTE if spoiled else note))

    def plain(self, label: str, key: str, metric: str, unit: str, note: str = "") -> None:
        self.add(label, self.results[key][metric], unit, note=note)

    def plain_goal(self, label: str, key: str, metric: str, unit: str, goal: Goal, note: str = "") -> None:
        self.add(label, self.results[key][metric], unit, goal, spoiled=self.is_spoiled(key), note=note)

    def ratio(self, label: str, top: str, bottom: str, metric: str, goal: Goal | None = None, note: str = "") -> None:
        """``top``'s runs over ``bottom``'s, run by run (the two were measured alternately)."""
        value = spread(ratios(self.runs(top, metric), self.runs(bottom, metric)))
        self.add(label, value, "x", goal, spoiled=self.is_spoiled(top, bottom), note=note)

    def query_counts(self, label: str, key: str, goal: Goal, note: str = "") -> None:
        before, after = self.queries["small"][key]["count"], self.queries["large"][key]["count"]
        self.add(label, None, goal=goal, measured=(before, after), text=f"{before} -> {after}", note=note)


def build_figures(config, suite: dict) -> list[Figure]:
    """Every figure of the table, section by section."""
    figures = Figures(suite)
    sections = (bearer_section, stock_section, personal_token_section, session_section, scaling_section,
                denial_section, login_section, second_step_section, token_section)
    for section in sections:
        section(figures, config, suite)
    return figures.figures


def bearer_section(f: Figures, config, suite: dict) -> None:
    large = suite["sizes"]["large"]
    f.section = f"Bearer token vs plain view ({large['orders']:,} orders, {large['access_tokens']:,} tokens)"
    f.plain("floor: GET /healthz/ p50 @1", "floor@1", "p50_ms", "ms", note="context: gunicorn and middleware")
    f.plain("floor: server CPU/req @1", "floor@1", "cpu_ms", "ms",
            note="context: keep-alive connections, TLS set up once per connection")
    for what in ("detail", "list"):
        for connections in (1, config.high_connections):
            top, bottom = f"{what}_bearer@{connections}", f"{what}_baseline@{connections}"
            f.plain(f"{what}: bearer p50 @{connections}", top, "p50_ms", "ms")
            f.plain(f"{what}: baseline p50 @{connections}", bottom, "p50_ms", "ms")
            f.ratio(f"{what}: p50 bearer/baseline @{connections}", top, bottom, "p50_ms", GOAL["bearer-latency"])
            f.ratio(f"{what}: req/s bearer/baseline @{connections}", top, bottom, "rps", GOAL["bearer-throughput"])
            if what == "detail" and connections == 1:
                f.ratio("detail: req/s bearer/baseline @1, every run", top, bottom, "rps",
                        GOAL["bearer-detail-every-run"], note="stock DOT's figure: see the next section")
            if connections == 1:
                f.ratio(f"{what}: server CPU/req bearer/baseline @1", top, bottom, "cpu_ms", note="context")
            else:
                f.plain(f"{what}: cores used by gunicorn @{connections} (bearer)", top, "server_cpu_share", "",
                        note=f"context: wrk {f.results[top]['wrk_cpu_share']['median']:.2f} cores")


def stock_section(f: Figures, config, suite: dict) -> None:
    f.section = "This project vs a stock Django project and stock django-oauth-toolkit (same gunicorn, same run)"
    here, stock = "plain@1", "plain_stock@1"
    f.plain("bare view p50 @1: this project", here, "p50_ms", "ms")
    f.plain("bare view p50 @1: stock Django", stock, "p50_ms", "ms")
    f.ratio("bare view: req/s this project/stock Django @1", here, stock, "rps", GOAL["plain-vs-stock"])
    f.ratio("bare view: server CPU/req this project/stock Django @1", here, stock, "cpu_ms", note="context")
    paired_bearer, paired_plain = "bearer_stock@1/paired-with-stock-bearer", "plain_stock@1/paired-with-stock-bearer"
    f.ratio("stock DOT: req/s bearer view/bare view @1", paired_bearer, paired_plain, "rps",
            note="context: stock DOT's figure for the bearer goal above (issue 16 measured 0.48)")


def personal_token_section(f: Figures, config, suite: dict) -> None:
    f.section = "Personal access token vs OAuth bearer and plain view"
    pat, baseline = "detail_pat@1", "detail_baseline@1"
    paired_pat, paired_bearer = "detail_pat@1/paired-with-pat", "detail_bearer@1/paired-with-pat"
    f.plain("detail: personal token p50 @1", pat, "p50_ms", "ms")
    f.ratio("detail: p50 personal token/baseline @1", pat, baseline, "p50_ms", GOAL["pat-latency"])
    f.ratio("detail: p50 personal token/OAuth bearer @1", paired_pat, paired_bearer, "p50_ms", GOAL["pat-vs-bearer"])
    f.ratio("detail: server CPU/req personal token/OAuth bearer @1", paired_pat, paired_bearer, "cpu_ms",
            note="context")


def second_step_section(f: Figures, config, suite: dict) -> None:
    f.section = "Sign-in with an authenticator app (timed one sign-in at a time, new connection each)"
    steps = suite["second_step"]
    f.add("password step p50", spread(steps["password_step_ms"]), "ms", note="context: Argon2 and a pending state")
    f.add("code step p50", spread(steps["code_step_ms"]), "ms", note="context: TOTP check, session, audit")
    f.add("code step / password step", spread(ratios(steps["code_step_ms"], steps["password_step_ms"])), "x",
          note="context: what the second factor adds to a sign-in")


def session_section(f: Figures, config, suite: dict) -> None:
    f.section = "Session page vs plain page"
    f.plain("/orders/ session p50 @1", "page_session@1", "p50_ms", "ms")
    f.plain("baseline page p50 @1", "page_baseline@1", "p50_ms", "ms")
    f.ratio("p50 session/baseline @1", "page_session@1", "page_baseline@1", "p50_ms", GOAL["session-latency"])
    f.ratio("server CPU/req session/baseline @1", "page_session@1", "page_baseline@1", "cpu_ms", note="context")


SCALED_CASES = (
    ("detail_bearer", "detail (bearer)"), ("list_bearer", "list (bearer)"), ("page_session", "/orders/ (session)"),
    ("detail_denied", "denied detail (bearer)"), ("detail_baseline", "baseline detail"),
    ("list_baseline", "baseline list"), ("page_baseline", "baseline page"),
)


def scaling_section(f: Figures, config, suite: dict) -> None:
    small, large = suite["sizes"]["small"], suite["sizes"]["large"]
    f.section = (f"Scaling: {small['orders']:,} -> {large['orders']:,} orders, {small['access_tokens']:,} -> "
                 f"{large['access_tokens']:,} tokens (the customer's {config.customer_orders} orders stay)")
    for key, label in SCALED_CASES:
        f.query_counts(f"queries/request: {label}", key, GOAL["queries-constant"])
    for key, label in SCALED_CASES[:3]:
        f.ratio(f"p50 large/small: {label}", f"{key}@1", f"{key}@1/small", "p50_ms", GOAL["scaling-latency"])
    f.query_counts("queries/request: region-wide list (support)", "region_list", GOAL["region-queries-bounded"],
                   note="a page of 50 (max 500) and COUNT(*) over the region")
    f.plain("region-wide list p50 @1, large", "region_list@1", "p50_ms", "ms")
    f.ratio("p50 large/small: region-wide list (support)", "region_list@1", "region_list@1/small", "p50_ms",
            note="context: the COUNT(*) grows with the region")


def denial_section(f: Figures, config, suite: dict) -> None:
    f.section = "Denied vs allowed (no timing oracle)"
    denied, allowed = "detail_denied@1/paired-with-denied", "detail_bearer@1/paired-with-denied"
    f.plain("denied (404) p50 @1", denied, "p50_ms", "ms")
    f.plain("allowed (200) p50 @1", allowed, "p50_ms", "ms")
    f.ratio("p50 denied/allowed @1", denied, allowed, "p50_ms", GOAL["no-timing-oracle"])
    f.ratio("server CPU/req denied/allowed @1", denied, allowed, "cpu_ms", note="context")


def login_section(f: Figures, config, suite: dict, cores: int | None = None) -> None:
    f.section = "Login (Argon2id, the configured parameters)"
    argon_p50 = [batch["p50_ms"] for batch in suite["argon2"]]
    argon_cpu = [batch["cpu_s"] for batch in suite["argon2"]]
    f.add("Argon2 verify alone p50", spread(argon_p50), "ms")
    f.add("Argon2 verify alone CPU", spread([c * 1000 for c in argon_cpu]), "ms")
    f.plain("login p50 @1", "login@1", "p50_ms", "ms")
    f.plain("login server CPU/req @1", "login@1", "cpu_ms", "ms")
    login_runs = f.runs("login@1", "p50_ms")
    f.add("login p50 / Argon2 p50", spread(ratios(login_runs, argon_p50[: len(login_runs)])), "x",
          GOAL["login-latency"], spoiled=f.is_spoiled("login@1"))
    busy = f"login@{config.busy_connections}"
    cores = cores or _cores()
    busy_rps = f.runs(busy, "rps")
    f.plain(f"logins/s @{config.busy_connections}", busy, "rps", "/s")
    bound = [cores / cpu for cpu in argon_cpu[-len(busy_rps):]]
    f.add(f"cores/Argon2 CPU-s ({cores} cores)", spread(bound), "/s")
    f.add("logins/s / (cores/Argon2 CPU-s)", spread(ratios(busy_rps, bound)), "x", GOAL["login-throughput"],
          spoiled=f.is_spoiled(busy))
    f.add(f"cores used by gunicorn @{config.busy_connections}", spread(f.runs(busy, "server_cpu_share")), "",
          note=f"context: wrk {f.results[busy]['wrk_cpu_share']['median']:.2f} cores")
    f.plain("throttled login p50 @1", "login_throttled@1", "p50_ms", "ms")
    f.ratio("server CPU/req throttled/real login", "login_throttled@1", "login@1", "cpu_ms", GOAL["throttled-cost"])
    f.ratio("p50 throttled/real login", "login_throttled@1", "login@1", "p50_ms", note="context")


def token_section(f: Figures, config, suite: dict) -> None:
    connections = config.busy_connections
    f.section = f"Token endpoint (@{connections} connections)"
    for grant, name in (("exchange", "code + PKCE exchange"), ("refresh", "refresh")):
        public, confidential = f"{grant}_public@{connections}", f"{grant}_confidential@{connections}"
        goal = GOAL["exchange-rate" if grant == "exchange" else "refresh-rate"]
        f.plain_goal(f"{name}/s: public", public, "rps", "/s", goal)
        f.plain_goal(f"{name}/s: confidential", confidential, "rps", "/s", goal)
        f.ratio(f"{name}: req/s public/confidential", public, confidential, "rps", GOAL["client-parity"])
        f.ratio(f"{name}: server CPU/req confidential/public", confidential, public, "cpu_ms", note="context")
        stock = f"{grant}_public_stock@{connections}"
        f.plain(f"{name}/s: stock DOT (public client)", stock, "rps", "/s",
                note="context: measured alternately with the two lines above; no ID token, no audit, no throttle")
        f.ratio(f"{name}: req/s this project/stock DOT (public)", public, stock, "rps",
                note="context: above 1 is ahead of stock DOT")
    for key, name, goal_name in (("client_credentials", "client credentials", "client-credentials-rate"),
                                 ("introspection", "introspection", "introspection-rate")):
        ours, stock = f"{key}@{connections}", f"{key}_stock@{connections}"
        anchored = GOAL[goal_name]
        f.plain_goal(f"{name}/s", ours, "rps", "/s", anchored, note=anchored.why.split(";")[0])
        f.plain(f"{name}/s: stock DOT", stock, "rps", "/s", note="context: measured alternately with the line above")
        f.ratio(f"{name}: req/s this project/stock DOT", ours, stock, "rps",
                note="context: above 1 is ahead of stock DOT")
        f.ratio(f"{name}: server CPU/req this project/stock DOT", ours, stock, "cpu_ms", note="context")


def _cores() -> int:
    return os.cpu_count() or 1


# --- The table -------------------------------------------------------------------------------

HEADER = ("Figure", "Median", "Spread (min - max)", "Goal", "Mark")


def format_number(value: float, unit: str) -> str:
    if unit == "x":
        return f"{value:.2f}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def mark(figure: Figure) -> str:
    if figure.note.startswith("spoiled"):
        return "ERR"
    return {True: "PASS", False: "MISS", None: ""}[figure.passed]


def table_row(figure: Figure) -> tuple[str, ...]:
    """The cells of one figure: label, median, spread, goal, mark, note."""
    if figure.value is None:
        median, low_high = figure.text, ""
    else:
        median = format_number(figure.value["median"], figure.unit)
        low_high = (
            f"{format_number(figure.value['min'], figure.unit)} - {format_number(figure.value['max'], figure.unit)}"
        )
    unit = "" if figure.unit == "x" else figure.unit
    return (figure.label, f"{median} {unit}".strip(), low_high, figure.goal, mark(figure), figure.note)


def render_table(figures: list[Figure]) -> str:
    rows: list[tuple[str, str | tuple[str, ...]]] = []
    section = None
    for figure in figures:
        if figure.section != section:
            section = figure.section
            rows.append(("section", section))
        rows.append(("row", table_row(figure)))
    cells = [row for kind, row in rows if kind == "row"]
    widths = [max([len(title)] + [len(row[i]) for row in cells]) for i, title in enumerate(HEADER)]
    line = "  ".join(title.ljust(width) for title, width in zip(HEADER, widths, strict=True))
    out = [line, "-" * len(line)]
    for kind, row in rows:
        if kind == "section":
            out.append(f"== {row}")
            continue
        text = "  ".join(cell.ljust(width) for cell, width in zip(row[:5], widths, strict=False))
        out.append((text + (f"  ({row[5]})" if row[5] else "")).rstrip())
    return "\n".join(out)
