# Stand-in for cassandra:5.0: the repository's CQL development server (devstack.cql, in memory,
# CQL native protocol v4), with only its own dependency (cassandra-driver, as uv.lock pins it).
# Build context: the repository root.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.13.9
FROM ${UV_IMAGE} AS uv

FROM ${PYTHON_IMAGE} AS build
COPY --from=uv /uv /bin/uv
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never
ARG SSL_CERT_FILE
WORKDIR /app
COPY pyproject.toml uv.lock ./
# uv reads the locked workspace only with every member's metadata present.
COPY libs/stackkit/pyproject.toml libs/stackkit/
COPY libs/devstack/pyproject.toml libs/devstack/
COPY services/catalog/pyproject.toml services/catalog/
COPY services/dispatch/pyproject.toml services/dispatch/
COPY services/chat/pyproject.toml services/chat/
COPY services/payments/pyproject.toml services/payments/
COPY services/edge/pyproject.toml services/edge/
RUN uv export --frozen --no-dev --no-hashes --no-emit-workspace --package devstack -o /tmp/locked.txt \
 && uv venv /app/.venv \
 && uv pip install --python /app/.venv --constraints /tmp/locked.txt cassandra-driver
COPY libs/devstack/src/devstack/__init__.py /app/src/devstack/__init__.py
COPY libs/devstack/src/devstack/cql /app/src/devstack/cql
COPY infra/containers/cql_ready.py /app/cql_ready.py
RUN /app/.venv/bin/python -m compileall -q /app/src /app/cql_ready.py

FROM ${PYTHON_IMAGE}
COPY --from=build /app /app
ENV PATH=/app/.venv/bin:$PATH PYTHONPATH=/app/src PYTHONUNBUFFERED=1
USER 65534:65534
EXPOSE 9042
HEALTHCHECK --interval=2s --timeout=3s --retries=30 CMD ["python", "/app/cql_ready.py"]
CMD ["python", "-m", "devstack.cql", "--host", "0.0.0.0", "--port", "9042"]
