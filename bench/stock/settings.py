"""A stock Django 5.2 project (``startproject``'s settings) with django-oauth-toolkit at its defaults.

``make bench`` serves it with the same gunicorn command as the site (``bench.harness``:
``config.wsgi`` reads ``DJANGO_SETTINGS_MODULE``, which the harness sets to this module), on
a PostgreSQL database of its own, so the table can say how this project compares with what
a fresh project gives. What differs from ``startproject``, and why:

- ``DATABASES`` comes from ``DATABASE_URL`` with the site's persistent connections
  (``CONN_MAX_AGE=60``): Django's default of a new connection per request would make the
  stock side pay a PostgreSQL handshake per request, which measures nothing of interest;
- ``SECRET_KEY`` and ``ALLOWED_HOSTS`` come from the harness; ``DEBUG`` is off.

Nothing else: Django's default middleware, apps, templates and cache (per-process memory),
and ``OAUTH2_PROVIDER`` left unset (DOT's defaults). Only for loopback benchmark runs.
"""

import os

import dj_database_url

SECRET_KEY = os.environ["DJANGO_SECRET_KEY"]
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "oauth2_provider",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "bench.stock.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": dj_database_url.parse(os.environ["DATABASE_URL"], conn_max_age=60, conn_health_checks=True)}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
