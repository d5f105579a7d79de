# syntax=docker/dockerfile:1
# Every service's image: the service is a build argument, the directory under services/ whose
# package the image installs (docker compose passes it in build.args):
#   docker build --build-arg SERVICE=catalog --tag real-world-architectures/catalog:dev .
# Build context: the repository root.
# The bases are build arguments so that a machine without registry access can build from local
# stand-ins (make test-containers does); the defaults are the official images users pull.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.13.9
FROM ${UV_IMAGE} AS uv

FROM ${PYTHON_IMAGE} AS build
# No default: an image without a service would be an image of nothing.
ARG SERVICE
RUN test -n "${SERVICE}" || { echo "build with --build-arg SERVICE=<a directory of services/>" >&2; exit 1; }
COPY --from=uv /uv /bin/uv
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never
# Set only where downloads are TLS-intercepted: the path of a CA bundle mounted into the build
# (podman build -v), never copied into an image.
ARG SSL_CERT_FILE
WORKDIR /app
# Dependencies first (cached until the lock changes): uv needs every member's metadata.
COPY pyproject.toml uv.lock ./
COPY libs/stackkit/pyproject.toml libs/stackkit/
COPY libs/devstack/pyproject.toml libs/devstack/
COPY services/catalog/pyproject.toml services/catalog/
COPY services/dispatch/pyproject.toml services/dispatch/
COPY services/chat/pyproject.toml services/chat/
COPY services/payments/pyproject.toml services/payments/
COPY services/edge/pyproject.toml services/edge/
RUN uv sync --frozen --no-dev --no-install-workspace --package "${SERVICE}"
# The whole service directory: the wheel ships the files beside the code (catalog's schema.cql,
# the schema.sql files, chat's page.html).
COPY libs/stackkit libs/stackkit
COPY services/${SERVICE} services/${SERVICE}
RUN uv sync --frozen --no-dev --no-editable --package "${SERVICE}"

FROM ${PYTHON_IMAGE}
ARG SERVICE
RUN groupadd --system --gid 10001 app && useradd --system --uid 10001 --gid 10001 --no-create-home app
COPY --from=build --chown=10001:10001 /app/.venv /app/.venv
# An exec-form CMD cannot expand a build argument, and a shell-form one would put a shell
# between uvicorn and the engine's SIGTERM; uvicorn reads its app from UVICORN_APP instead.
# Every service's main app is <service>.app:create_app; a command naming another app (compose's
# workers, gateways, the anycast entry) overrides it.
ENV PATH=/app/.venv/bin:$PATH PYTHONUNBUFFERED=1 UVICORN_APP=${SERVICE}.app:create_app
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=5s --timeout=3s --start-period=30s --retries=5 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
CMD ["uvicorn", "--factory", "--host", "0.0.0.0", "--port", "8000", "--no-access-log", "--timeout-graceful-shutdown", "5", "--http", "stackkit.header_timeout:HeaderTimeoutHttpTools"]
