# syntax=docker/dockerfile:1
#
# The analytics service image. ENTRYPOINT is the `analytics` CLI and the default command
# runs the consumer service; any other command is given as arguments:
#
#   docker build -t social-analytics .
#   docker run --rm -e ANALYTICS_DATABASE_URL=... social-analytics migrate upgrade
#   docker run --rm -e ANALYTICS_DATABASE_URL=... -e ANALYTICS_BOOTSTRAP_SERVERS=... social-analytics
#
# Debian bookworm is pinned: its libmariadb3 (MariaDB Connector/C 3.3, built with OpenSSL)
# authenticates against MySQL 8.4's default caching_sha2_password without TLS by fetching
# the server's RSA key.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: compile mysqlclient and install the project into a virtualenv ---------------
FROM ${PYTHON_IMAGE} AS build

RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        default-libmysqlclient-dev pkg-config build-essential \
    && rm -rf /var/lib/apt/lists/*

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv

WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY analytics/ analytics/
COPY migrations/ migrations/
COPY producer_sim/ producer_sim/

# Editable install, on purpose: analytics/migrate.py looks for alembic.ini (and through it
# migrations/) in the directory above the analytics package. A regular install would put
# the package in site-packages, away from them; installed in editable mode the package is
# imported from /app/analytics, so /app holds alembic.ini and migrations/ next to it and
# both `analytics migrate upgrade` and `alembic upgrade head` (run in WORKDIR /app) work.
# /opt/venv and /app keep the same paths in the final stage, as the editable finder needs.
RUN pip install -e . \
    && python -m compileall -q analytics producer_sim migrations

# --- final: runtime library only, non-root user -----------------------------------------
FROM ${PYTHON_IMAGE}

RUN apt-get update \
    && apt-get install -y --no-install-recommends libmariadb3 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 analytics \
    && useradd --system --uid 10001 --gid analytics --home-dir /app \
        --shell /usr/sbin/nologin analytics

COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
# The only writable place: the embedded SQLite default (analytics-data/) for `analytics load`.
RUN mkdir /app/analytics-data && chown analytics:analytics /app/analytics-data

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /app

# Numeric, so that a runtime can verify "not root" (e.g. Kubernetes runAsNonRoot).
USER 10001:10001

# /metrics and /health of `analytics consume` (ANALYTICS_METRICS_PORT).
EXPOSE 9108
# Fails on 503 (no progress, database unreachable) and when nothing listens.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9108/health', timeout=4)"]

ENTRYPOINT ["analytics"]
CMD ["consume"]
