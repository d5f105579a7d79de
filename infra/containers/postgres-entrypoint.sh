#!/bin/sh
# The part of the official postgres image's entrypoint that the stack uses: on first start,
# initdb with POSTGRES_HOST_AUTH_METHOD (or POSTGRES_PASSWORD) and run every *.sql in
# /docker-entrypoint-initdb.d; then the server, listening on every address.
set -eu
PGDATA="${PGDATA:-/var/lib/postgresql/data}"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  method="${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}"
  if [ "$method" != trust ] && [ -z "${POSTGRES_PASSWORD:-}" ]; then
    echo "set POSTGRES_PASSWORD, or POSTGRES_HOST_AUTH_METHOD=trust for a development stack" >&2
    exit 1
  fi
  pwfile=/tmp/pg-password
  printf '%s\n' "${POSTGRES_PASSWORD:-}" > "$pwfile"
  initdb -D "$PGDATA" -U postgres -E UTF8 --auth-local=trust --auth-host="$method" \
    --pwfile="$pwfile" --no-instructions
  rm -f "$pwfile"
  echo "host all all all $method" >> "$PGDATA/pg_hba.conf"
  # The init server listens on a private socket only, so the healthcheck (pg_isready on the
  # default socket) cannot pass before the databases exist.
  mkdir -p /tmp/pg-init
  pg_ctl -D "$PGDATA" -w -o "-c listen_addresses='' -c unix_socket_directories=/tmp/pg-init" start
  for script in /docker-entrypoint-initdb.d/*.sql; do
    [ -e "$script" ] || continue
    psql -v ON_ERROR_STOP=1 -h /tmp/pg-init -U postgres -d postgres -f "$script"
  done
  pg_ctl -D "$PGDATA" -m fast -w stop
fi
exec postgres -D "$PGDATA" -c listen_addresses='*' "$@"
