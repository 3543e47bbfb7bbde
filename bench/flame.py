"""Flame graphs and "where the CPU goes" tables from py-spy's collapsed stacks (pure, no I/O).

``py-spy record --format raw`` writes one line per distinct stack: the frames from the root
(``process ...``, the thread, then ``function (file)``) separated by ``;``, a space and the
number of samples. :func:`parse` reads them; :func:`render_svg` draws a small flame graph
(frames under ``MIN_SHARE`` of the samples are left out, so a graph of a 20-second sample
stays in the tens of kilobytes); :func:`shares` says which share of the request's samples
each named part of the code took, inclusive of what it calls.

Only samples inside a request count (those with Django's ``WSGIHandler.__call__`` in the
stack): the gunicorn master, a worker's idle loop and TLS record handling between requests
are not what a request costs in Python.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from dataclasses import dataclass, field

REQUEST_FRAME = "WSGIHandler.__call__ (django/core/handlers/wsgi.py)"
# A module imported by a worker's first requests (the URLconf, a cache backend): once per process.
IMPORT_FRAME = "_find_and_load (<frozen importlib._bootstrap>)"
MIN_SHARE = 0.004  # frames below 0.4% of the samples are not drawn (keeps a graph near 100 KB)
WIDTH, ROW = 1200, 16


def parse(text: str) -> list[tuple[list[str], int]]:
    """``(frames root first, samples)`` for each line of py-spy's raw output."""
    stacks = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        frames, _, count = line.rpartition(" ")
        if not frames or not count.isdigit():
            continue
        stacks.append((frames.split(";"), int(count)))
    return stacks


def frame_name(frame: str) -> str:
    """``function (file)`` without a line number (``--nolineno`` already drops it)."""
    name, _, where = frame.partition(" (")
    if not where:
        return frame
    path = where.rstrip(")").rsplit(":", 1)[0]
    return f"{name} ({path})"


def request_stacks(stacks: Iterable[tuple[list[str], int]]) -> list[tuple[list[str], int]]:
    """The stacks inside a request, each cut to start at Django's handler; one-time imports left out."""
    kept = []
    for frames, count in stacks:
        names = [frame_name(frame) for frame in frames]
        if REQUEST_FRAME in names and not any(IMPORT_FRAME in name for name in names):
            kept.append((names[names.index(REQUEST_FRAME):], count))
    return kept


@dataclass
class Node:
    name: str
    samples: int = 0
    children: dict[str, Node] = field(default_factory=dict)


def tree(stacks: Iterable[tuple[list[str], int]], root: str = "all requests") -> Node:
    top = Node(root)
    for frames, count in stacks:
        top.samples += count
        node = top
        for frame in frames:
            node = node.children.setdefault(frame, Node(frame))
            node.samples += count
    return top


def _colour(name: str) -> str:
    # Warm colours for this project's code, cool ones for libraries, grey for the interpreter.
    project = ("(accounts/", "(oauth/", "(core/", "(permissions/", "(orders/", "(bench/", "(config/")
    if any(part in name for part in project):
        return "#f28e2b"
    if "(django/" in name:
        return "#4e79a7"
    if "(oauthlib/" in name or "(oauth2_provider/" in name:
        return "#59a14f"
    if "(psycopg" in name or "(redis/" in name or "(django_redis/" in name:
        return "#b07aa1"
    return "#bab0ac"


def render_svg(root: Node, title: str) -> str:
    """A flame graph (root at the top) as a standalone SVG with a tooltip per frame."""
    total = max(root.samples, 1)
    rects: list[str] = []
    depth_seen = 0

    def draw(node: Node, x: float, depth: int) -> None:
        nonlocal depth_seen
        width = WIDTH * node.samples / total
        depth_seen = max(depth_seen, depth)
        y = 24 + depth * ROW
        label = f"{node.name} ({node.samples} samples, {100 * node.samples / total:.1f}%)"
        text = ""
        chars = int(width / 7)
        if chars >= 4:
            shown = node.name if len(node.name) <= chars else node.name[: chars - 2] + ".."
            text = f'<text x="{x + 3:.1f}" y="{y + 12}">{html.escape(shown)}</text>'
        rects.append(
            f'<g><title>{html.escape(label)}</title><rect x="{x:.1f}" y="{y}" width="{width:.1f}" '
            f'height="{ROW - 1}" fill="{_colour(node.name)}"/>{text}</g>'
        )
        child_x = x
        for child in sorted(node.children.values(), key=lambda c: -c.samples):
            if child.samples / total >= MIN_SHARE:
                draw(child, child_x, depth + 1)
            child_x += WIDTH * child.samples / total

    draw(root, 0.0, 0)
    height = 24 + (depth_seen + 1) * ROW + 8
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" font-family="monospace" font-size="11">\n'
        f'<text x="4" y="16" font-size="13">{html.escape(title)}</text>\n' + "\n".join(rects) + "\n</svg>\n"
    )


