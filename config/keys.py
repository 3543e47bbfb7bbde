"""Generating keys for development, tests and benchmarks: never for production.

The local profile's OIDC signing key (generated on first run into ``DJANGO_VAR_DIR``). The
loopback certificate and keys of the service tests and the benchmarks are written by
``bench/harness.py`` with these two functions.
"""

from __future__ import annotations

import os
from pathlib import Path


def rsa_private_key_pem() -> bytes:
    """A fresh 2048-bit RSA private key (PKCS#8 PEM), as used to sign ID tokens."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def write_private(path: Path, data: bytes) -> Path:
    """Write a secret file readable by its owner only; refuse to overwrite one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    return path
