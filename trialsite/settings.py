"""Trialsite settings, read from the environment (house style point 13).

Development defaults are safe; production (DEBUG off) refuses to start without
SECRET_KEY. DATABASE_URL switches from the embedded SQLite file to PostgreSQL;
CELERY_BROKER_URL switches Celery from inline execution to a real broker.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", True)
DEV_SECRET_KEY = "dev-only-insecure-key-never-use-in-production-0123456789abcdef"  # noqa: S105
SECRET_KEY = os.environ.get("SECRET_KEY", "")


def check_secret_key(key: str) -> None:
    """Production (DEBUG off) refuses a missing, short, simple or default key (issue #17 point 6): the rules of
    Django's own `check --deploy` (security.W009), made an error at start rather than a warning nobody reads."""
    if not key:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    if key == DEV_SECRET_KEY or key.startswith("django-insecure-"):
        raise ImproperlyConfigured("SECRET_KEY is the development default or a generated insecure key: set a random key of 50 characters or more.")
    if len(key) < 50 or len(set(key)) < 5:
        raise ImproperlyConfigured(
            f"SECRET_KEY is too weak ({len(key)} characters, {len(set(key))} distinct): it must have at least 50 characters and 5 distinct ones. "
            'Generate one with: python -c "import secrets; print(secrets.token_urlsafe(50))"'
        )


if not DEBUG:
    check_secret_key(SECRET_KEY)
elif not SECRET_KEY:
    SECRET_KEY = DEV_SECRET_KEY

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost" if not DEBUG else "*")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",
    "django_htmx",
    "template_partials",
    "simple_history",
    "axes",
    "csp",
    "trialsite",
    "accounts",
    "cohorts",
    "dosing",
    "toxicity",
    "escalation",
    "response",
    "datamanagement",
    "pipeline",
    "portal",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Every page and API answer: Cache-Control no-store (whitenoise above has already served the static files).
    "trialsite.middleware.NoStoreMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # A signed-in user's session is renewed (saved, so its idle expiry restarts) at most once a minute.
    "trialsite.middleware.RenewSessionMiddleware",
    # A NUL character anywhere in the request is a 400 before any view (PostgreSQL refuses NUL in text).
    "trialsite.nulbytes.RefuseNulMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "accounts.middleware.ForcePasswordChangeMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # The product's own 404 page also with DEBUG on (Django would show its debug page).
    "trialsite.middleware.ProductNotFoundMiddleware",
    # Last, as django-axes asks: turns a locked-out login into the lockout page (trialsite.throttle.lockout_response).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "trialsite.wsgi.application"

# django-simple-history's own single-column history_date index is never chosen: the audit trail's walk uses the
# (history_date, history_id) index of datamanagement/0005 (EXPLAIN in docs/data-management.md); every other read of
# history by date is per object or per patient (the id and patient indexes). One index less to write on every change.
SIMPLE_HISTORY_DATE_INDEX = False

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
                "accounts.context_processors.role",
                "portal.context_processors.navigation",
            ],
        },
    },
]

# Embedded default: one SQLite file in the project. IMMEDIATE transactions make
# every atomic block take SQLite's write lock at its start, so the enrolment
# service's "lock, re-check, write" holds on SQLite as it does on PostgreSQL.
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=int(os.environ.get("CONN_MAX_AGE", "0")),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update({"transaction_mode": "IMMEDIATE", "timeout": 30, "init_command": "PRAGMA journal_mode=WAL;"})
    # A file (not memory) test database, so that threads in tests share it.
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / "test_db.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

