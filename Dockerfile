# syntax=docker/dockerfile:1
# monitor in a container: `monitor run` as an unprivileged user, state on the /data volume,
# /healthz and /metrics on port 8080. README.md ("Running monitor as a service") has the details:
#   docker build -t monitor .
#   docker run -d --name monitor --init -p 8080:8080 -v monitor-data:/data monitor

# ---- build: install monitor and its dependencies into a virtualenv -------------------------
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml README.md ./
COPY monitor ./monitor
# Not editable: the runtime image gets the package, not the source tree.
RUN /opt/venv/bin/pip install ".[postgres]"

# ---- runtime: the virtualenv (migrations are inside the package) and the config ----------
FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MONITOR_CONFIG=/etc/monitor/config.toml
RUN useradd --system --uid 10001 --user-group --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin monitor \
 && mkdir -p /data \
 && chown monitor:monitor /data
COPY --from=build /opt/venv /opt/venv
COPY deploy/config.docker.toml /etc/monitor/config.toml
COPY watchlists /etc/monitor/watchlists
USER monitor
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080
# monitor stops cleanly on SIGTERM within 10 s; `docker stop` waits 10 s by default.
STOPSIGNAL SIGTERM
# No curl in the slim image: Python fetches /healthz; a 503 raises, which fails the check.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"]
CMD ["monitor", "run"]
