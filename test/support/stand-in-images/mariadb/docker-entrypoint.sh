#!/bin/bash
# The stand-in's entrypoint, after the official mariadb image's: at the first start (no mysql
# schema in /var/lib/mysql) the data directory is made, and a server on the Unix socket only
# sets root's password (MARIADB_ROOT_PASSWORD; or MARIADB_ALLOW_EMPTY_ROOT_PASSWORD, or
# MARIADB_RANDOM_ROOT_PASSWORD) for root@localhost and root@MARIADB_ROOT_HOST (default %),
# creates MARIADB_DATABASE, and MARIADB_USER@% with MARIADB_PASSWORD and every privilege on that
# database; runs /docker-entrypoint-initdb.d (*.sh, *.sql, *.sql.gz); and stops. Secrets reach
# the server on stdin, never argv. The MYSQL_ names work too. Then the command runs (default
# mariadbd, on port 3306). Run as root, it runs again as the mysql user.
set -Eeo pipefail

if [[ ${1:0:1} == - ]]; then
  set -- mariadbd "$@"
fi
if [[ $1 != mariadbd && $1 != mysqld ]]; then
  exec "$@"
fi

if [[ $(id -u) == 0 ]]; then
  mkdir -p /var/lib/mysql /run/mysqld
  chown mysql:mysql /var/lib/mysql /run/mysqld
  exec setpriv --reuid=mysql --regid=mysql --init-groups "${BASH_SOURCE[0]}" "$@"
fi

if [[ -d /var/lib/mysql/mysql ]]; then
  exec "$@"
fi

for name in ROOT_PASSWORD ROOT_HOST DATABASE USER PASSWORD ALLOW_EMPTY_ROOT_PASSWORD \
  RANDOM_ROOT_PASSWORD; do
  mysql_name=MYSQL_$name mariadb_name=MARIADB_$name
  if [[ -z ${!mariadb_name} && -n ${!mysql_name} ]]; then
    export "$mariadb_name=${!mysql_name}"
  fi
done
: "${MARIADB_ROOT_HOST:=%}"
if [[ -z $MARIADB_ROOT_PASSWORD && -z $MARIADB_ALLOW_EMPTY_ROOT_PASSWORD &&
  -z $MARIADB_RANDOM_ROOT_PASSWORD ]]; then
  echo 'error: Database is uninitialized and password option is not specified. You need to specify one of MARIADB_ROOT_PASSWORD, MARIADB_ALLOW_EMPTY_ROOT_PASSWORD and MARIADB_RANDOM_ROOT_PASSWORD' >&2
  exit 1
fi
if [[ $MARIADB_USER == root ]]; then
  echo 'error: MARIADB_USER="root", MARIADB_USER and MARIADB_PASSWORD are for configuring a regular user and cannot be used for the root user' >&2
  exit 1
fi
if [[ -n $MARIADB_RANDOM_ROOT_PASSWORD ]]; then
  MARIADB_ROOT_PASSWORD=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
  echo "GENERATED ROOT PASSWORD: $MARIADB_ROOT_PASSWORD"
fi

# A string literal for SQL: backslashes and single quotes escaped.
literal() {
  local s=${1//\\/\\\\}
  printf "'%s'" "${s//\'/\\\'}"
}
ident() { printf '`%s`' "${1//\`/\`\`}"; }

socket=/run/mysqld/mysqld.sock
client() { mariadb --protocol=socket --socket="$socket" -uroot "$@"; }

mariadb-install-db --datadir=/var/lib/mysql --rpm --auth-root-authentication-method=normal \
  --skip-test-db --default-time-zone=SYSTEM --skip-log-bin --expire-logs-days=0
"$@" --skip-networking --socket="$socket" --skip-log-bin --expire-logs-days=0 \
  --default-time-zone=SYSTEM &
server=$!
for ((i = 0; i < 60; i++)); do
  client -e 'SELECT 1' >/dev/null 2>&1 && break
  kill -0 "$server" 2>/dev/null || { echo 'error: the init server did not start' >&2; exit 1; }
  sleep 1
done

{
  echo 'SET @@SESSION.SQL_LOG_BIN=0;'
  echo "DELETE FROM mysql.user WHERE user NOT IN ('mysql.sys', 'mariadb.sys', 'root') OR host NOT IN ('localhost');"
  echo "SET PASSWORD FOR 'root'@'localhost' = PASSWORD($(literal "$MARIADB_ROOT_PASSWORD"));"
  if [[ $MARIADB_ROOT_HOST != localhost ]]; then
    echo "CREATE USER 'root'@$(literal "$MARIADB_ROOT_HOST") IDENTIFIED BY $(literal "$MARIADB_ROOT_PASSWORD");"
    echo "GRANT ALL ON *.* TO 'root'@$(literal "$MARIADB_ROOT_HOST") WITH GRANT OPTION;"
    echo "GRANT PROXY ON ''@'%' TO 'root'@$(literal "$MARIADB_ROOT_HOST") WITH GRANT OPTION;"
  fi
  if [[ -n $MARIADB_DATABASE ]]; then
    echo "CREATE DATABASE IF NOT EXISTS $(ident "$MARIADB_DATABASE");"
  fi
  if [[ -n $MARIADB_USER && -n $MARIADB_PASSWORD ]]; then
    echo "CREATE USER $(literal "$MARIADB_USER")@'%' IDENTIFIED BY $(literal "$MARIADB_PASSWORD");"
    if [[ -n $MARIADB_DATABASE ]]; then
      echo "GRANT ALL ON $(ident "$MARIADB_DATABASE").* TO $(literal "$MARIADB_USER")@'%';"
    fi
  fi
  echo 'FLUSH PRIVILEGES;'
} | client

# From here on root has a password: the rest of the init logs in with it (from a file, not argv).
defaults=$(mktemp)
printf '[client]\npassword=%s\n' "$MARIADB_ROOT_PASSWORD" >"$defaults"
client() { mariadb --defaults-extra-file="$defaults" --protocol=socket --socket="$socket" -uroot "$@"; }
for f in /docker-entrypoint-initdb.d/*; do
  case $f in
    *.sh) echo "running $f"; . "$f" ;;
    *.sql) echo "running $f"; client ${MARIADB_DATABASE:+"$MARIADB_DATABASE"} <"$f" ;;
    *.sql.gz) echo "running $f"; gunzip -c "$f" | client ${MARIADB_DATABASE:+"$MARIADB_DATABASE"} ;;
    *) [[ -e $f ]] && echo "ignoring $f" ;;
  esac
done
mariadb-admin --defaults-extra-file="$defaults" --protocol=socket --socket="$socket" -uroot shutdown
rm -f "$defaults"
wait "$server" || true
echo 'MariaDB init process done. Ready for start up.'
exec "$@"
