"""Settings for videoproc: everything comes from the environment, with safe defaults."""

import os
import tempfile
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.core.management.utils import get_random_secret_key

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def stored_secret_key(path: Path) -> str:
    """The key kept in `path`, made on first use. Every process (gunicorn workers, Celery
    workers, commands) must agree on it, so a new key is written whole to a private file
    first and then linked into place: of processes starting at once, one wins and the
    others read its key, never a half-written file."""
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        handle, draft = tempfile.mkstemp(dir=path.parent, prefix=".secret-")  # mode 0600
        try:
            with os.fdopen(handle, "w") as draft_file:
                draft_file.write(get_random_secret_key())
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            os.unlink(draft)
    return path.read_text().strip()


DEBUG = env_bool("DEBUG")
# Files this installation makes for itself and keeps (the generated SECRET_KEY): outside
# the code and the media, never served.
DATA_DIR = Path(os.environ.get("DATA_DIR", BASE_DIR / "var")).resolve()
try:
    SECRET_KEY = os.environ.get("SECRET_KEY") or stored_secret_key(DATA_DIR / "secret_key")
except OSError as error:
    raise ImproperlyConfigured(
        f"SECRET_KEY is unset and cannot be kept in DATA_DIR ({error.strerror}): "
        "set SECRET_KEY, or DATA_DIR to a folder this user may write"
    ) from error
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")
# Behind a proxy that ends TLS and sets X-Forwarded-Proto, overwriting what the client
# sent (deploy/nginx.conf.in does): trust that header, redirect plain HTTP and keep the
# cookies to HTTPS. Never set it without such a proxy: any client could claim HTTPS.
BEHIND_TLS_PROXY = env_bool("BEHIND_TLS_PROXY")
# How many proxies in front overwrite or append to X-Forwarded-For (deploy/'s nginx is
# one). The anonymous throttle counts per client address: with none, the connection's
# address, since a client could send any X-Forwarded-For to dodge its count.
TRUSTED_PROXIES = int(os.environ.get("TRUSTED_PROXIES", 0))
if BEHIND_TLS_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = True
# HSTS binds browsers to HTTPS for this long (and subdomains, and the preload lists): off
# unless asked, as it cannot be taken back before it expires.
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", 0))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS")
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "knox",
    "health_check",
    "videos",
    "jobs",
    # Sign-in lockouts (videoproc/lockout.py); videoproc's admin.py unlocks, after axes'.
    "axes",
    "videoproc",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as axes asks: it turns a locked-out sign-in into videoproc.lockout's answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "videoproc.urls"
WSGI_APPLICATION = "videoproc.wsgi.application"
# Every API path answers with and without a trailing slash; a redirect would drop a POST body.
APPEND_SLASH = False

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

DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}", conn_max_age=60
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Uploads and executes write from several server threads at once: wait for the lock
    # instead of failing, and take it up front so two writers never deadlock.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # Tests run executes from several threads: a file (not shared-cache memory) honours
    # the lock timeout. One per process, so parallel test runs never meet.
    DATABASES["default"]["TEST"] = {
        "NAME": str(Path(tempfile.gettempdir()) / f"videoproc-test-{os.getpid()}.sqlite3")
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]

# Uploaded (origin/) and produced (modi/) videos. The API shows them as ./storage/<name>.
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / "media")).resolve()
MEDIA_URL = "/storage/"
# With a proxy in front that serves MEDIA_ROOT from an internal location under this prefix
# (deploy/site.conf.in: /_protected/), /storage/ answers with X-Accel-Redirect and the
# proxy sends the file; unset, Django sends it.
STORAGE_ACCEL_REDIRECT = os.environ.get("STORAGE_ACCEL_REDIRECT", "")
# Scratch space for uploads in flight and jobs at work: beside the media folder, never in
# it (/storage/ must not serve half-done files), on the same filesystem by default so that
# storing a finished file is a rename, not a copy.
SCRATCH_DIR = Path(
    os.environ.get("SCRATCH_DIR", MEDIA_ROOT.parent / f"{MEDIA_ROOT.name}-scratch")
).resolve()
if SCRATCH_DIR == MEDIA_ROOT or SCRATCH_DIR.is_relative_to(MEDIA_ROOT):
    raise ImproperlyConfigured("SCRATCH_DIR must be outside MEDIA_ROOT, or /storage/ serves it")

# Static files keep their plain names (no manifest), so {% static %} works whether or not
# collectstatic has run; whitenoise serves the collected copies, else the app folders.
WHITENOISE_USE_FINDERS = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}


