"""Settings of the server processes the services tests start: the production profile as is.

The one difference: collected static files go to this run's temporary directory instead of
the checkout's ``staticfiles/``, so concurrent runs (and other engineers' ``make serve``)
never write over each other's manifest. Everything else comes from ``config.settings``,
read from the environment exactly as under ``make serve`` (``bench/harness.py`` sets it).
"""

import os

from config.settings import *  # noqa: F403 - the production profile, unchanged

STATIC_ROOT = os.environ["HARNESS_STATIC_ROOT"]
