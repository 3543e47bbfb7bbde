"""The benchmark's figures and goals, computed from made-up measurements: no server, no database."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from bench.figures import (
    AT_LEAST,
    AT_MOST,
    BETWEEN,
    GOAL,
    GOALS,
    UNCHANGED,
    Figure,
    Goal,
    build_figures,
    ratios,
    render_table,
    spread,
)
from bench.options import parse_config

METRICS = ("p50_ms", "p99_ms", "rps", "cpu_ms", "server_cpu_share", "wrk_cpu_share")


def record(values: list[float], *, spoiled: bool = False) -> dict:
    """A case measured with every metric equal to ``values`` run by run."""
    runs = [{metric: value for metric in METRICS} for value in values]
    return {**{metric: spread(values) for metric in METRICS}, "runs": runs, "spoiled": spoiled}


class Results(dict):
    """Every case a build asks for, measured at 1.0 in each run unless set otherwise."""

    def __missing__(self, key: str) -> dict:
        self[key] = record([1.0, 1.0, 1.0])
        return self[key]


class Counts(dict):
    def __missing__(self, key: str) -> dict:
        return {"count": 2}


def suite(results: Results | None = None, small: Counts | None = None, large: Counts | None = None) -> dict:
    return {
        "bench": SimpleNamespace(results=results if results is not None else Results(), problems=[]),
        "queries": {"small": small or Counts(), "large": large or Counts()},
        "sizes": {
            "small": {"orders": 100, "access_tokens": 1000},
            "large": {"orders": 100_000, "access_tokens": 100_000},
        },
        "argon2": [{"p50_ms": 20.0, "cpu_s": 0.02} for _ in range(6)],
        "second_step": {"password_step_ms": [40.0, 42.0, 44.0], "code_step_ms": [4.0, 8.4, 4.4]},
    }


def figure(figures: list[Figure], label: str) -> Figure:
    (found,) = [f for f in figures if f.label == label]
    return found


# --- Goals ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("goal", "value", "is_met"),
    [
        (Goal("g", "f", AT_MOST, 1.3, "why"), 1.3, True),
        (Goal("g", "f", AT_MOST, 1.3, "why"), 1.31, False),
        (Goal("g", "f", AT_LEAST, 0.75, "why"), 0.75, True),
        (Goal("g", "f", AT_LEAST, 0.75, "why"), 0.74, False),
        (Goal("g", "f", BETWEEN, (0.8, 1.2), "why"), 0.8, True),
        (Goal("g", "f", BETWEEN, (0.8, 1.2), "why"), 1.2, True),
        (Goal("g", "f", BETWEEN, (0.8, 1.2), "why"), 0.79, False),
        (Goal("g", "f", BETWEEN, (0.8, 1.2), "why"), 1.21, False),
        (Goal("g", "f", UNCHANGED, None, "why"), (2, 2), True),
        (Goal("g", "f", UNCHANGED, None, "why"), (2, 3), False),
    ],
)
def test_a_goal_is_met_up_to_and_including_its_limit(goal, value, is_met):
    assert goal.is_met(value) is is_met


def test_a_goal_shows_its_limit_as_the_table_prints_it():
    assert [
        GOAL[name].text for name in ("bearer-latency", "bearer-throughput", "no-timing-oracle", "client-parity")
    ] == ["<= 1.3", ">= 0.75", "0.8 - 1.2", "0.67 - 1.5"]
    assert GOAL["queries-constant"].text == "constant"
    assert GOAL["region-queries-bounded"].text == "bounded"


def test_an_unknown_comparison_is_an_error_not_a_pass():
    with pytest.raises(ValueError, match="unknown comparison"):
        Goal("g", "f", "roughly", 1.0, "why").is_met(1.0)


def test_every_goal_is_declared_once_says_why_and_is_used_by_a_figure():
    names = [goal.name for goal in GOALS]
    assert len(names) == len(set(names))
    assert all(goal.why and goal.figure for goal in GOALS)
    figures = build_figures(parse_config([]), suite())
    assert {goal.text for goal in GOALS} == {f.goal for f in figures if f.goal}


# --- Figures -------------------------------------------------------------------------------


def test_a_ratio_is_taken_run_by_run_not_between_medians():
    results = Results()
    results["detail_bearer@1"] = record([2.0, 9.0, 3.0])
    results["detail_baseline@1"] = record([1.0, 3.0, 3.0])  # ratios 2, 3, 1; the medians' ratio is 1
    figures = build_figures(parse_config([]), suite(results))
    ratio = figure(figures, "detail: p50 bearer/baseline @1")
    assert ratio.value["runs"] == [2.0, 3.0, 1.0]
    assert ratio.value["median"] == 2.0
    assert (ratio.goal, ratio.passed) == ("<= 1.3", False)


def test_a_figure_meeting_its_goal_passes_and_a_context_figure_has_no_mark():
    figures = build_figures(parse_config([]), suite())
    assert figure(figures, "detail: p50 bearer/baseline @1").passed is True
    context = figure(figures, "detail: server CPU/req bearer/baseline @1")
    assert (context.goal, context.passed, context.note) == ("", None, "context")


def test_a_ratio_with_bad_responses_on_either_side_is_not_marked():
    results = Results()
    results["login_throttled@1"] = record([0.01, 0.01, 0.01])
    results["login@1"] = record([1.0, 1.0, 1.0], spoiled=True)
    figures = build_figures(parse_config([]), suite(results))
    for label in ("server CPU/req throttled/real login", "login p50 / Argon2 p50"):
        spoiled = figure(figures, label)
        assert spoiled.passed is None
        assert spoiled.note == "spoiled: see problems"


def test_query_counts_pass_when_unchanged_and_miss_when_they_grow():
    large = Counts()
    large["list_bearer"] = {"count": 3}
    figures = build_figures(parse_config([]), suite(large=large))
    constant = figure(figures, "queries/request: detail (bearer)")
    grown = figure(figures, "queries/request: list (bearer)")
    assert (constant.text, constant.goal, constant.passed) == ("2 -> 2", "constant", True)
    assert (grown.text, grown.passed) == ("2 -> 3", False)


def test_logins_per_second_are_held_to_the_ceiling_argon2_allows_on_the_cores():
    config = parse_config([])
    results = Results()
    results[f"login@{config.busy_connections}"] = record([40.0, 40.0, 40.0])
    figures = build_figures(config, suite(results))  # Argon2: 0.02 CPU-s a verify
    from bench import figures as module

    ceiling = figure(figures, f"cores/Argon2 CPU-s ({module._cores()} cores)")
    assert ceiling.value["median"] == pytest.approx(module._cores() / 0.02)
    share = figure(figures, "logins/s / (cores/Argon2 CPU-s)")
    assert share.value["median"] == pytest.approx(40.0 / ceiling.value["median"])


def test_ratios_of_a_zero_denominator_are_infinite_not_an_error():
    assert ratios([1.0, 2.0], [0.0, 1.0]) == [float("inf"), 2.0]


# --- The table -----------------------------------------------------------------------------


def test_the_table_aligns_columns_and_marks_each_figure():
    figures = [
        Figure("Reads", "p50 bearer/baseline", spread([1.1, 1.2, 1.4]), "x", "<= 1.3", True),
        Figure("Reads", "bearer p50", spread([4.5, 4.0, 5.55]), "ms", note="context"),
        Figure("Scaling", "queries/request", None, goal="constant", passed=False, text="1 -> 2"),
        Figure("Scaling", "p50 large/small", spread([1.0, 2.0, 3.0]), "x", "<= 1.3", note="spoiled: see problems"),
    ]
    assert render_table(figures) == "\n".join([
        "Figure               Median   Spread (min - max)  Goal      Mark",
        "----------------------------------------------------------------",
        "== Reads",
        "p50 bearer/baseline  1.20     1.10 - 1.40         <= 1.3    PASS",
        "bearer p50           4.50 ms  4.00 - 5.55                         (context)",
        "== Scaling",
        "queries/request      1 -> 2                       constant  MISS",
        "p50 large/small      2.00     1.00 - 3.00         <= 1.3    ERR   (spoiled: see problems)",
    ])


def test_numbers_keep_three_significant_figures_or_so():
    from bench.figures import format_number

    assert [format_number(v, "ms") for v in (1.234, 12.34, 123.4)] == ["1.23", "12.3", "123"]
    assert format_number(123.456, "x") == "123.46"


def test_the_second_step_is_shown_as_its_own_cost_and_as_a_ratio_to_the_password_step():
    figures = build_figures(parse_config([]), suite())
    assert figure(figures, "code step p50").value["median"] == 4.4
    # sign-in by sign-in (4/40, 8.4/42, 4.4/44), not the ratio of the medians (8.4/42 = 0.2)
    assert figure(figures, "code step / password step").value["median"] == pytest.approx(0.1)


# --- Issue 16: anchors, the stock projects, every-run goals ---------------------------------------


def test_an_every_run_goal_is_held_by_the_worst_run_not_the_median():
    results = Results()
    results["detail_bearer@1"] = record([0.95, 0.85, 0.97])  # median 0.95, worst run 0.85
    figures = build_figures(parse_config([]), suite(results))
    every = figure(figures, "detail: req/s bearer/baseline @1, every run")
    assert (every.goal, every.passed) == (">= 0.9 every run", False)
    assert figure(figures, "detail: req/s bearer/baseline @1").passed is True  # the median's goal (0.75)


def test_the_bare_view_is_compared_with_the_same_view_in_stock_django_run_by_run():
    results = Results()
    results["plain@1"] = record([0.96, 0.90, 0.99])
    results["plain_stock@1"] = record([1.0, 1.0, 0.9])
    figures = build_figures(parse_config([]), suite(results))
    ratio = figure(figures, "bare view: req/s this project/stock Django @1")
    assert ratio.value["runs"] == pytest.approx([0.96, 0.90, 1.1])
    assert (ratio.goal, ratio.passed) == (">= 0.95", True)
    stock_bearer = figure(figures, "stock DOT: req/s bearer view/bare view @1")
    assert (stock_bearer.goal, stock_bearer.passed) == ("", None)


def test_token_rates_are_held_to_their_anchors_and_shown_against_stock_dot():
    results = Results()
    results["client_credentials@4"] = record([420.0, 450.0, 430.0])
    results["client_credentials_stock@4"] = record([210.0, 225.0, 215.0])
    results["introspection@4"] = record([900.0, 950.0, 990.0])
    results["refresh_public@4"] = record([250.0, 260.0, 255.0])
    results["refresh_confidential@4"] = record([230.0, 235.0, 239.0])
    figures = build_figures(parse_config([]), suite(results))
    client_credentials = figure(figures, "client credentials/s")
    assert (client_credentials.goal, client_credentials.passed) == (">= 411", True)
    assert "Hydra" in client_credentials.note
    assert figure(figures, "client credentials: req/s this project/stock DOT").value["runs"] == [2.0, 2.0, 2.0]
    assert figure(figures, "client credentials/s: stock DOT").passed is None
    assert (figure(figures, "introspection/s").goal, figure(figures, "introspection/s").passed) == (">= 1000", False)
    assert figure(figures, "refresh/s: public").passed is True
    assert figure(figures, "refresh: req/s this project/stock DOT (public)").value["median"] == 255.0  # stock at 1.0
    assert figure(figures, "refresh/s: stock DOT (public client)").passed is None
    assert figure(figures, "refresh/s: confidential").passed is False
    assert figure(figures, "code + PKCE exchange/s: public").goal == ">= 240"


def test_every_new_goal_states_its_anchor():
    for name in ("client-credentials-rate", "refresh-rate", "exchange-rate", "introspection-rate"):
        assert GOAL[name].why.startswith("anchor: "), GOAL[name].why
    assert "0.48" in GOAL["bearer-detail-every-run"].why