def s3_storage(environ) -> dict:
    """The default storage in an S3-compatible bucket, through django-storages: download
    links are presigned and expire; a name already taken is never overwritten."""
    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": environ["AWS_STORAGE_BUCKET_NAME"],
            "endpoint_url": environ.get("AWS_S3_ENDPOINT_URL") or None,
            "region_name": environ.get("AWS_S3_REGION_NAME") or None,
            "access_key": environ.get("AWS_ACCESS_KEY_ID") or None,
            "secret_key": environ.get("AWS_SECRET_ACCESS_KEY") or None,
            "addressing_style": environ.get("AWS_S3_ADDRESSING_STYLE") or None,
            # Signature V4: what every current S3 region and S3-compatible store accepts.
            "signature_version": environ.get("AWS_S3_SIGNATURE_VERSION") or "s3v4",
            "querystring_auth": True,
            "querystring_expire": int(environ.get("AWS_QUERYSTRING_EXPIRE", 3600)),
            "file_overwrite": False,
            # A file read back (a job's input) spills to FILE_UPLOAD_TEMP_DIR past this
            # size instead of being held whole in memory (the default, 0, never spills).
            "max_memory_size": 16 * 1024 * 1024,
        },
    }


if os.environ.get("AWS_STORAGE_BUCKET_NAME"):
    STORAGES["default"] = s3_storage(os.environ)

# Every uploaded part goes straight to a temporary file: nothing is held whole in memory.
FILE_UPLOAD_HANDLERS = ["videos.uploads.ScratchUploadHandler"]
FILE_UPLOAD_TEMP_DIR = str(SCRATCH_DIR)
FILE_UPLOAD_PERMISSIONS = 0o644
# The largest upload request accepted, in bytes (default 20 GiB).
MAX_UPLOAD_SIZE = int(os.environ.get("MAX_UPLOAD_SIZE", 20 * 1024**3))
# Resumable (tus) uploads at /video/uploads/ (videos/resumable.py): an unfinished one is
# deleted this many hours after its last bytes came (`manage.py expire_uploads`, and
# on access); a request appending to one holds it for TUS_LEASE_SECONDS at a time,
# renewed while bytes flow, so a server that died mid-request frees it after that.
TUS_EXPIRE_HOURS = float(os.environ.get("TUS_EXPIRE_HOURS", 24))
TUS_LEASE_SECONDS = float(os.environ.get("TUS_LEASE_SECONDS", 30))
# With S3, a resumable upload's bytes go to an S3 multipart upload in parts of this
# many bytes (at least 5 MiB; larger when the file would need more than 10,000 parts).
TUS_S3_PART_SIZE = int(os.environ.get("TUS_S3_PART_SIZE", 8 * 1024 * 1024))

