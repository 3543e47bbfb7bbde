"""py-spy's collapsed stacks to flame graphs and shares (bench/flame.py): pure, made-up stacks."""

from __future__ import annotations

import re

import pytest

from bench import flame

HANDLER = "WSGIHandler.__call__ (django/core/handlers/wsgi.py)"
VIEW = "BaseHandler._get_response (django/core/handlers/base.py)"
RAW = "\n".join([
    f'process 1:"gunicorn";Thread.run (threading.py);{HANDLER};{VIEW};CursorWrapper._execute '
    "(django/db/backends/utils.py);Cursor.execute (psycopg/cursor.py) 6",
    f'process 1:"gunicorn";{HANDLER};RequestLogMiddleware.__call__ (core/middleware.py);Logger.info '
    "(logging/__init__.py) 2",
    f'process 1:"gunicorn";{HANDLER};{VIEW};record (accounts/audit.py);uuid4 (uuid.py) 2',
    'process 1:"gunicorn";Arbiter.run (gunicorn/arbiter.py) 50',  # not a request
    f'process 1:"gunicorn";{HANDLER};{VIEW};_find_and_load (<frozen importlib._bootstrap>) 40',  # an import
    "not a stack line",
])


def test_only_samples_inside_requests_count_and_one_time_imports_do_not():
    stacks = flame.request_stacks(flame.parse(RAW))
    assert sum(count for _frames, count in stacks) == 10
    assert all(frames[0] == HANDLER for frames, _count in stacks)


def test_parts_are_inclusive_shares_of_the_request_samples():
    shares = dict(flame.shares(flame.request_stacks(flame.parse(RAW))))
    assert shares["the view (with the process_view hooks)"] == pytest.approx(80.0)
    assert shares["middleware before/after the view"] == pytest.approx(20.0)
    assert shares["SQL statements (ORM compile + execute)"] == pytest.approx(60.0)
    assert shares["audit rows (accounts.audit.record)"] == pytest.approx(20.0)


def test_self_time_adds_up_and_the_standard_library_counts_with_its_caller():
    shares = dict(flame.self_shares(flame.request_stacks(flame.parse(RAW))))
    assert sum(shares.values()) == pytest.approx(100.0)
    assert shares["psycopg (the PostgreSQL driver)"] == pytest.approx(60.0)
    assert shares["this project (accounts, oauth, core, permissions, orders)"] == pytest.approx(20.0)  # uuid4
    assert shares["logging and json"] == pytest.approx(20.0)


def test_the_flame_graph_is_an_svg_with_a_tooltip_per_drawn_frame():
    svg = flame.render_svg(flame.tree(flame.request_stacks(flame.parse(RAW))), "a <title>")
    assert svg.startswith("<svg ") and svg.rstrip().endswith("</svg>")
    assert "a &lt;title&gt;" in svg
    titles = re.findall(r"<title>(.*?)</title>", svg)
    assert "all requests (10 samples, 100.0%)" in titles
    assert any(t.startswith("Cursor.execute (psycopg/cursor.py) (6 samples, 60.0%)") for t in titles)
