"""The production-profile harness's pure parts: addresses, environment, the gunicorn command, key files."""

from __future__ import annotations

import shutil
import stat

import pytest

from bench.harness import HarnessError, Profile, admin_database_url, gunicorn_command, with_address


@pytest.fixture
def profile(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://bench:s%40cret@127.0.0.1:5433/test")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6380/2")
    # The calling shell's site configuration, which must never reach the run's processes.
    monkeypatch.setenv("DJANGO_ENV", "test")
    monkeypatch.setenv("EMAIL_URL", "smtp://mail.example.com")
    monkeypatch.setenv("GUNICORN_CMD_ARGS", "--workers 9")
    made = Profile(name="unit_test", settings_module="bench.settings", ports=[40001, 40002],
                   variables={"LOGIN_RATE_PER_IP": "5/m"})
    yield made
    shutil.rmtree(made.tmp, ignore_errors=True)


def test_the_runs_database_lives_on_the_configured_server_with_its_credentials(profile):
    assert profile.admin_url == "postgres://bench:s%40cret@127.0.0.1:5433/postgres"
    assert profile.database_url == f"postgres://bench:s%40cret@127.0.0.1:5433/{profile.db_name}"
    assert profile.db_name.startswith("unit_test_") and profile.cache_prefix.startswith("unit-test-")


def test_the_environment_is_the_production_profile_set_explicitly_not_the_shells(profile):
    env = profile.environment()
    assert "EMAIL_URL" not in env and "GUNICORN_CMD_ARGS" not in env
    assert env["DJANGO_ENV"] == "production"
    assert env["DJANGO_SETTINGS_MODULE"] == "bench.settings"
    assert env["DATABASE_URL"] == profile.database_url
    assert env["REDIS_URL"] == "redis://127.0.0.1:6380/2"
    assert env["CACHE_KEY_PREFIX"] == profile.cache_prefix
    assert env["PUBLIC_ORIGIN"] == "https://127.0.0.1:40001"
    assert env["CSRF_TRUSTED_ORIGINS"] == "https://127.0.0.1:40001,https://127.0.0.1:40002"
    assert env["HARNESS_STATIC_ROOT"] == str(profile.static_root)
    assert env["LOGIN_RATE_PER_IP"] == "5/m"


def test_one_server_may_talk_to_other_addresses_of_the_same_services(profile):
    proxied = with_address(profile.database_url, port=41000)
    env = profile.environment(database_url=proxied)
    assert env["DATABASE_URL"] == f"postgres://bench:s%40cret@127.0.0.1:41000/{profile.db_name}"


def test_the_keys_are_readable_by_their_owner_only(profile):
    for path in (profile.key, profile.oidc_key):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert profile.cert.read_text().startswith("-----BEGIN CERTIFICATE-----")


def test_a_service_off_loopback_is_refused(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://u:p@db.example.com:5432/app")
    with pytest.raises(HarnessError, match="db.example.com:5432 is not on loopback"):
        admin_database_url()


def test_gunicorn_runs_as_make_serve_runs_it_on_loopback_with_the_runs_certificate(tmp_path):
    command = gunicorn_command(port=40001, workers=3, cert=tmp_path / "c.pem", key=tmp_path / "k.pem")
    assert command[1:] == [
        "config.wsgi:application", "--config", "config/gunicorn.conf.py", "--bind", "127.0.0.1:40001",
        "--workers", "3", "--access-logfile", "-", "--forwarded-allow-ips", "",
        "--certfile", str(tmp_path / "c.pem"), "--keyfile", str(tmp_path / "k.pem"), "--no-control-socket",
    ]
