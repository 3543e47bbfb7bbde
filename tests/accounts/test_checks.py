"""Start-up and system checks, run as an operator would: manage.py in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parents[2]
SCRUBBED = (
    "DJANGO_ENV",
    "DJANGO_SECRET_KEY",
    "DATABASE_URL",
    "REDIS_URL",
    "WEB_CONCURRENCY",
    "PUBLIC_ORIGIN",
    "OIDC_RSA_PRIVATE_KEY",
    "OIDC_RSA_PRIVATE_KEY_FILE",
    "TRUSTED_PROXY_COUNT",
)


def manage(*args: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    environ = {key: value for key, value in os.environ.items() if key not in SCRUBBED}
    environ.update({"DJANGO_VAR_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "config.settings", **env})
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_per_process_rate_limit_cache_is_refused_with_several_workers(tmp_path):
    result = manage("check", tmp_path=tmp_path, DJANGO_ENV="local", WEB_CONCURRENCY="4")
    assert result.returncode != 0
    assert "django_ratelimit.E003" in result.stdout + result.stderr


def test_per_process_cache_is_fine_for_one_local_process(tmp_path):
    result = manage("check", tmp_path=tmp_path, DJANGO_ENV="local", WEB_CONCURRENCY="1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "django_ratelimit" not in result.stdout + result.stderr


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    result = manage(
        "check",
        tmp_path=tmp_path,
        DJANGO_ENV="production",
        PUBLIC_ORIGIN="https://auth.example.com",
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/test",
        REDIS_URL="redis://127.0.0.1:6379/0",
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in output
    assert "ImproperlyConfigured" in output


@pytest.mark.parametrize("variable", ["PUBLIC_ORIGIN", "DATABASE_URL"])
def test_production_names_each_missing_variable(tmp_path, variable):
    env = {
        "DJANGO_ENV": "production",
        "DJANGO_SECRET_KEY": "x" * 64,
        "PUBLIC_ORIGIN": "https://auth.example.com",
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/test",
        "REDIS_URL": "redis://127.0.0.1:6379/0",
    }
    del env[variable]
    result = manage("check", tmp_path=tmp_path, **env)
    assert result.returncode != 0
    assert f"{variable} must be set" in result.stdout + result.stderr
