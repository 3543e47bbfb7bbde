"""Imports point one way: ``orders -> oauth -> permissions -> accounts -> core``; no app imports ``config``.

Read from the code itself (an AST walk of every module of every app, imports inside
functions included), so the README's picture of the house cannot drift from the house.
``config`` is wiring (settings, URLs, WSGI, gunicorn) and may import any app; ``bench``
and ``tests`` are tools around the project, not part of it.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Lowest first: an app may import the apps before it in this list, never one after it.
LAYERS = ("core", "accounts", "permissions", "oauth", "orders")
PROJECT_PACKAGES = (*LAYERS, "config", "bench", "tests")


def imported_packages(path: Path) -> set[tuple[str, int]]:
    """The project packages a module imports, with the line of each import."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[tuple[str, int]] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue  # relative imports stay inside their own package
        for name in names:
            top = name.split(".", 1)[0]
            if top in PROJECT_PACKAGES:
                found.add((top, node.lineno))
    return found


def violations(app: str) -> list[str]:
    rank = LAYERS.index(app)
    wrong: list[str] = []
    for path in sorted((ROOT / app).rglob("*.py")):
        for package, line in sorted(imported_packages(path)):
            if package == app:
                continue
            if package not in LAYERS or LAYERS.index(package) > rank:
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {package}")
    return wrong


@pytest.mark.parametrize("app", LAYERS)
def test_an_app_imports_only_the_layers_below_it(app):
    assert violations(app) == []


def test_the_walk_sees_imports_inside_functions_and_against_the_direction(tmp_path, monkeypatch):
    """The checker itself: an upward import hidden in a function is found."""
    package = tmp_path / "accounts"
    package.mkdir()
    (package / "late.py").write_text("def f():\n    from orders.models import Order\n    import config.settings\n")
    (package / "fine.py").write_text("from core.api import error_body\nfrom . import late\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert violations("accounts") == ["accounts/late.py:3 imports config", "accounts/late.py:2 imports orders"]


@pytest.mark.django_db
def test_migrations_depend_only_on_the_layers_below_too():
    """A migration of app X may depend on X and lower apps only (run_before on the higher side
    orders a data step that must come first); third-party and Django apps are below all."""
    from django.db.migrations.loader import MigrationLoader

    loader = MigrationLoader(None, ignore_no_migrations=True)
    wrong = []
    for (app, name), migration in loader.disk_migrations.items():
        if app not in LAYERS:
            continue
        for dependency_app, _ in migration.dependencies:
            label = "accounts" if dependency_app == "__setting__" else dependency_app
            if label in LAYERS and LAYERS.index(label) > LAYERS.index(app):
                wrong.append(f"{app}.{name} depends on {dependency_app}")
    assert wrong == []
