# Stand-in for ghcr.io/astral-sh/uv: the same uv release, from its PyPI wheel, at /uv and /uvx.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
FROM ${PYTHON_IMAGE} AS fetch
ARG UV_VERSION=0.13.9
# Named only where downloads are TLS-intercepted (the bundle is mounted, never copied in).
ARG SSL_CERT_FILE
RUN python3 -m venv /opt/uv \
 && /opt/uv/bin/pip install --no-cache-dir --disable-pip-version-check \
    ${SSL_CERT_FILE:+--cert "$SSL_CERT_FILE"} "uv==${UV_VERSION}"

FROM scratch
COPY --from=fetch /opt/uv/bin/uv /opt/uv/bin/uvx /
