#!/usr/bin/env bash
# Runs the integration tests with their servers from Testcontainers, through podman's Docker API:
# the path `npm test` takes on a machine with a Docker engine, proven on one without. CI runs it
# after scripts/test-images.sh has made the pinned images (stand-ins where they cannot be pulled).
#
#   scripts/testcontainers-run.sh [vitest file filters...]   the files below, or those named
#   scripts/testcontainers-run.sh --all                      the whole suite (12 min on 2
#                                                             busy cores, where the files
#                                                             below take 5)
#
# It starts `podman system service` on a socket of its own, with a containers.conf of runc and
# explicit ulimits (what podman needs on this machine kind, as in scripts/build-image.sh), and
# points DOCKER_HOST at it. Ryuk (Testcontainers' reaper) is disabled, since its image cannot be
# pulled here: the suite's own teardown stops every container, and this script checks that it
# did. The setup must take the Testcontainers path: S3_ENDPOINT is unset and
# S3WORKER_SERVICES_DIR names an empty folder (no env file of scripts/test-services.sh), and the
# run fails unless the setup's summary line says "from testcontainers". Writes the JSON report
# test-results/vitest-testcontainers.json; fails if the tests fail or any container of this run
# (label org.s3worker.tests) of the pinned images is left, which it then removes.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# Written by vitest.testcontainers.config.ts.
REPORT=test-results/vitest-testcontainers.json

log() { printf '[testcontainers-run] %s\n' "$*" >&2; }
die() { printf '[testcontainers-run] error: %s\n' "$*" >&2; exit 1; }

command -v podman >/dev/null || die "podman is needed (scripts/build-image.sh installs it)"
# The files the server source changes most, each server and client tool at least once: S3
# (MinIO; mc for users, policies and STS), PostgreSQL 15 and 18 (with 18's client programs),
# MariaDB, SQS (ElasticMQ).
SUBSET=(
  test/integration/harness-s3.test.ts
  test/integration/harness-minio-admin.test.ts
  test/integration/transfer.test.ts
  test/integration/direct-requests.test.ts
  test/integration/stream-transform.test.ts
  test/integration/no-silent-skips.test.ts
  test/integration/credentials-container.test.ts
  test/integration/credentials-relative-uri.test.ts
  test/integration/policy-check.test.ts
  test/integration/doctor.test.ts
  test/integration/harness-sql.test.ts
  test/integration/db-backup-postgres.test.ts
  test/integration/db-backup-versions.test.ts
  test/integration/db-backup-mysql.test.ts
  test/integration/doctor-queue.test.ts
  test/integration/stream-transform-queue.test.ts
  examples/custom-job/test/csv-to-ndjson.test.ts
)
# Tests left out on this path, each for a reason the path itself makes (a regular expression
# over the test's name; vitest reports them as skipped).
EXCLUDED=(
  # A container's server sees its clients at the container network's gateway (10.88.0.1 under
  # podman, 172.17.0.1 under Docker), never at 127.0.0.1: aws:SourceIp cannot be proven against
  # the loopback address there, only with the script's servers.
  '--source-ip: MinIO accepts the aws:SourceIp policy'
)
files=("$@")
if ((${#files[@]} == 0)); then
  files=("${SUBSET[@]}")
elif [[ ${files[0]} == --all ]]; then
  files=()
fi
exclude="$(IFS='|'; printf '%s' "${EXCLUDED[*]}")"
for name in "${EXCLUDED[@]}"; do log "left out on this path: $name"; done

work="$(mktemp -d "${TMPDIR:-/tmp}/s3worker-testcontainers.XXXXXX")"
run_id="tc-$(date +%s)-$$"
service_pid="" ticker_pid=""
stop_service() {
  [[ -n $ticker_pid ]] && { kill "$ticker_pid" 2>/dev/null || true; wait "$ticker_pid" 2>/dev/null || true; }
  [[ -n $service_pid ]] && { kill "$service_pid" 2>/dev/null || true; wait "$service_pid" 2>/dev/null || true; }
  ticker_pid="" service_pid=""
}
trap 'stop_service; rm -rf "$work"' EXIT

cat >"$work/containers.conf" <<'CONF'
[containers]
default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]

[engine]
runtime = "runc"
CONF
sock="$work/podman.sock"
CONTAINERS_CONF="$work/containers.conf" podman system service --time=0 "unix://$sock" \
  >"$work/service.log" 2>&1 &
service_pid=$!
for ((i = 0; i < 60; i++)); do
  curl -fsS --unix-socket "$sock" http://podman/_ping >/dev/null 2>&1 && break
  kill -0 "$service_pid" 2>/dev/null || { cat "$work/service.log" >&2; die "podman system service exited"; }
  sleep 0.5
done
curl -fsS --unix-socket "$sock" http://podman/_ping >/dev/null 2>&1 ||
  die "podman's API did not answer on $sock within 30 s"
log "podman's Docker API on $sock (pid $service_pid)"

# podman runs a container's health checks from systemd timers; without systemd (this machine
# kind) nothing runs them and the PostgreSQL module waits for "healthy" forever. Here this loop
# does what the timers would, for this run's containers only.
if [[ ! -d /run/systemd/system ]]; then
  (
    while kill -0 "$service_pid" 2>/dev/null; do
      for id in $(podman ps -q --filter "label=org.s3worker.tests=$run_id" --filter health=starting); do
        podman healthcheck run "$id" >/dev/null 2>&1 || true
      done
      sleep 1
    done
  ) &
  ticker_pid=$!
fi

mkdir -p "$work/no-services" test-results
rm -f "$REPORT"
start=$SECONDS
status=0
# The engine's host as Testcontainers sees it is the bridge's gateway inside a container
# (/.dockerenv): the published ports answer on loopback, where the tests' traffic belongs.
env -u S3_ENDPOINT \
  DOCKER_HOST="unix://$sock" \
  TESTCONTAINERS_RYUK_DISABLED=true \
  TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1 \
  S3WORKER_SERVICES_DIR="$work/no-services" \
  S3WORKER_TEST_RUN="$run_id" \
  npx vitest run --config vitest.testcontainers.config.ts --testNamePattern "^(?!.*(${exclude}))" \
  ${files[@]+"${files[@]}"} 2>&1 | tee "$work/vitest.log" || status=$?
log "vitest finished in $((SECONDS - start)) s (exit $status)"
if ! grep -q '^\[integration servers\] from testcontainers' "$work/vitest.log"; then
  log "the test setup did not say it took its servers from testcontainers"
  status=1
fi

stop_service
filters=(--filter "label=org.s3worker.tests=$run_id")
while read -r image; do filters+=(--filter "ancestor=$image"); done < <(scripts/test-images.sh names)
left="$(podman ps -a "${filters[@]}" --format '{{.ID}} {{.Image}} {{.Status}}')"
if [[ -n $left ]]; then
  log "containers of this run were left behind (removing them now):"
  printf '%s\n' "$left" >&2
  podman rm -f -v $(cut -d' ' -f1 <<<"$left") >/dev/null || true
  status=1
else
  log "no container of this run is left"
fi
exit "$status"