# What the table names, in the order it shows them: a label and the frames (substrings of
# "function (file)") whose samples, inclusive, belong to it. A stack counts once per part.
PARTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("middleware before/after the view", ()),  # computed: request minus the view
    ("the view (with the process_view hooks)", ("BaseHandler._get_response (django/core/handlers/base.py)",)),
    ("SQL statements (ORM compile + execute)", ("execute_sql (django/db/models/sql/compiler.py)",
                                                "_execute (django/db/backends/utils.py)",
                                                "_save_table (django/db/models/base.py)")),
    ("  of which in psycopg (the driver, sending and reading)", ("(psycopg/",)),
    ("transaction commit/savepoints", ("__exit__ (django/db/transaction.py)",
                                       "__enter__ (django/db/transaction.py)")),
    ("Redis round trips (cache, throttles)", ("(redis/",)),
    ("throttles (accounts.throttles)", ("(accounts/throttles.py)",)),
    ("audit rows (accounts.audit.record)", ("record (accounts/audit.py)",)),
    ("client authentication", ("authenticate_client (oauth2_provider/oauth2_validators.py)",
                               "authenticate_client_id (oauth2_provider/oauth2_validators.py)",
                               "check_password (django/contrib/auth/hashers.py)")),
    ("ID token signing (jwcrypto, RSA)", ("(jwcrypto/",)),
    ("session load", ("(django/contrib/sessions/", "(accounts/session_store.py)")),
    ("request log line and logging", ("(logging/",)),
    ("signals (request started/finished, model saves: cache invalidation)", ("send (django/dispatch/dispatcher.py)",)),
)


def shares(stacks: list[tuple[list[str], int]]) -> list[tuple[str, float]]:
    """Each part's share of the request samples (inclusive; parts may overlap)."""
    total = sum(count for _frames, count in stacks) or 1
    view_patterns = dict(PARTS)["the view (with the process_view hooks)"]
    found: list[tuple[str, float]] = []
    for label, patterns in PARTS:
        if not patterns:
            in_view = sum(count for frames, count in stacks if _matches(frames, view_patterns))
            found.append((label, 100 * (total - in_view) / total))
            continue
        samples = sum(count for frames, count in stacks if _matches(frames, patterns))
        found.append((label, 100 * samples / total))
    return found


def _matches(frames: list[str], patterns: tuple[str, ...]) -> bool:
    return any(pattern in frame for frame in frames for pattern in patterns)


# Self time by where the code lives (the standard library counted with its caller): adds up to 100%.
PACKAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("this project (accounts, oauth, core, permissions, orders)",
     ("(accounts/", "(oauth/", "(core/", "(permissions/", "(orders/", "(config/", "(bench/")),
    ("oauthlib", ("(oauthlib/",)),
    ("django-oauth-toolkit", ("(oauth2_provider/",)),
    ("Django ORM (django/db)", ("(django/db/",)),
    ("psycopg (the PostgreSQL driver)", ("(psycopg",)),
    ("Redis client", ("(redis/", "(django_redis/")),
    ("jwcrypto and cryptography (JWT, RSA)", ("(jwcrypto/", "(cryptography/")),
    ("Django (the rest: handlers, middleware, http, signals)", ("(django/",)),
    ("DRF", ("(rest_framework/",)),
    ("logging and json", ("(logging/", "(json/")),
)


def self_shares(stacks: list[tuple[list[str], int]]) -> list[tuple[str, float]]:
    """Share of the request samples whose innermost non-stdlib frame lives in each package."""
    total = sum(count for _frames, count in stacks) or 1
    counted = dict.fromkeys([label for label, _patterns in PACKAGES] + ["other (stdlib, interpreter)"], 0)
    for frames, count in stacks:
        # The standard library's time goes to the package that called it (the deepest frame
        # of a known package): Django's uuid4() is Django's, psycopg's socket reads psycopg's.
        label = next((label for frame in reversed(frames) for label, patterns in PACKAGES
                      if any(p in frame for p in patterns)), "other (stdlib, interpreter)")
        counted[label] += count
    return [(label, 100 * samples / total) for label, samples in counted.items()]
