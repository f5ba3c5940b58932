# jiaoying: one image, run alone with SQLite in a volume at /app/var, or as several
# replicas behind one RabbitMQ and PostgreSQL.
#
# Alone, it needs no set-up step: `serve` creates the SQLite schema in the volume on its
# first start, and upgrades it (keeping a copy of the old file beside it) when a newer
# image starts on it. A bind-mounted directory must be writable by uid 10001.
#
#   docker run -v jiaoying-var:/app/var -p 8080:8080 jiaoying
#
# The example roster and simulate mode are the defaults. With a provider's credentials it
# refuses to start on the example roster: mount the county's and set JIAOYING_ROSTER_DIR,
#   -v /srv/roster:/app/roster:ro -e JIAOYING_ROSTER_DIR=/app/roster
# (`docker kill -s HUP` takes a changed roster without a restart).
# Two stages: the first installs the locked dependencies (requirements/runtime.lock, the
# versions the tests passed with) and the project into a virtual environment; the second
# is the slim runtime with that environment alone, no build tools or pip cache.
FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY requirements/runtime.lock requirements/runtime.lock
RUN python -m venv /opt/jiaoying \
    && /opt/jiaoying/bin/pip install -r requirements/runtime.lock
COPY pyproject.toml README.md ./
COPY dispatcher ./dispatcher
COPY channels ./channels
COPY templates ./templates
COPY examples ./examples
# A regular (not editable) install, its dependencies already in place: templates and
# examples travel inside the wheel as dispatcher/_templates and dispatcher/_examples,
# which the settings use by default.
RUN /opt/jiaoying/bin/pip install --no-deps .

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/jiaoying/bin:$PATH

COPY --from=build /opt/jiaoying /opt/jiaoying
WORKDIR /app
RUN useradd --system --uid 10001 --home-dir /app jiaoying \
    && mkdir -p /app/var \
    && chown jiaoying /app/var

USER jiaoying
# The store's path is absolute: whatever the working directory, it is in the volume.
ENV JIAOYING_HTTP_HOST=0.0.0.0 \
    JIAOYING_HTTP_PORT=8080 \
    JIAOYING_DB_URL=sqlite+aiosqlite:////app/var/jiaoying.db
EXPOSE 8080
VOLUME ["/app/var"]
HEALTHCHECK --interval=10s --timeout=3s \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2)"]
# SIGTERM stops consuming, drains sends in flight within JIAOYING_SHUTDOWN_GRACE, exits 0.
STOPSIGNAL SIGTERM
CMD ["jiaoying", "serve"]
