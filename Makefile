# `make run` and `make test` set everything up on a fresh machine, then serve or test.
VENV ?= .venv
PYTHON ?= python3
# Where `make run` listens (videoproc/gunicorn.conf.py): loopback unless HOST says
# otherwise, and beyond loopback only with API_AUTH set (docs/deployment.md, Users and access).
HOST ?= 127.0.0.1
PORT ?= 8000
WORKERS ?= 2
THREADS ?= 32
PROXY_PORT ?= 8080
NGINX ?= /usr/sbin/nginx
NGINX_DIR ?= var/nginx
BIN := $(VENV)/bin
FFMPEG_BINARY ?= ffmpeg
FFPROBE_BINARY ?= ffprobe

.PHONY: run serve release run-proxy test setup ffmpeg chromium nginx migrate bench vendor

setup: $(VENV)/.installed ffmpeg

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

# FFmpeg comes from the OS packages; install it only when it is missing.
ffmpeg:
	@if command -v "$(FFMPEG_BINARY)" >/dev/null 2>&1 && command -v "$(FFPROBE_BINARY)" >/dev/null 2>&1; then \
		exit 0; \
	fi; \
	if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		echo "Installing FFmpeg with apt-get..."; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q ffmpeg; \
	elif command -v apt-get >/dev/null 2>&1 && command -v sudo >/dev/null 2>&1; then \
		echo "Installing FFmpeg with sudo apt-get..."; \
		sudo apt-get update -q && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -q ffmpeg; \
	else \
		echo "FFmpeg is missing and cannot be installed here: install ffmpeg and ffprobe" \
		     "(e.g. 'apt-get install ffmpeg' or 'brew install ffmpeg'), or point" \
		     "FFMPEG_BINARY and FFPROBE_BINARY at them." >&2; \
		exit 1; \
	fi

migrate: setup
	$(BIN)/python manage.py migrate --noinput

# The release step of a deployment: run it once per release (from one machine) before
# the web processes start with `make serve`; `make run` does both on one machine.
release: migrate
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0

# gthread workers keep answering their heartbeat while a long execute runs, and
# --timeout 0 means no request is ever killed for taking long. A client sending its
# request slowly holds a thread until it is done; a worker takes no more connections
# than it has threads, so when one is full of slow clients the other takes the next
# requests instead of queueing them (docs/deployment.md: Running it in production). The gunicorn
# workers' Prometheus counts meet in METRICS_DIR, emptied at each start.
METRICS_DIR ?= $(CURDIR)/var/metrics
serve: setup
	rm -rf "$(METRICS_DIR)" && mkdir -p "$(METRICS_DIR)"
	PROMETHEUS_MULTIPROC_DIR="$(METRICS_DIR)" HOST=$(HOST) PORT=$(PORT) \
		$(BIN)/gunicorn videoproc.wsgi:application \
		--config videoproc/gunicorn.conf.py --workers $(WORKERS) --worker-class gthread \
		--threads $(THREADS) --worker-connections $(THREADS) --timeout 0 --access-logfile -

run: release
	@$(MAKE) --no-print-directory serve

# Debian's nginx in front of gunicorn (deploy/), on 127.0.0.1:$(PROXY_PORT): slow clients
# and big uploads and downloads cost an nginx connection, not a gunicorn thread. nginx
# stops when gunicorn does (Ctrl-C).
run-proxy: export STORAGE_ACCEL_REDIRECT ?= /_protected/
run-proxy: export TRUSTED_PROXIES ?= 1
run-proxy: release nginx
	$(BIN)/python deploy/render_nginx.py --listen 127.0.0.1:$(PROXY_PORT) \
		--upstream 127.0.0.1:$(PORT) --out $(NGINX_DIR)
	$(NGINX) -p $(abspath $(NGINX_DIR)) -c nginx.conf -e error.log
	trap 'exit' INT TERM; \
	trap '$(NGINX) -p $(abspath $(NGINX_DIR)) -c nginx.conf -e error.log -s quit' EXIT; \
		$(MAKE) --no-print-directory serve

nginx:
	@if [ ! -x "$(NGINX)" ]; then \
		echo "Installing nginx with apt-get..."; \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -q && \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx; \
	fi

# Integration tests run apart, against PostgreSQL and Redis, with Celery workers they
# start and that share their test database: a database of their own for each run.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/videoproc
TEST_BROKER_URL ?= redis://127.0.0.1:6379/7

# The browser tests drive Debian's Chromium (Playwright's own browser download is not
# used); install it only when it is missing.
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
		echo "Installing Chromium with apt-get..."; \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -q && \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
	fi

test: setup chromium nginx
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -m "not integration"
	DATABASE_URL=$(TEST_DATABASE_URL)_$$$$ CELERY_BROKER_URL=$(TEST_BROKER_URL) \
		$(BIN)/python -m pytest -m integration

bench: setup
	$(BIN)/python bench/run.py

# Refresh the page's vendored JavaScript (static/vendor/) from npm; needs Node and npm,
# which nothing else does: `make run` serves the committed files.
vendor:
	static/vendor/refresh.sh
