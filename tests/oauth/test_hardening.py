"""The provider's hardening: RFC 9700 flags, the deploy checks, hashed client secrets, register_client."""

from __future__ import annotations

import io
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.contrib.auth.hashers import check_password
from django.core import checks
from django.core.management import CommandError, call_command
from django.test import override_settings
from oauth2_provider import settings as dot_settings
from oauth2_provider.models import get_application_model

from oauth.models import ClientPolicy

Application = get_application_model()

BASE_DIR = Path(__file__).resolve().parents[2]
BCP_FLAGS = sorted(name for name in dot_settings.DEFAULTS if name.startswith("COMPLIANT_BCP_RFC9700_"))


# --- RFC 9700 ---------------------------------------------------------------------------------------


def test_dot_knows_the_rfc_9700_flags():
    """The list below is read from DOT itself, so a flag added in a new version is covered too."""
    assert len(BCP_FLAGS) >= 10


@pytest.mark.parametrize("flag", BCP_FLAGS)
def test_every_rfc_9700_flag_is_on(flag):
    assert settings.OAUTH2_PROVIDER.get(flag) is True


def _dot_deploy_messages() -> list[checks.CheckMessage]:
    messages = checks.run_checks(include_deployment_checks=True, tags=[checks.Tags.security])
    return [message for message in messages if (message.id or "").startswith("oauth2_provider.")]


def test_dots_deploy_checks_find_nothing_in_the_settings():
    assert _dot_deploy_messages() == []


@pytest.mark.parametrize(
    "change, check_id",
    [
        ({"COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": False}, "oauth2_provider.W006"),
        ({"COMPLIANT_BCP_RFC9700_PKCE_METHOD": False}, "oauth2_provider.W003"),
        ({"PKCE_REQUIRED": False}, "oauth2_provider.E005"),
        ({"ALLOW_URI_WILDCARDS": True}, "oauth2_provider.E004"),
        ({"REFRESH_TOKEN_REUSE_PROTECTION": False}, "oauth2_provider.E002"),
    ],
)
def test_dots_deploy_checks_would_see_a_weakened_setting(change, check_id):
    """The checks the subprocess test relies on do report a weakened configuration."""
    with override_settings(OAUTH2_PROVIDER={**settings.OAUTH2_PROVIDER, **change}):
        assert check_id in [message.id for message in _dot_deploy_messages()]


def test_the_settings_the_rfc_9700_gates_watch_are_safe():
    """The REFRESH_TOKEN, REDIRECT_URI_* and PKCE_REQUIRED flags only raise the severity:
    the settings themselves must be right."""
    provider = settings.OAUTH2_PROVIDER
    assert provider["PKCE_REQUIRED"] is True
    assert provider["ALLOW_URI_WILDCARDS"] is False
    assert provider["ALLOWED_REDIRECT_URI_SCHEMES"] == ["https"]
    assert provider["ROTATE_REFRESH_TOKEN"] is True
    assert provider["REFRESH_TOKEN_REUSE_PROTECTION"] is True
    assert provider["REFRESH_TOKEN_GRACE_PERIOD_SECONDS"] == 0
    assert provider["OIDC_RESPONSE_TYPES_SUPPORTED"] == ["code"]


def _pem(tmp_path: Path) -> Path:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path / "oidc.pem"
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return path


def test_check_deploy_in_production_reports_nothing_about_the_provider(tmp_path):
    environ = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(
            (
                "DJANGO_",
                "OIDC_",
                "DATABASE_",
                "REDIS_",
                "PUBLIC_",
                "ALLOWED_",
                "CSRF_",
                "CORS_",
                "TRUSTED_",
                "WEB_",
                "TOKEN_",
            )
        )
    }
    environ.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DJANGO_ENV="production",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(64),
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/test",
        REDIS_URL="redis://127.0.0.1:6379/0",
        PUBLIC_ORIGIN="https://auth.example.com",
        OIDC_RSA_PRIVATE_KEY_FILE=str(_pem(tmp_path)),
        DJANGO_VAR_DIR=str(tmp_path),
    )

    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=BASE_DIR,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )

    output = result.stdout + result.stderr
    assert "oauth2_provider." not in output, output
    assert result.returncode == 0, output
    # Not only the provider: the whole production configuration passes the deploy checks.
    # The one silenced check is security.W003 (config/settings.py says why).
    assert "System check identified no issues (1 silenced)." in output, output


# --- Client secrets ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_registered_secret_is_stored_with_the_keyed_hasher_and_checks_with_the_plain_secret(service_client):
    stored = Application.objects.get(client_id=service_client.client_id).client_secret

    assert stored.startswith("client_secret_hmac_sha256$")
    assert service_client.client_secret not in stored
    assert check_password(service_client.client_secret, stored)
    assert not check_password("not the secret", stored)


@pytest.mark.django_db
def test_the_keyed_hasher_is_never_used_for_user_passwords():
    assert settings.PASSWORD_HASHERS[0] != "oauth.hashers.ClientSecretHasher"
    assert settings.OAUTH2_PROVIDER["CLIENT_SECRET_HASHER"] == "client_secret_hmac_sha256"


# --- register_client ------------------------------------------------------------------------------------


