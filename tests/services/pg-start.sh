#!/bin/sh
# Throwaway PostgreSQL on 127.0.0.1:${PG_PORT:-5332}; state in $1 (wiped); prints the postmaster PID.
# From ../shared/RECIPES-services.md §2. Runs initdb/postgres as the 'postgres' user (initdb refuses
# root), so $1 and every parent directory must be traversable by that user.
set -e
D=$1; PORT=${PG_PORT:-5332}; BIN=${PGBIN:-/usr/lib/postgresql/15/bin}
id postgres >/dev/null 2>&1 || useradd --system --home-dir /nonexistent --shell /usr/sbin/nologin postgres
rm -rf "$D"; mkdir -p "$D"; chown postgres: "$D"; chmod 700 "$D"
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
as_pg "$BIN/initdb" -D "$D/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
      -E UTF8 --locale=C.UTF-8 --no-sync > "$D/initdb.log"
cat >> "$D/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$D'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 300
CONF
as_pg "$BIN/pg_ctl" -D "$D/data" -l "$D/postgres.log" -w -t 60 start > /dev/null
as_pg "$BIN/psql" -h "$D" -p "$PORT" -U postgres -v ON_ERROR_STOP=1 -q \
      -c "ALTER ROLE postgres PASSWORD 'postgres'" \
      -c "CREATE ROLE registry LOGIN CREATEDB PASSWORD 'registry'" \
      -c "CREATE DATABASE registry OWNER registry"
head -1 "$D/data/postmaster.pid"
