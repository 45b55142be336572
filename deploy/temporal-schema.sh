#!/bin/sh
# One-shot job (temporalio/admin-tools): Temporal's two PostgreSQL databases and their
# schemas, before the server starts.  Safe to run again: an existing database is kept,
# and update-schema applies only the versions it lacks.
set -eu

: "${POSTGRES_SEEDS:?POSTGRES_SEEDS names the PostgreSQL host}"
: "${POSTGRES_USER:?POSTGRES_USER is required}"
: "${SQL_PASSWORD:?SQL_PASSWORD is the PostgreSQL password}"
PORT=${DB_PORT:-5432}
SCHEMA=/etc/temporal/schema/postgresql/v12

until nc -z -w 5 "$POSTGRES_SEEDS" "$PORT"; do
  echo "waiting for PostgreSQL at $POSTGRES_SEEDS:$PORT"
  sleep 2
done

for db in temporal temporal_visibility; do
  case $db in
    temporal) versions=$SCHEMA/temporal/versioned ;;
    *) versions=$SCHEMA/visibility/versioned ;;
  esac
  sql() { temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "$PORT" -u "$POSTGRES_USER" --db "$db" "$@"; }
  sql create
  sql setup-schema -v 0.0
  sql update-schema -d "$versions"
done
echo "Temporal schema ready"
