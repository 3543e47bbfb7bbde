"""Password hashing parameters, chosen once and documented in the README."""

from django.contrib.auth.hashers import Argon2PasswordHasher


class Argon2idHasher(Argon2PasswordHasher):
    """Argon2id at the OWASP minimum: 19 MiB of memory, 2 passes, 1 lane.

    Django's own Argon2 hasher already uses the ``id`` variant; these parameters are
    explicit so a Django upgrade never changes them silently. A stored hash made with
    other parameters (or another algorithm) is re-hashed on the next successful login.
    The algorithm name stays ``argon2`` so hashes made by Django's hasher still verify.
    """

    time_cost = 2
    memory_cost = 19 * 1024  # KiB
    parallelism = 1