def register(name: str, **options) -> dict:
    """Run the command with the arguments an operator would type."""
    argv = [name]
    for option, value in options.items():
        flag = "--" + {"redirect_uris": "redirect-uri", "type": "type"}.get(option, option.replace("_", "-"))
        if value is True:
            argv.append(flag)
        elif isinstance(value, list):
            for item in value:
                argv += [flag, item]
        else:
            argv += [flag, value]
    out = io.StringIO()
    call_command("register_client", *argv, stdout=out)
    return json.loads(out.getvalue())


@pytest.mark.django_db
def test_register_client_prints_the_id_and_no_secret_for_a_public_client():
    printed = register(
        "Demo", type="public", grant="authorization-code", redirect_uris=["http://127.0.0.1:8765/callback"],
        scopes="openid profile email orders:read orders:write", client_id="demo-like",
    )

    assert printed == {"client_id": "demo-like", "client_secret": None}
    application = Application.objects.get(client_id="demo-like")
    assert application.client_type == Application.CLIENT_PUBLIC
    assert application.authorization_grant_type == Application.GRANT_AUTHORIZATION_CODE
    assert application.redirect_uris == "http://127.0.0.1:8765/callback"
    assert application.algorithm == Application.RS256_ALGORITHM
    assert (
        ClientPolicy.objects.get(application=application).scope_list
        == "openid profile email orders:read orders:write".split()
    )


@pytest.mark.django_db
def test_register_client_prints_a_confidential_clients_secret_once_and_stores_it_hashed():
    printed = register(
        "Service", type="confidential", grant="client-credentials", scopes="orders:read", role="support", region="EU",
        introspect=True,
    )

    assert set(printed) == {"client_id", "client_secret"}
    assert isinstance(printed["client_secret"], str) and len(printed["client_secret"]) >= 32
    application = Application.objects.get(client_id=printed["client_id"])
    assert application.client_secret.startswith("client_secret_hmac_sha256$")
    assert check_password(printed["client_secret"], application.client_secret)
    policy = ClientPolicy.objects.get(application=application)
    assert (policy.role, policy.region, policy.can_introspect) == ("support", "EU", True)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "options",
    [
        {
            "type": "public",
            "grant": "authorization-code",
            "redirect_uris": ["http://app.example.com/callback"],
            "scopes": "openid",
        },
        {
            "type": "public",
            "grant": "authorization-code",
            "redirect_uris": ["http://localhost:8765/callback"],
            "scopes": "openid",
        },
        {
            "type": "public",
            "grant": "authorization-code",
            "redirect_uris": ["https://app.example.com/cb#frag"],
            "scopes": "openid",
        },
        {
            "type": "public",
            "grant": "authorization-code",
            "redirect_uris": ["https://user@app.example.com/cb"],
            "scopes": "openid",
        },
        {
            "type": "public",
            "grant": "authorization-code",
            "redirect_uris": ["https://*.example.com/cb"],
            "scopes": "openid",
        },
        {"type": "public", "grant": "authorization-code", "redirect_uris": ["/relative"], "scopes": "openid"},
        {"type": "public", "grant": "authorization-code", "redirect_uris": [], "scopes": "openid"},
        {
            "type": "public",
            "grant": "authorization-code",
            "redirect_uris": ["https://app.example.com/cb"],
            "scopes": "openid admin",
        },
        {
            "type": "public",
            "grant": "authorization-code",
            "redirect_uris": ["https://app.example.com/cb"],
            "scopes": "",
        },
        {"type": "confidential", "grant": "client-credentials", "scopes": "orders:read"},
        {"type": "confidential", "grant": "client-credentials", "scopes": "orders:read", "role": "support"},
        {"type": "confidential", "grant": "client-credentials", "scopes": "orders:read", "region": "EU"},
        {
            "type": "confidential",
            "grant": "client-credentials",
            "scopes": "orders:read",
            "role": "root",
            "region": "EU",
        },
        {"type": "public", "grant": "client-credentials", "scopes": "orders:read", "role": "support", "region": "EU"},
        {
            "type": "confidential",
            "grant": "client-credentials",
            "scopes": "openid orders:read",
            "role": "support",
            "region": "EU",
        },
        {
            "type": "public",
            "grant": "authorization-code",
            "redirect_uris": ["https://app.example.com/cb"],
            "scopes": "openid",
            "introspect": True,
        },
    ],
    ids=[
        "http non-loopback redirect",
        "http localhost by name",
        "fragment",
        "userinfo",
        "wildcard",
        "relative redirect",
        "no redirect",
        "unknown scope",
        "no scope",
        "client credentials without role or region",
        "client credentials without region",
        "client credentials without role",
        "unknown role",
        "public client credentials",
        "machine client asking for openid",
        "public introspection",
    ],
)
def test_register_client_refuses_an_unsafe_registration(options):
    with pytest.raises(CommandError) as refused:
        register("Refused", **options)

    assert "arguments are required" not in str(refused.value)

    assert not Application.objects.exists()
    assert not ClientPolicy.objects.exists()


@pytest.mark.django_db
def test_register_client_refuses_an_existing_client_id(public_client):
    with pytest.raises(CommandError):
        register(
            "Again",
            type="public",
            grant="authorization-code",
            redirect_uris=["https://a.example/cb"],
            scopes="openid",
            client_id=public_client.client_id,
        )
