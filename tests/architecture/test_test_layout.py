"""Test support lives in ``tests/support/`` (and ``tests/factories.py``), nowhere else.

A test module may import from its own test package (``tests/oauth/...`` from
``tests/oauth/helpers.py``), from ``tests.support`` and from ``tests.factories``; never from a
``conftest.py`` (fixtures are found by pytest, plain functions belong in ``tests/support``) and
never from a sibling test package, so no test package depends on another one's files.
Read from the code (an AST walk of every module under ``tests/``, imports in functions included).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
SHARED = ("tests.support", "tests.factories")


def package_of(path: Path) -> str:
    """``tests.oauth`` for tests/oauth/..., ``tests`` for a module directly under tests/."""
    parts = path.relative_to(TESTS.parent).with_suffix("").parts
    return ".".join(parts[:2]) if len(parts) > 2 else parts[0]


def module_of(path: Path) -> str:
    return ".".join(path.relative_to(TESTS.parent).with_suffix("").parts)


def imported_modules(path: Path) -> list[tuple[str, int]]:
    """Every ``tests.*`` module a file imports (``from tests.x import y`` may name module y)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names if alias.name.startswith("tests.")]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "tests" or node.module.startswith("tests."):
                found += [(f"{node.module}.{alias.name}", node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            found.append((f"<relative import> {node.module or ''}", node.lineno))
    return found


def violations(path: Path) -> list[str]:
    own = package_of(path)
    found = []
    for name, line in imported_modules(path):
        where = f"{path.relative_to(TESTS.parent)}:{line} imports {name}"
        if name.startswith("<relative import>"):
            found.append(f"{where}: use absolute imports")
        elif "conftest" in name.split("."):
            found.append(f"{where}: nothing is imported from a conftest.py; move it to tests/support/")
        elif any(name == shared or name.startswith(shared + ".") for shared in SHARED):
            continue
        elif own == "tests":
            # A module directly under tests/ may use its neighbours there, not a test package.
            if (TESTS / name.split(".")[1]).is_dir():
                found.append(f"{where}: a test package's module; share it through tests/support/")
        elif not (name == own or name.startswith(own + ".")):
            found.append(f"{where}: another test package's module; share it through tests/support/")
    return found


def modules() -> list[Path]:
    return sorted(path for path in TESTS.rglob("*.py") if "__pycache__" not in path.parts)


def test_the_walk_sees_the_test_packages():
    names = {module_of(path) for path in modules()}
    assert {"tests.conftest", "tests.support.clients", "tests.oauth.conftest", "tests.factories"} <= names


@pytest.mark.parametrize("path", modules(), ids=module_of)
def test_a_test_module_imports_only_its_own_package_tests_support_and_tests_factories(path: Path):
    assert violations(path) == []


def test_the_rule_catches_an_import_from_a_conftest_or_a_sibling_package(monkeypatch):
    package = TESTS / "oauth"
    fake = package / "test_layout_probe_fake.py"  # never written: read through a patched read_text
    source = (
        "from tests.conftest import api_login\n"
        "from tests.permissions.sessions import page_client\n"
        "import tests.accounts.helpers\n"
        "from tests.support.oauth import bearer\n"
        "from tests.support.clients import api_client\n"
        "from tests.factories import customer\n"
    )
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: source)
    found = violations(fake)
    assert [item.split(" imports ")[1].split(":")[0] for item in found] == [
        "tests.conftest.api_login",
        "tests.permissions.sessions.page_client",
        "tests.accounts.helpers",
    ]
