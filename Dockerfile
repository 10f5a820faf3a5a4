# One image for lorakeet-bridge (`lorakeet bridge`) and lorakeet-api (`lorakeet api`).
#   docker build -t lorakeet .
#   docker run --rm lorakeet lorakeet config check
# Configuration comes from LORAKEET_* variables (docs/deployment.md).

# --- build: wheels need a compiler on platforms without binary wheels (e.g. quickjs on arm)
FROM python:3.11-slim AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/lorakeet
WORKDIR /src
COPY pyproject.toml README.md ./
COPY lorakeet ./lorakeet
RUN /opt/lorakeet/bin/pip install .

# --- runtime
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/lorakeet/bin:$PATH \
    LORAKEET_STORE__SQLITE_PATH=/data/readings.db \
    LORAKEET_REGISTRY_URL=sqlite:////data/registry.db \
    LORAKEET_API__HOST=0.0.0.0 \
    LORAKEET_API__PORT=8080
RUN groupadd --system --gid 10001 lorakeet \
    && useradd --system --uid 10001 --gid lorakeet --home-dir /data --no-create-home \
       --shell /usr/sbin/nologin lorakeet \
    && mkdir -p /data && chown lorakeet:lorakeet /data
COPY --from=build /opt/lorakeet /opt/lorakeet
USER lorakeet
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080
CMD ["lorakeet", "--help"]
