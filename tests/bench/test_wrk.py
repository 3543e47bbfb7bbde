"""Reading wrk's output and writing its case files: no wrk, no server."""

from __future__ import annotations

import pytest

from bench.wrk import busiest_share, is_lopsided, lua_literal, parse_wrk_output, run_figures

WRK_STDOUT = """Running 4s test @ https://127.0.0.1:40123/api/orders/
  1 threads and 1 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     4.61ms  502.10us  11.20ms   90.01%
  868 requests in 4.00s, 1.37MB read
Requests/sec:    217.00
BENCH_RESULT {"requests":868,"duration_us":4000000,"p50_us":4500,"p90_us":5100,"p99_us":7900,"mean_us":4610.5,\
"max_us":11200,"errors":{"connect":0,"read":1,"write":0,"status":3,"timeout":2},"sent":870,"exhausted":4,\
"statuses":{"200":862,"500":3,"404":3}}
"""


def test_the_result_line_is_found_among_wrks_own_output():
    result = parse_wrk_output(WRK_STDOUT)
    assert result["requests"] == 868
    assert result["statuses"] == {"200": 862, "500": 3, "404": 3}
    assert result["errors"]["timeout"] == 2


def test_output_without_a_result_line_reads_as_none():
    assert parse_wrk_output("unable to connect to 127.0.0.1:1 Connection refused\n") is None


def test_a_runs_figures_come_from_the_result_and_the_cpu_used():
    run = run_figures(parse_wrk_output(WRK_STDOUT), expect=(200, 404), server_cpu_s=2.17, wrk_cpu_s=0.4)
    assert run["p50_ms"] == 4.5
    assert run["p99_ms"] == 7.9
    assert run["rps"] == 217.0
    assert run["cpu_ms"] == pytest.approx(2.5)  # 2.17 s over 868 requests
    assert run["server_cpu_share"] == pytest.approx(0.5425)
    assert run["wrk_cpu_share"] == pytest.approx(0.1)
    assert run["statuses"] == {200: 862, 500: 3, 404: 3}


def test_unexpected_statuses_socket_errors_and_exhausted_items_all_count_as_bad():
    run = run_figures(parse_wrk_output(WRK_STDOUT), expect=(200, 404), server_cpu_s=1, wrk_cpu_s=0)
    # 3 answers of 500; read 1 + timeout 2 (wrk's "status" count is not a socket error); 4 items missing
    assert (run["unexpected_statuses"], run["bad"]) == (3, 3 + 3 + 4)
    only_200 = run_figures(parse_wrk_output(WRK_STDOUT), expect=(200,), server_cpu_s=1, wrk_cpu_s=0)
    assert only_200["unexpected_statuses"] == 6


def test_a_run_without_requests_has_no_per_request_cpu_instead_of_dividing_by_zero():
    empty = {"requests": 0, "duration_us": 0, "p50_us": 0, "p90_us": 0, "p99_us": 0, "mean_us": 0,
             "errors": {"connect": 1, "read": 0, "write": 0, "timeout": 0}, "exhausted": 0, "statuses": {}}
    run = run_figures(empty, expect=(200,), server_cpu_s=0.1, wrk_cpu_s=0.1)
    assert (run["rps"], run["cpu_ms"], run["server_cpu_share"], run["bad"]) == (0.0, 0.0, 0.0, 1)


def test_case_tables_are_written_as_lua_literals_with_strings_escaped():
    table = {"method": "POST", "body": 'say "hi"\\\n', "items_file": None, "headers": {"X-A": "1"}, "n": 3, "on": True}
    assert lua_literal(table) == (
        '{["method"] = "POST", ["body"] = "say \\"hi\\"\\\\\\n", ["items_file"] = nil, '
        '["headers"] = {["X-A"] = "1"}, ["n"] = 3, ["on"] = true}'
    )
    with pytest.raises(TypeError):
        lua_literal(["a list"])


def test_the_busiest_share_is_the_busiest_process_part_of_the_cpu_used_between_two_readings():
    before = {10: 1.0, 11: 5.0, 12: 7.0}  # the master, two workers
    assert busiest_share(before, {10: 1.0, 11: 8.0, 12: 8.0}) == pytest.approx(0.75)  # 3 s of 4
    assert busiest_share(before, {10: 1.0, 11: 5.0, 12: 7.0}) == 0.0  # nothing used
    assert busiest_share(before, {10: 1.0, 11: 5.0, 12: 7.0, 13: 2.0}) == 1.0  # a worker started meanwhile


@pytest.mark.parametrize(
    ("share", "cores", "connections", "workers", "lopsided"),
    [
        (0.95, 1.0, 4, 2, True),  # one worker served all four connections, on one core
        (0.60, 1.4, 4, 2, False),  # both served
        (0.95, 1.8, 4, 2, False),  # one worker, its threads hashing outside the GIL on both cores
        (0.95, 0.9, 1, 2, False),  # one connection: one worker serves it by design
        (1.00, 1.0, 4, 1, False),  # one worker is all there is
    ],
)
def test_a_run_is_lopsided_when_one_of_several_workers_served_it_on_one_core(
    share, cores, connections, workers, lopsided
):
    run = {"busiest_share": share, "server_cpu_share": cores}
    assert is_lopsided(run, connections=connections, workers=workers) is lopsided