FFMPEG_BINARY = os.environ.get("FFMPEG_BINARY", "ffmpeg")
FFPROBE_BINARY = os.environ.get("FFPROBE_BINARY", "ffprobe")
# Wall-clock limits: a probe of a hostile file and a job that never ends are both killed.
FFPROBE_TIMEOUT = int(os.environ.get("FFPROBE_TIMEOUT", 60))
JOB_TIME_LIMIT = int(os.environ.get("JOB_TIME_LIMIT", 6 * 3600))
# The address space one FFmpeg (or ffprobe) may use, in MB (0: no limit): an overrun fails
# that job with a clear error instead of swapping the machine. FFmpeg runs a thread or two
# per core, each with its own frames, so the default grows with the cores: a 4K encode at
# 60 fps measured 2.2 GB on 2 cores, 3.7 on 8, 5.7 on 16, 8.6 on 32 (docs/operations.md).
FFMPEG_MEMORY_LIMIT_MB = int(
    os.environ.get("FFMPEG_MEMORY_LIMIT_MB", max(4096, 2048 + 320 * (os.cpu_count() or 2)))
)
# How many jobs' FFmpeg run at once on this machine, across all its processes (each
# FFmpeg already uses every core). An execute finding none free answers 503.
FFMPEG_MAX_RUNS = max(1, int(os.environ.get("FFMPEG_MAX_RUNS", (os.cpu_count() or 2) // 2)))
# Their lock files: one folder per machine, shared by all its server and worker processes.
FFMPEG_SLOTS_DIR = Path(os.environ.get("FFMPEG_SLOTS_DIR", SCRATCH_DIR / ".ffmpeg-slots"))
# What this machine's FFmpeg answered about itself (encoders, trial muxes), kept for the
# processes that start after the one that asked: one folder per machine.
FFMPEG_ANSWERS_DIR = Path(os.environ.get("FFMPEG_ANSWERS_DIR", SCRATCH_DIR / ".ffmpeg-answers"))
# Threads one FFmpeg may use to decode, filter and encode (empty: FFmpeg's own choice,
# about one per core): size a run to a worker's share of its machine.
FFMPEG_THREADS = int(os.environ["FFMPEG_THREADS"]) if os.environ.get("FFMPEG_THREADS") else None
# An encode of a source longer than twice this many seconds is split at its keyframes
# into chunks of about this length, encoded by any workers and joined (0: never split).
ENCODE_CHUNK_SECONDS = float(os.environ.get("ENCODE_CHUNK_SECONDS", 60))
# The work budget: the largest picture (width x height) and the most pixels a video may
# make FFmpeg process (width x height x frame rate x seconds), for uploads (415) and for
# encode targets (400). Defaults: DCI 4K, and 4K at 30 fps for about 3 hours.
MAX_FRAME_PIXELS = int(os.environ.get("MAX_FRAME_PIXELS", 4096 * 2160))
MAX_WORK_PIXELS = int(os.environ.get("MAX_WORK_PIXELS", 3 * 10**12))
# What a job may cost, predicted at queue time from what it will really decode and
# encode (videos/engine/costs.py), in CPU-seconds: per job, and per user over the last
# 24 hours (jobs queued, less those cancelled before they started). Defaults for two
# cores: a job of up to about 2 hours here, a user a quarter of the machine's day. And
# the most pixels a second an output may be encoded at: 4K at 60 fps.
JOB_MAX_CPU_SECONDS = float(os.environ.get("JOB_MAX_CPU_SECONDS", 4 * 3600))
USER_DAILY_CPU_SECONDS = float(os.environ.get("USER_DAILY_CPU_SECONDS", 12 * 3600))
MAX_PIXEL_RATE = int(os.environ.get("MAX_PIXEL_RATE", 4096 * 2160 * 60))

# Distributed execution: with a broker, execute hands jobs to Celery workers; without
# one, jobs run inside the execute request.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "")
# A running job writes a heartbeat at least this often; one silent for
# JOB_HEARTBEAT_TIMEOUT is presumed dead and recovered by the web processes, which look
# every JOB_HEARTBEAT_INTERVAL seconds (jobs/recovery.py).
JOB_HEARTBEAT_INTERVAL = float(os.environ.get("JOB_HEARTBEAT_INTERVAL", 15))
JOB_HEARTBEAT_TIMEOUT = float(os.environ.get("JOB_HEARTBEAT_TIMEOUT", 120))
# An execute with "wait": true answers 202 with the job ids, as "wait": false does, when
# its jobs have not all finished after this many seconds.
EXECUTE_WAIT_LIMIT = float(os.environ.get("EXECUTE_WAIT_LIMIT", 600))
# Without a broker, executes wait in line for an FFmpeg slot, taking turns across users
# (jobs/turns.py); each holds a server thread while it waits, so once this many wait
# and no slot is free, the next answers 503 with Retry-After (0: never wait in line).
EXECUTE_LINE_LIMIT = int(os.environ.get("EXECUTE_LINE_LIMIT", 16))
# A job queued this many seconds with no worker starting it gets an error saying so.
JOB_QUEUED_LIMIT = float(os.environ.get("JOB_QUEUED_LIMIT", 600))
# How many times a job may be started before a worker that keeps dying gives up on it.
JOB_MAX_ATTEMPTS = int(os.environ.get("JOB_MAX_ATTEMPTS", 3))
# The Celery queue each kind of job goes to, so encodes can go to bigger machines
# (`celery -A videoproc worker -Q encode` there), e.g. JOB_QUEUE_ENCODE=encode; kinds
# not named go to JOB_QUEUE_DEFAULT.
JOB_QUEUE_DEFAULT = "celery"
JOB_QUEUES = {
    name.removeprefix("JOB_QUEUE_").lower(): queue
    for name, queue in os.environ.items()
    if name.startswith("JOB_QUEUE_")
}
# Timeline data (storyboard, peaks, keyframes; videos/timelines.py): made for every
# video when it is stored (TIMELINE_AUTO), by a Celery worker with a broker (queue
# JOB_QUEUE_TIMELINE, else the default), else by each web process's one timeline thread.
# An attempt silent for TIMELINE_STALE_SECONDS is presumed dead and begun again on the
# next request; a failed one is tried again on request after TIMELINE_RETRY_SECONDS.
TIMELINE_AUTO = os.environ.get("TIMELINE_AUTO", "true").strip().lower() in {"1", "true", "yes"}
TIMELINE_STALE_SECONDS = float(os.environ.get("TIMELINE_STALE_SECONDS", 120))
TIMELINE_RETRY_SECONDS = float(os.environ.get("TIMELINE_RETRY_SECONDS", 3600))
# Webhooks (videoproc/webhooks.py, docs/api.md#webhooks): the seconds between the tries of
# a delivery (then it is failed; the default spans about a day), how long one try may
# take, how much of an answer is read; an endpoint failing for WEBHOOK_DISABLE_AFTER
# seconds is disabled; a rotated secret still signs for WEBHOOK_SECRET_OVERLAP seconds.
# Endpoints on loopback, private, link-local or metadata addresses only with
# WEBHOOK_ALLOW_PRIVATE. Without a broker each web process delivers in a thread, which
# also looks for due deliveries every WEBHOOK_SWEEP_INTERVAL seconds (with a broker it
# sweeps up only those a lost message left waiting).
WEBHOOK_RETRY_SCHEDULE = [
    float(seconds)
    for seconds in env_list(
        "WEBHOOK_RETRY_SCHEDULE", "5,30,120,600,1800,3600,7200,14400,28800,28800"
    )
]
WEBHOOK_TIMEOUT = float(os.environ.get("WEBHOOK_TIMEOUT", 10))
WEBHOOK_RESPONSE_LIMIT = int(os.environ.get("WEBHOOK_RESPONSE_LIMIT", 4096))
WEBHOOK_DISABLE_AFTER = float(os.environ.get("WEBHOOK_DISABLE_AFTER", 5 * 24 * 3600))
WEBHOOK_SECRET_OVERLAP = float(os.environ.get("WEBHOOK_SECRET_OVERLAP", 24 * 3600))
WEBHOOK_ALLOW_PRIVATE = env_bool("WEBHOOK_ALLOW_PRIVATE")
WEBHOOK_SWEEP_INTERVAL = float(os.environ.get("WEBHOOK_SWEEP_INTERVAL", 5))
# Events whose deliveries are over are deleted, with their log, after this many days.
WEBHOOK_KEEP_DAYS = float(os.environ.get("WEBHOOK_KEEP_DAYS", 30))
# Jobs are idempotent (the Job row decides who runs one), so a task is acknowledged only
# when it ends and given back to the queue when its worker dies; one at a time each.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True  # the Job row holds the outcome
# A job's FFmpeg stops at JOB_TIME_LIMIT; the margins cover fetching and storing files.
CELERY_TASK_SOFT_TIME_LIMIT = JOB_TIME_LIMIT + 600
CELERY_TASK_TIME_LIMIT = JOB_TIME_LIMIT + 900
# Redis hands an unacknowledged task to another worker after this long: beyond the hard
# limit, so a long encode is never started twice while it still runs.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_TASK_TIME_LIMIT + 3600}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# Users and access (docs/deployment.md "Users and access", videoproc/access.py). "off": the open
# contract, for a server on loopback (videoproc/gunicorn.conf.py refuses to bind wider
# unless API_AUTH=off is said explicitly). "required": a session or a token on every
# request, and every video and job scoped to its owner.
API_AUTH = os.environ.get("API_AUTH", "off").strip().lower()
if API_AUTH not in {"off", "required"}:
    raise ImproperlyConfigured(f"API_AUTH must be 'off' or 'required', not {API_AUTH!r}")
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "page"
LOGOUT_REDIRECT_URL = "login"
# Password sign-ins, the page's and the admin's (videoproc/lockout.py): after
# LOGIN_FAILURE_LIMIT failures for one user name (each within LOGIN_LOCKOUT_MINUTES of
# the last, since its last sign-in), that name is locked for LOGIN_LOCKOUT_MINUTES, its
# right password refused too; 0 minutes: until an admin unlocks it. django-axes keeps the
# count in the database, shared by every process and machine.
LOGIN_FAILURE_LIMIT = int(os.environ.get("LOGIN_FAILURE_LIMIT", 10))
LOGIN_LOCKOUT_MINUTES = float(os.environ.get("LOGIN_LOCKOUT_MINUTES", 15))
if LOGIN_FAILURE_LIMIT < 1 or LOGIN_LOCKOUT_MINUTES < 0:
    raise ImproperlyConfigured("LOGIN_FAILURE_LIMIT must be 1 or more, LOGIN_LOCKOUT_MINUTES 0+")
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked name before any check
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(minutes=LOGIN_LOCKOUT_MINUTES) if LOGIN_LOCKOUT_MINUTES else None
AXES_LOCKOUT_PARAMETERS = ["username"]  # the account, from any address
# axes warns that without "ip_address" a rotated User-Agent or cookie escapes the count:
# not so by user name alone. Locking addresses too would lock every user out at once
# behind a proxy that hides their addresses, and a whole office behind one NAT.
SILENCED_SYSTEM_CHECKS = ["axes.W006"]
AXES_RESET_ON_SUCCESS = True
# Attempts while locked neither count nor extend the lock: it ends when it said it would.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_CALLABLE = "videoproc.lockout.lockout_response"
AXES_VERBOSE = False  # no banner in every command's output; failures are still logged
# How long a signed link to a stored file (required mode, local storage) works, in seconds.
STORAGE_LINK_TTL = int(os.environ.get("STORAGE_LINK_TTL", 6 * 3600))
# Per user, in required mode; 0 means no limit. The quota counts the bytes of a user's
# uploads and results; the cap counts jobs not yet finished (pending, queued, running).
USER_STORAGE_QUOTA = int(os.environ.get("USER_STORAGE_QUOTA", 50 * 1024**3))
USER_MAX_ACTIVE_JOBS = int(os.environ.get("USER_MAX_ACTIVE_JOBS", 50))
# DRF rates ("600/minute"); empty: not throttled. "user" counts per user, "anon" per
# client address for calls without a user (all of them when accounts are off).
API_THROTTLE_RATES = {
    "user": os.environ.get("API_THROTTLE_USER", "600/minute") or None,
    "anon": os.environ.get("API_THROTTLE_ANON", "") or None,
}
# Throttle counts live in the cache: give several server processes or machines one
# shared cache (redis://...), else each process counts on its own (videoproc/access.py).
# CACHE_KEY_PREFIX keeps installations that share one Redis database apart.
if os.environ.get("CACHE_URL"):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": os.environ["CACHE_URL"],
            "KEY_PREFIX": os.environ.get("CACHE_KEY_PREFIX", ""),
        }
    }
REST_KNOX = {
    # A token lives until revoked unless its creator gives it an expiry: deploy scripts
    # must not lose theirs overnight (knox's own default is 10 hours).
    "TOKEN_TTL": None,
}

REST_FRAMEWORK = {
    "EXCEPTION_HANDLER": "videoproc.errors.exception_handler",
    "DEFAULT_PARSER_CLASSES": [
        "videoproc.parsers.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Token first: its WWW-Authenticate header makes an anonymous call a 401, not a 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "videoproc.access.TokenAuthentication",
        "videoproc.access.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["videoproc.access.IsAuthenticatedWhenRequired"],
    "DEFAULT_THROTTLE_CLASSES": ["videoproc.access.AnonThrottle", "videoproc.access.UserThrottle"],
    "NUM_PROXIES": TRUSTED_PROXIES,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "videoproc API",
    "DESCRIPTION": "Upload videos, queue trim / concat / encode jobs under a request code, "
    "run them and download the results. With API_AUTH=required every call needs a session "
    "or `Authorization: Token <key>` (or Bearer), and sees only its user's videos and jobs.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and docs need a user like every endpoint, in required mode.
    "SERVE_PERMISSIONS": ["videoproc.access.IsAuthenticatedWhenRequired"],
    # The docs page's own assets, served by whitenoise: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Deliveries and chunks have a status of their own beside a job's, which keeps the
    # name it had before they came.
    "ENUM_NAME_OVERRIDES": {
        "StatusEnum": "jobs.models.Job.Status",
        "DeliveryStatusEnum": "videoproc.models.WebhookDelivery.Status",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "videoproc.schema.both_slash_forms",
        "videoproc.schema.access_errors",
    ],
}

# One format for web processes and workers alike (videoproc/celery.py hands the workers'
# logging to this): a line logged while a job runs names it (jobs/logcontext.py).
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"job": {"()": "jobs.logcontext.JobContextFilter"}},
    "formatters": {
        "plain": {
            "format": "%(asctime)s %(levelname)s pid %(process)d %(name)s: %(job)s%(message)s"
        }
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "filters": ["job"], "formatter": "plain"}
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}
