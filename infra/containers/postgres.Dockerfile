# Stand-in for postgres:17: Debian's PostgreSQL 15 behind a small entrypoint that honours the
# parts of the official image the stack uses (POSTGRES_HOST_AUTH_METHOD, initdb.d scripts).
# Build context: infra/containers.
ARG DEBIAN_IMAGE=debian:bookworm-slim
FROM ${DEBIAN_IMAGE}
# The official image's uid and gid (999), fixed before the package would pick one.
# hadolint ignore=DL3008
RUN groupadd --system --gid 999 postgres \
 && useradd --system --uid 999 --gid 999 --home-dir /var/lib/postgresql --shell /bin/bash postgres \
 && apt-get update \
 && apt-get install -y --no-install-recommends postgresql-15 \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /var/lib/postgresql/data /docker-entrypoint-initdb.d \
 && chown postgres:postgres /var/lib/postgresql/data && chmod 700 /var/lib/postgresql/data
COPY --chmod=755 postgres-entrypoint.sh /usr/local/bin/postgres-entrypoint
ENV PATH=/usr/lib/postgresql/15/bin:$PATH PGDATA=/var/lib/postgresql/data
USER 999:999
EXPOSE 5432
STOPSIGNAL SIGINT
HEALTHCHECK --interval=3s --timeout=3s --retries=20 CMD ["pg_isready", "-U", "postgres"]
ENTRYPOINT ["postgres-entrypoint"]