AUTHENTICATION_BACKENDS = [
    # django-axes first: a locked-out username or address is refused before the password is even checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "accounts.validators.UsernameNotInPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-gb"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True
# Dates shown and parsed as ISO YYYY-MM-DD whatever the locale (issue #16; trialsite/formats/).
FORMAT_MODULE_PATH = ["trialsite.formats"]

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage" if not DEBUG else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# Security: strict in production, relaxed for the embedded development server.
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
# Sessions end after this many idle minutes and when the browser closes: the stored session expires SESSION_COOKIE_AGE
# after it was last saved, and trialsite.middleware.RenewSessionMiddleware saves a signed-in user's session at most
# once every TRIALSITE_SESSION_RENEW_SECONDS (not on every request, as SESSION_SAVE_EVERY_REQUEST did: 3 queries each).
TRIALSITE_SESSION_IDLE_MINUTES = int(os.environ.get("TRIALSITE_SESSION_IDLE_MINUTES") or 30)
SESSION_COOKIE_AGE = TRIALSITE_SESSION_IDLE_MINUTES * 60
TRIALSITE_SESSION_RENEW_SECONDS = 60
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "0" if DEBUG else "31536000"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if env_bool("BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Content-Security-Policy (django-csp): only this site's own files; no inline script or style anywhere (the
# templates load static/js and static/css; the server-drawn SVGs use presentation attributes, not style="").
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

# Failed logins and failed signature passwords (trialsite.throttle), django-axes: 5 failures lock the username and,
# separately, the address, for 15 minutes. The administrator sees and deletes the attempts in Django admin
# (Axes > Access attempts) or runs `manage.py axes_reset_username USERNAME` / `axes_reset_ip ADDRESS`.
AXES_ENABLED = env_bool("AXES_ENABLED", True)
AXES_VERBOSE = False  # no banner at every start; failures and lockouts are still logged
AXES_FAILURE_LIMIT = int(os.environ.get("TRIALSITE_LOCKOUT_FAILURES") or 5)
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("TRIALSITE_LOCKOUT_MINUTES") or 15))
AXES_LOCKOUT_PARAMETERS = "trialsite.throttle.lockout_parameters"  # ["username", "ip_address"], separately
AXES_RESET_ON_SUCCESS = True
# A try while locked does not restart the 15 minutes: the lock ends when the login page said it would.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_CALLABLE = "trialsite.throttle.lockout_response"
AXES_HTTP_RESPONSE_CODE = 429

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first, so that an anonymous request gets 401 with WWW-Authenticate.
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["accounts.permissions.HasRole"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "trialsite.api.KeysetPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "trialsite.api.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # Per user (token or session) and, before login, per address; a 429 in the API's error shape (trialsite.api).
    "DEFAULT_THROTTLE_CLASSES": ["rest_framework.throttling.UserRateThrottle", "rest_framework.throttling.AnonRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "user": os.environ.get("TRIALSITE_API_RATE_USER") or "600/minute",
        "anon": os.environ.get("TRIALSITE_API_RATE_ANON") or "60/minute",
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Trialsite API",
    "DESCRIPTION": "Clinical trial management for phase I-II dose-escalation oncology trials.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "ENUM_NAME_OVERRIDES": {
        "PatientStatusEnum": "cohorts.status.PatientStatus",
        "AdministrationStatusEnum": "dosing.models.Administration.Status",
        "DltRuleEnum": "toxicity.models.RULE_CHOICES",
    },
}

