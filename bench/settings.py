"""Settings of the benchmark server: the production profile as ``make serve`` runs it, plus
the baseline routes of ``bench/urls.py``.

Only two things differ from ``config.settings``:

- ``ROOT_URLCONF`` adds the unauthenticated baseline views; they exist under these
  settings only, never in ``config.urls``;
- collected static files go to the run's temporary directory (``HARNESS_STATIC_ROOT``), not
  the checkout's ``staticfiles/``, so a benchmark never overwrites anyone's manifest.

Everything else (the profile, its secrets, the throttles) is read from the environment
exactly as under ``make serve``; ``bench/harness.py`` sets it.
"""

import os
from pathlib import Path

from config.settings import *  # noqa: F403 - the production profile, unchanged

ROOT_URLCONF = "bench.urls"

if os.environ.get("HARNESS_STATIC_ROOT"):
    STATIC_ROOT = Path(os.environ["HARNESS_STATIC_ROOT"])
