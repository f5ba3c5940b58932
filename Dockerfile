# jiaoying: one image, run as several replicas behind one RabbitMQ and PostgreSQL,
# or alone with SQLite in a volume at /app/var.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY dispatcher ./dispatcher
COPY channels ./channels
COPY templates ./templates
COPY examples ./examples
# A regular (not editable) install: templates and examples travel inside the wheel as
# dispatcher/_templates and dispatcher/_examples, which the settings use by default.
RUN pip install . \
    && useradd --system --uid 10001 --home-dir /app jiaoying \
    && mkdir -p /app/var \
    && chown jiaoying /app/var

USER jiaoying
ENV JIAOYING_HTTP_HOST=0.0.0.0 \
    JIAOYING_HTTP_PORT=8080
EXPOSE 8080
VOLUME ["/app/var"]
HEALTHCHECK --interval=10s --timeout=3s \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2)"]
# SIGTERM stops consuming, drains sends in flight within JIAOYING_SHUTDOWN_GRACE, exits 0.
STOPSIGNAL SIGTERM
CMD ["jiaoying", "serve"]