# The cache counts the API throttle's requests: one per process by default (embedded mode); CACHE_URL (redis://...)
# shares the counts between the web processes in production.
if os.environ.get("CACHE_URL"):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": os.environ["CACHE_URL"]}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Celery: without a broker, tasks run inline in the web process (embedded mode).
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "")
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND", CELERY_BROKER_URL or None)
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
if CELERY_TASK_ALWAYS_EAGER:
    CELERY_BROKER_URL = "memory://localhost/"  # never contacted: tasks run inline
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_TASK_DEFAULT_QUEUE", "celery")  # tests and benchmarks use a queue of their own
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = False
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Redis hands an unacknowledged message (the acks_late tasks, such as the export zip) to another worker after
# this many seconds (kombu's default, set here on purpose). It must exceed the longest task, or a job still
# running would be started a second time; an hour is well above a zip of a large trial (minutes). A zip whose
# worker died is failed within minutes by datamanagement.reap_exports (heartbeat) with a Retry on the page, and
# when its message comes back the task finds the job failed and stops.
CELERY_BROKER_TRANSPORT_OPTIONS: dict = {"visibility_timeout": 3600}
CELERY_TIMEZONE = TIME_ZONE
# Periodic schedules live in one place (house style point 10); issues add theirs.
CELERY_BEAT_SCHEDULE: dict = {
    # The outbox: a kick lost while the broker was down costs at most this long.
    "pipeline-drain": {"task": "pipeline.drain", "schedule": float(os.environ.get("TRIALSITE_DRAIN_SECONDS") or 60)},
    # What time alone changes: DLT windows and cycle 2 deadlines that complete, the endpoints' censoring.
    "pipeline-nightly": {"task": "pipeline.nightly", "schedule": crontab(hour=2, minute=15)},
    "edit-checks-nightly": {"task": "datamanagement.edit_checks_nightly", "schedule": crontab(hour=3, minute=15)},
    # Export zips whose worker stopped (no heartbeat for a few minutes): failed, with a Retry on the page.
    "reap-exports": {"task": "datamanagement.reap_exports", "schedule": crontab(minute="*")},
    # Whole-trial recomputes whose worker stopped: failed, with the button to start them again.
    "reap-recomputes": {"task": "response.reap_recomputes", "schedule": crontab(minute="*")},
    # API idempotency keys and form tokens past their 24 hours.
    "purge-idempotency-keys": {"task": "trialsite.purge_idempotency_keys", "schedule": crontab(hour=4, minute=15)},
}
# A save never waits for the broker: one quick try to publish, no retries (the outbox row is already
# committed and the beat drains it); a broker that does not answer within half a second is taken as down.
CELERY_TASK_PUBLISH_RETRY = False
CELERY_BROKER_CONNECTION_TIMEOUT = 0.5
CELERY_BROKER_TRANSPORT_OPTIONS |= {"socket_connect_timeout": 0.5, "socket_timeout": 2, "max_retries": 0}
CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = 0.5
# The task a commit that wrote to the outbox sends (trialsite.outbox.kick_pipeline).
TRIALSITE_PIPELINE_TASK = "pipeline.drain"
# A history row keeps the whole reason given for a change (a varchar(100) would refuse a longer one on PostgreSQL).
SIMPLE_HISTORY_HISTORY_CHANGE_REASON_USE_TEXT_FIELD = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    # Inline tasks would log every success in the web process; failures still show.
    "loggers": {"celery.app.trace": {"level": "WARNING" if CELERY_TASK_ALWAYS_EAGER else "INFO"}},
}

# Export zips: a folder shared by the web and worker processes (docker-compose mounts a volume).
TRIALSITE_EXPORT_DIR = Path(os.environ.get("EXPORT_DIR") or BASE_DIR / "media" / "exports")
# Seconds of sleep per row written into a zip: 0, but in the test that kills a worker in the middle of a zip.
TRIALSITE_EXPORT_ROW_DELAY = float(os.environ.get("TRIALSITE_EXPORT_ROW_DELAY") or 0)

# Trialsite: the protocol loaded by `make run`.
TRIALSITE_DEFAULT_PROTOCOL = BASE_DIR / "protocols" / "bpd.toml"
# A whole-trial response recompute is a chord of chunks of this many patients, spread over the worker processes.
TRIALSITE_RECOMPUTE_CHUNK = int(os.environ.get("TRIALSITE_RECOMPUTE_CHUNK") or 500)
# Seconds a recompute chunk waits after its work: 0, except for the test that kills a worker mid-recompute.
TRIALSITE_RECOMPUTE_CHUNK_PAUSE = float(os.environ.get("TRIALSITE_RECOMPUTE_CHUNK_PAUSE") or 0)
