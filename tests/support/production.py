"""Read the production profile's settings as ``make serve`` loads them: in a fresh process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent.parent


DATABASE_URL = "postgres://postgres@127.0.0.1:5432/test"


def production_settings(tmp_path: Path, expression: str, *, database_url: str = DATABASE_URL) -> Any:
    """The value of ``expression`` (JSON-serialisable; ``settings`` is ``django.conf.settings``)
    under the production environment, evaluated in a fresh process."""
    key = tmp_path / "oidc.pem"
    if not key.exists():
        subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_ENV": "production",
        "DJANGO_SECRET_KEY": "x" * 20 + "production-test-key-not-a-real-secret-0123456789",
        "DATABASE_URL": database_url,
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "PUBLIC_ORIGIN": "https://auth.example.com",
        "OIDC_RSA_PRIVATE_KEY_FILE": str(key),
        "DJANGO_VAR_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    script = f"import json; from django.conf import settings; print(json.dumps({expression}))"
    out = subprocess.run([sys.executable, "-c", script], env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)
