#!/bin/bash
# The stand-in's entrypoint, after the official postgres image's: at the first start (no
# PG_VERSION under PGDATA) initdb with POSTGRES_USER (default postgres) as the superuser and
# POSTGRES_PASSWORD (required unless POSTGRES_HOST_AUTH_METHOD=trust) as its password, read from
# a pipe, never argv; POSTGRES_INITDB_ARGS; any host may connect with a password
# (POSTGRES_HOST_AUTH_METHOD, default scram-sha-256). A server listening on the Unix socket only
# then creates POSTGRES_DB (default: the user's name) and runs /docker-entrypoint-initdb.d
# (*.sh, *.sql, *.sql.gz), and stops. Then the command runs (default `postgres`, listening on
# every address): so "database system is ready to accept connections" is logged twice on a first
# start and a TCP client (pg_isready --host localhost) is answered only by the final server.
# Run as root, it makes PGDATA the postgres user's and runs again as that user.
set -Eeuo pipefail

if [[ ${1:0:1} == - ]]; then
  set -- postgres "$@"
fi
if [[ $1 != postgres ]]; then
  exec "$@"
fi

if [[ $(id -u) == 0 ]]; then
  mkdir -p "$PGDATA" /var/run/postgresql
  chown postgres:postgres "$PGDATA" /var/run/postgresql
  chmod 0700 "$PGDATA"
  chmod 3777 /var/run/postgresql
  exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
fi

sql() { psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --no-password "$@"; }

if [[ -s $PGDATA/PG_VERSION ]]; then
  echo 'PostgreSQL Database directory appears to contain a database; Skipping initialization'
  exec "$@"
fi

: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"
: "${POSTGRES_HOST_AUTH_METHOD:=scram-sha-256}"
if [[ -z ${POSTGRES_PASSWORD:-} && $POSTGRES_HOST_AUTH_METHOD != trust ]]; then
  cat >&2 <<'MSG'
Error: Database is uninitialized and superuser password is not specified.
       You must specify POSTGRES_PASSWORD to a non-empty value for the superuser.
       To allow all connections without a password, set POSTGRES_HOST_AUTH_METHOD=trust.
MSG
  exit 1
fi

# shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS is a list of options, as in the official image
initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "${POSTGRES_PASSWORD:-}") \
  ${POSTGRES_INITDB_ARGS:-}
printf "\nlisten_addresses = '*'\n" >>"$PGDATA/postgresql.conf"
printf '\nhost all all all %s\n' "$POSTGRES_HOST_AUTH_METHOD" >>"$PGDATA/pg_hba.conf"

pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -p 5432" -w start
if [[ $POSTGRES_DB != postgres ]]; then
  sql --dbname postgres --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db" ;'
fi
for f in /docker-entrypoint-initdb.d/*; do
  case $f in
    *.sh) echo "running $f"; . "$f" ;;
    *.sql) echo "running $f"; sql --dbname "$POSTGRES_DB" -f "$f" ;;
    *.sql.gz) echo "running $f"; gunzip -c "$f" | sql --dbname "$POSTGRES_DB" ;;
    *) [[ -e $f ]] && echo "ignoring $f" ;;
  esac
done
pg_ctl -D "$PGDATA" -m fast -w stop
echo 'PostgreSQL init process complete; ready for start up.'
exec "$@"
