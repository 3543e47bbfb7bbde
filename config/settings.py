"""The one settings module: every value comes from the environment.

Three profiles, chosen by ``DJANGO_ENV``:

- ``local`` (the default): SQLite, the in-process cache, one server process, plain
  http on loopback. Needs no variable; development secrets are generated on first
  run into ``var/`` (ignored by git).
- ``test``: like ``local``, or on PostgreSQL and Redis when ``DATABASE_URL`` and
  ``REDIS_URL`` are given (``make test-services``).
- ``production``: PostgreSQL, Redis, https, several processes. Refuses to start
  without its secrets and names the missing one.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("DJANGO_VAR_DIR", BASE_DIR / "var"))

ENV = os.environ.get("DJANGO_ENV", "local")
if ENV not in {"local", "test", "production"}:
    raise ImproperlyConfigured(f"DJANGO_ENV must be local, test or production, not {ENV!r}.")
IS_PRODUCTION = ENV == "production"


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_int(name: str, default: int) -> int:
    raw = env_str(name)
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {raw!r}.") from None


def env_list(name: str, default: list[str]) -> list[str]:
    raw = env_str(name)
    return [item.strip() for item in raw.split(",") if item.strip()] if raw else default


def mandatory(name: str) -> str:
    """Return a variable production cannot run without, or stop start-up naming it."""
    value = env_str(name)
    if not value:
        raise ImproperlyConfigured(f"{name} must be set in the {ENV} profile.")
    return value


def generated_secret(filename: str) -> str:
    """Read a development secret from var/, creating it on first use (never committed)."""
    path = VAR_DIR / filename
    if not path.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(64))
    return path.read_text().strip()


# --- Core -------------------------------------------------------------------

DEBUG = False  # Never on: errors render the site's own pages, never a stack trace.
SECRET_KEY = mandatory("DJANGO_SECRET_KEY") if IS_PRODUCTION else (
    env_str("DJANGO_SECRET_KEY") or generated_secret("secret_key")
)

SERVER_HOST = env_str("HOST", "127.0.0.1")
SERVER_PORT = env_int("PORT", 8000)
_origin_host = "127.0.0.1" if SERVER_HOST in {"", "0.0.0.0", "::"} else SERVER_HOST
PUBLIC_ORIGIN = (mandatory("PUBLIC_ORIGIN") if IS_PRODUCTION else env_str("PUBLIC_ORIGIN")) or (
    f"http://{_origin_host}:{SERVER_PORT}"
)
PUBLIC_ORIGIN = PUBLIC_ORIGIN.rstrip("/")
_public = urlsplit(PUBLIC_ORIGIN)
if _public.scheme not in {"http", "https"} or not _public.hostname:
    raise ImproperlyConfigured(
        f"PUBLIC_ORIGIN must be an origin such as https://auth.example.com, not {PUBLIC_ORIGIN!r}."
    )
if IS_PRODUCTION and _public.scheme != "https":
    raise ImproperlyConfigured("PUBLIC_ORIGIN must use https in the production profile.")

LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "[::1]", "testserver"]
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [_public.hostname] if IS_PRODUCTION else LOOPBACK_HOSTS)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [PUBLIC_ORIGIN])
CORS_ALLOWED_ORIGINS = env_list("CORS_ALLOWED_ORIGINS", [])
CORS_URLS_REGEX = r"^/(api|o)/.*$"

# Proxies in front whose X-Forwarded-For entry and X-Forwarded-Proto are trusted.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)
if TRUSTED_PROXY_COUNT:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Server processes sharing this configuration; counters must live in a shared cache
# as soon as there is more than one.
WEB_CONCURRENCY = env_int("WEB_CONCURRENCY", 4 if IS_PRODUCTION else 1)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_ratelimit",
    "oauth2_provider",
    "core",
    # Lower layers first: each app may import only the ones above it (README, "How it is built").
    "accounts",
    "permissions",
    "oauth",
    "orders",
]

MIDDLEWARE = [
    "core.middleware.RequestLogMiddleware",
    "accounts.middleware.AuditContextMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "core.middleware.SecurityHeadersMiddleware",
    "core.middleware.CorsMiddleware",  # django-cors-headers', only on CORS_URLS_REGEX
    "core.middleware.SessionMiddleware",  # Django's, minus the sessionless OAuth endpoints
    "django.middleware.common.CommonMiddleware",
    "core.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.middleware.SessionLimitsMiddleware",
    "core.middleware.MessageMiddleware",  # Django's, the storage built on first use
    "accounts.middleware.SecondFactorEnrolmentMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "core.middleware.LoginRequiredByDefaultMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
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

# --- Data -------------------------------------------------------------------

_database_url = mandatory("DATABASE_URL") if IS_PRODUCTION else env_str("DATABASE_URL")
if _database_url:
    # Persistent connections in serving profiles; none in tests, whose server threads would
    # otherwise hold the test database open past its teardown.
    DATABASES = {
        "default": dj_database_url.parse(
            _database_url, conn_max_age=0 if ENV == "test" else 60, conn_health_checks=True
        )
    }
    # Parameters bound by PostgreSQL, and a statement prepared there once one connection has
    # sent it five times (psycopg's prepare_threshold): PostgreSQL then parses and plans it once
    # per connection instead of on every call. Django's default (client-side binding, nothing
    # prepared) cost a refresh 2.5-2.8 ms of PostgreSQL's CPU against 1.3-1.5 ms
    # (bench/README.md, "Refresh: PostgreSQL's side (issue 16)"); README "Deploying" has the limits.
    # Behind a pooler that hands a connection's statements to other server connections
    # (PgBouncer's transaction pooling before 1.21, or without max_prepared_statements), add
    # ?server_side_binding=false to DATABASE_URL: the URL's options win over these.
    DATABASES["default"]["OPTIONS"] = {
        "server_side_binding": True,
        "prepare_threshold": 5,
        **DATABASES["default"].get("OPTIONS", {}),
    }
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # Django's, with batches that fit PostgreSQL's 65,535 bound parameters per statement.
        DATABASES["default"]["ENGINE"] = "core.postgresql"
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(VAR_DIR / "db.sqlite3"),
            "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE"},
            # A file, not Django's in-memory test database: in shared-cache memory mode a
            # second writer fails at once ("table is locked") instead of waiting, which
            # would make the concurrency tests test SQLite's quirk instead of our code.
            # One file per test run, so two runs in one checkout never share it.
            "TEST": {"NAME": VAR_DIR / f"test_db_{os.getpid()}.sqlite3"},
        }
    }
if IS_PRODUCTION and DATABASES["default"]["ENGINE"] != "core.postgresql":
    raise ImproperlyConfigured("DATABASE_URL must point to PostgreSQL in the production profile.")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

_redis_url = mandatory("REDIS_URL") if IS_PRODUCTION else env_str("REDIS_URL")
if _redis_url:
    CACHES = {
        "default": {
            # django-redis, not Django's RedisCache: django-ratelimit's checks support it.
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": _redis_url,
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 2, "SOCKET_TIMEOUT": 2},
            "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "test" if ENV == "test" else "auth"),
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Authentication ---------------------------------------------------------

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "accounts.backends.EmailBackend",
    "permissions.backends.PolicyBackend",
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "/"

PASSWORD_HASHERS = [
    "accounts.hashers.Argon2idHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
    # Not for people: OAuth client secrets (see oauth/hashers.py). Never first, so no
    # user password is ever hashed with it.
    "oauth.hashers.ClientSecretHasher",
]
if ENV == "test":
    # Argon2 in every fixture would make the suite crawl on two cores; the tests about
    # hashing put Argon2 back first.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *PASSWORD_HASHERS]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "accounts.validators.MaximumLengthValidator", "OPTIONS": {"max_length": 1024}},
    {
        "NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator",
        "OPTIONS": {"user_attributes": ("email", "name")},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
PASSWORD_RESET_TIMEOUT = 60 * 60

# Second factors and step-up (accounts/factors.py, accounts/reauth.py). The roles listed
# need a second factor before they may act; the contract names admin.
MFA_REQUIRED_ROLES = env_list("MFA_REQUIRED_ROLES", ["admin"])
MFA_PENDING_TTL = 300  # seconds between the password step and the second step
MFA_ISSUER = env_str("MFA_ISSUER", "Auth done right")
REAUTH_MAX_AGE = env_int("REAUTH_MAX_AGE", 300)

# Sessions live in the database in every profile: revocation is exact, and a cache
# outage does not sign anybody out.
# Endpoints that authenticate a client, never a browser: no session is read or written there
# (core.middleware.SessionMiddleware).
SESSIONLESS_PATHS = ("/o/token/", "/o/introspect/", "/o/revoke_token/")
SESSION_ENGINE = "accounts.session_store"  # the database store, writing a sign-in's row once
SESSION_IDLE_TIMEOUT = env_int("SESSION_IDLE_TIMEOUT", 1800)
SESSION_ABSOLUTE_TIMEOUT = env_int("SESSION_ABSOLUTE_TIMEOUT", 43200)
SESSION_COOKIE_AGE = SESSION_ABSOLUTE_TIMEOUT
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = False  # The JSON API reads it to send X-CSRFToken.
CSRF_FAILURE_VIEW = "core.errors.csrf_failure"
if IS_PRODUCTION:
    SESSION_COOKIE_NAME = "__Host-sessionid"
    CSRF_COOKIE_NAME = "__Host-csrftoken"
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = True
    SECURE_HSTS_SECONDS = 63072000
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

# --- Brute force ------------------------------------------------------------

LOGIN_RATE_PER_ACCOUNT = env_str("LOGIN_RATE_PER_ACCOUNT", "5/5m")
LOGIN_RATE_PER_IP = env_str("LOGIN_RATE_PER_IP", "30/m")
REGISTER_RATE_PER_IP = env_str("REGISTER_RATE_PER_IP", "10/h")
PASSWORD_RESET_RATE_PER_IP = env_str("PASSWORD_RESET_RATE_PER_IP", "10/h")
PASSWORD_RESET_RATE_PER_ACCOUNT = env_str("PASSWORD_RESET_RATE_PER_ACCOUNT", "3/h")
EMAIL_CONFIRM_RATE = env_str("EMAIL_CONFIRM_RATE", "3/h")
PASSWORD_CHANGE_RATE_PER_ACCOUNT = env_str("PASSWORD_CHANGE_RATE_PER_ACCOUNT", "5/5m")
RATELIMIT_USE_CACHE = "default"
KNOWN_DEVICE_COOKIE_NAME = "__Host-known_device" if IS_PRODUCTION else "known_device"
KNOWN_DEVICE_MAX_AGE = 60 * 60 * 24 * 180

# The in-process cache counts attempts for this process only. That is right for the
# single-process local profile and nowhere else, so only there is the check silenced.
SILENCED_SYSTEM_CHECKS = [
    # security.W003 looks for the exact path django.middleware.csrf.CsrfViewMiddleware;
    # core.csrf.CsrfViewMiddleware is that class, subclassed only to accept the null
    # Origin of the no-referrer consent page (the token check still applies everywhere).
    "security.W003",
]
if ENV == "local" and WEB_CONCURRENCY == 1 and not _redis_url:
    SILENCED_SYSTEM_CHECKS += ["django_ratelimit.E003", "django_ratelimit.W001"]

# --- Email ------------------------------------------------------------------

_email_url = env_str("EMAIL_URL")
if _email_url:
    _mail = urlsplit(_email_url)
    if _mail.scheme not in {"smtp", "smtp+tls", "smtp+ssl"}:
        raise ImproperlyConfigured("EMAIL_URL must start with smtp://, smtp+tls:// or smtp+ssl://.")
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = _mail.hostname or "localhost"
    EMAIL_PORT = _mail.port or 25
    EMAIL_HOST_USER = _mail.username or ""
    EMAIL_HOST_PASSWORD = _mail.password or ""
    EMAIL_USE_TLS = _mail.scheme == "smtp+tls"
    EMAIL_USE_SSL = _mail.scheme == "smtp+ssl"
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", f"no-reply@{_public.hostname}")

# --- HTTP security ----------------------------------------------------------

SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)

# --- Static files -----------------------------------------------------------

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if IS_PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = not IS_PRODUCTION

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- JSON API ---------------------------------------------------------------

REST_FRAMEWORK = {
    # The bearer class comes first: a request with an Authorization header is decided
    # by it alone, and a missing credential is a 401 that names the Bearer scheme.
    "DEFAULT_AUTHENTICATION_CLASSES": ["oauth.authentication.BearerAuthentication", "core.api.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "permissions.drf.TokenScope",
        # No-ops unless a view declares them (mfa_enrolment_enforced, reauth_methods).
        "accounts.reauth.SecondFactorEnrolled",
        "accounts.reauth.RecentAuthentication",
    ],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "core.api.ContentNegotiation",
    "DEFAULT_PAGINATION_CLASS": "core.api.Pagination",
    "EXCEPTION_HANDLER": "core.api.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "core.schema.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Auth done right API",
    "DESCRIPTION": "Orders, refund requests and users, behind one authorization policy.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Logging ----------------------------------------------------------------

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        # logging.Formatter's text, the date rendered once per second (core/logformat.py).
        "plain": {"()": "core.logformat.Formatter", "format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        # Django's own format for the development server's request lines (make run).
        "django.server": {
            "()": "django.utils.log.ServerFormatter",
            "format": "[{server_time}] {message}",
            "style": "{",
        },
    },
    # Paths and request lines become route patterns: no query string or path secret is written.
    "filters": {
        "outage": {"()": "core.unavailable.OutageLogFilter"},
        "redact": {"()": "core.redaction.RequestLineFilter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["outage", "redact"]},
        "django.server": {"class": "logging.StreamHandler", "formatter": "django.server", "filters": ["redact"]},
    },
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "django.server": {"handlers": ["django.server"], "level": "INFO", "propagate": False},
        "audit": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "request": {"handlers": ["console"], "level": env_str("REQUEST_LOG_LEVEL", "INFO"), "propagate": False},
        # Django's own line per 4xx answer ("Not Found: ...", "Too Many Requests: ...") says
        # again what the request log line says (route, status, outcome), at about 40-60 µs a
        # line: refusals (404s, throttled sign-ins) would cost twice the lines of an allowed
        # request. Its 5xx lines, with their tracebacks, stay.
        "django.request": {"handlers": ["console"], "level": "ERROR", "propagate": False},
        "django.security": {"handlers": ["console"], "level": "WARNING", "propagate": False},
    },
}

# --- Authorization ----------------------------------------------------------

# Denials are audited with their reason, at most this often per actor.
DENIAL_AUDIT_RATE = env_str("DENIAL_AUDIT_RATE", "20/m")

# --- OAuth 2 / OpenID Connect provider --------------------------------------


def oidc_private_key() -> str:
    """The ID-token signing key: from the environment, a file, or (local) generated once."""
    key = env_str("OIDC_RSA_PRIVATE_KEY")
    if key:
        return key.replace("\\n", "\n")
    key_file = env_str("OIDC_RSA_PRIVATE_KEY_FILE")
    if key_file:
        return Path(key_file).read_text()
    if IS_PRODUCTION:
        raise ImproperlyConfigured(
            "OIDC_RSA_PRIVATE_KEY or OIDC_RSA_PRIVATE_KEY_FILE must be set in the production profile."
        )
    path = VAR_DIR / "oidc_rsa_private_key.pem"
    if not path.exists():
        from config.keys import rsa_private_key_pem, write_private

        write_private(path, rsa_private_key_pem())
    return path.read_text()


# DOT's own models, named explicitly (not swapped): our tables that point at them
# (oauth.ClientPolicy, ...) get a stable swappable dependency in their migrations.
OAUTH2_PROVIDER_APPLICATION_MODEL = "oauth2_provider.Application"
OAUTH2_PROVIDER_ACCESS_TOKEN_MODEL = "oauth2_provider.AccessToken"
OAUTH2_PROVIDER_REFRESH_TOKEN_MODEL = "oauth2_provider.RefreshToken"
OAUTH2_PROVIDER_ID_TOKEN_MODEL = "oauth2_provider.IDToken"
OAUTH2_PROVIDER_GRANT_MODEL = "oauth2_provider.Grant"

ACCESS_TOKEN_TTL = env_int("ACCESS_TOKEN_TTL", 600)
REFRESH_TOKEN_IDLE_TTL = env_int("REFRESH_TOKEN_IDLE_TTL", 1209600)
REFRESH_TOKEN_ABSOLUTE_TTL = env_int("REFRESH_TOKEN_ABSOLUTE_TTL", 2592000)
# Per IP: every token request. Per client: requests of an authenticated client (a public
# client, which anyone can name, per IP and client).
TOKEN_RATE_PER_IP = env_str("TOKEN_RATE_PER_IP", "120/m")
TOKEN_RATE_PER_CLIENT = env_str("TOKEN_RATE_PER_CLIENT", "120/m")

# Personal access tokens (oauth/personal_tokens.py): the longest lifetime a person may pick,
# and the key of their keyed hash (empty: derived from SECRET_KEY for this purpose alone).
PAT_MAX_DAYS = env_int("PAT_MAX_DAYS", 365)
PAT_HASH_KEY = env_str("PAT_HASH_KEY")

OAUTH2_PROVIDER = {
    "OIDC_ENABLED": True,
    "OIDC_RSA_PRIVATE_KEY": oidc_private_key(),
    "OIDC_RSA_PRIVATE_KEYS_INACTIVE": [Path(p).read_text() for p in env_list("OIDC_RSA_INACTIVE_KEY_FILES", [])],
    "OIDC_ISS_ENDPOINT": f"{PUBLIC_ORIGIN}/o",
    "OIDC_RESPONSE_TYPES_SUPPORTED": ["code"],
    "OIDC_RP_INITIATED_LOGOUT_ENABLED": True,
    "OIDC_RP_INITIATED_LOGOUT_STRICT_REDIRECT_URIS": True,
    "OIDC_RP_INITIATED_LOGOUT_DELETE_TOKENS": False,  # signing out ends the browser session only
    "OIDC_SERVER_CLASS": "oauth.server.Server",
    "OAUTH2_SERVER_CLASS": "oauth.server.Server",
    "OAUTH2_VALIDATOR_CLASS": "oauth.validators.Validator",
    "ACCESS_TOKEN_GENERATOR": "oauth.server.generate_token",  # refresh tokens too
    "SCOPES_BACKEND_CLASS": "oauth.scopes.CatalogueScopes",  # scopes are declared by the apps (policy.py)
    "PKCE_REQUIRED": True,
    "ALLOWED_REDIRECT_URI_SCHEMES": ["https"],  # http only on loopback, see oauth.views.AuthorizeView.redirect
    "ALLOW_URI_WILDCARDS": False,
    "AUTHORIZATION_CODE_EXPIRE_SECONDS": 60,
    "ACCESS_TOKEN_EXPIRE_SECONDS": ACCESS_TOKEN_TTL,
    "ID_TOKEN_EXPIRE_SECONDS": ACCESS_TOKEN_TTL,
    "REFRESH_TOKEN_EXPIRE_SECONDS": REFRESH_TOKEN_IDLE_TTL,
    "ROTATE_REFRESH_TOKEN": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "REFRESH_TOKEN_GRACE_PERIOD_SECONDS": 0,
    "REQUEST_APPROVAL_PROMPT": "force",  # remembered consent is ours (oauth.consent)
    "CLIENT_SECRET_HASHER": "client_secret_hmac_sha256",
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    "COMPLIANT_BCP_RFC9700_REFRESH_TOKEN": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_SCHEME": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_MATCHING": True,
    "COMPLIANT_BCP_RFC9700_PKCE_REQUIRED": True,
}
