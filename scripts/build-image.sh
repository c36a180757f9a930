#!/usr/bin/env bash
# Builds the s3worker image from the Dockerfile: `npm run image [-- options]`.
#
#   --target default|core   default: every job; core: stream-transform and ship-logs, no
#                           database clients (default: default)
#   --tag NAME              image name (default: s3worker:latest, or s3worker:core for core)
#   --base IMAGE            the Dockerfile's NODE_IMAGE, as is (default: the Dockerfile's own,
#                           or the stand-in of scripts/image-base.sh where that cannot be pulled)
#   --platform linux/amd64|linux/arm64
#                           build for that platform (default: the machine's own); the default
#                           tag then ends in -amd64 or -arm64 (s3worker:latest-arm64). With
#                           podman, a foreign platform's programs run under QEMU user emulation
#                           (qemu-user-static, installed from Debian when missing, as root).
#
# With a Docker engine that answers (`docker info`), `docker build`. Otherwise podman (installed
# from Debian when missing, as root), with the runc runtime (crun refuses a hybrid cgroup
# layout), explicit ulimits (raising them is refused in some sandboxes) and docker format (the
# OCI format has no HEALTHCHECK). Set S3WORKER_IMAGE_ENGINE=docker|podman to choose.
#
# OCI labels: the version from package.json, the revision from git, and the source from
# S3WORKER_IMAGE_SOURCE or the git remote "origin".
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

log() { printf '[image] %s\n' "$*" >&2; }
die() { printf '[image] error: %s\n' "$*" >&2; exit 1; }

target=default tag="" base="" platform=""
while (($#)); do
  case $1 in
    --target) target=${2:?--target needs a value}; shift 2 ;;
    --tag) tag=${2:?--tag needs a value}; shift 2 ;;
    --base) base=${2:?--base needs a value}; shift 2 ;;
    --platform) platform=${2:?--platform needs a value}; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done
case $(uname -m) in
  x86_64) arch=amd64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) arch=$(uname -m) ;;
esac
host_arch=$arch suffix=""
case $platform in
  "") ;;
  linux/amd64 | linux/arm64) arch=${platform#linux/} suffix=-${platform#linux/} ;;
  *) die "--platform must be linux/amd64 or linux/arm64, not $platform" ;;
esac
case $target in
  default) tag=${tag:-s3worker:latest$suffix} ;;
  core) tag=${tag:-s3worker:core$suffix} ;;
  *) die "--target must be default or core, not $target" ;;
esac

engine=${S3WORKER_IMAGE_ENGINE:-}
if [[ -z $engine ]]; then
  if command -v docker >/dev/null && docker info >/dev/null 2>&1; then engine=docker; else engine=podman; fi
fi
build_opts=()
case $engine in
  docker) ;;
  podman)
    if ! command -v podman >/dev/null || ! command -v runc >/dev/null; then
      [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null ||
        die "no Docker engine answers and podman is missing: install podman and runc"
      log "no Docker engine answers: installing podman and runc from Debian packages"
      apt-get update -qq >&2
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc >&2
    fi
    build_opts=(--runtime runc --ulimit nofile=4096:4096 --ulimit nproc=4096:4096
      --format docker --pull=missing)
    ;;
  *) die "S3WORKER_IMAGE_ENGINE must be docker or podman, not $engine" ;;
esac

# With podman, another platform's programs (every RUN step) run under QEMU user emulation:
# binfmt_misc hands them to qemu-<cpu>-static, registered with the F flag so that the
# interpreter, opened when registered, also serves inside the build's containers.
ensure_emulation() {
  local cpu entry
  case $arch in amd64) cpu=x86_64 ;; arm64) cpu=aarch64 ;; esac
  entry=/proc/sys/fs/binfmt_misc/qemu-$cpu
  [[ -e /proc/sys/fs/binfmt_misc/register ]] ||
    die "$platform needs emulation, but binfmt_misc is not mounted: mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc"
  if [[ ! -e $entry ]] && ! command -v "qemu-$cpu-static" >/dev/null; then
    [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null ||
      die "$platform needs QEMU user emulation: install qemu-user-static and binfmt-support"
    log "$platform on $host_arch: installing qemu-user-static and binfmt-support from Debian packages"
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      qemu-user-static binfmt-support >&2
  fi
  if [[ ! -e $entry ]] && command -v update-binfmts >/dev/null; then
    update-binfmts --enable "qemu-$cpu" >&2 || true
  fi
  [[ -e $entry ]] && grep -qx enabled "$entry" ||
    die "$platform needs qemu-$cpu registered with binfmt_misc: update-binfmts --enable qemu-$cpu"
  grep -q '^flags:.*F' "$entry" ||
    die "qemu-$cpu is registered without the F flag, so containers cannot use it: register it with F"
}
if [[ $engine == podman && $arch != "$host_arch" ]]; then ensure_emulation; fi

image_present() {
  if [[ $engine == podman ]]; then podman image exists "$1"; else docker image inspect "$1" >/dev/null 2>&1; fi
}
# Present for the platform built: a tag pulled for another platform names that one only.
base_present() {
  image_present "$1" && [[ $("$engine" image inspect --format '{{.Architecture}}' "$1") == "$arch" ]]
}

# The Dockerfile's own base, unless it can be neither found nor pulled here.
if [[ -z $base ]]; then
  base="$(sed -n 's/^ARG NODE_IMAGE=//p' "$ROOT/Dockerfile" | head -n1)"
  [[ -n $base ]] || die "the Dockerfile has no ARG NODE_IMAGE default"
  if ! base_present "$base" && ! timeout 300 "$engine" pull ${platform:+--platform "$platform"} "$base" >/dev/null 2>&1; then
    log "$base cannot be pulled here: using the stand-in base of scripts/image-base.sh"
    base="$("$ROOT/scripts/image-base.sh" ${platform:+--platform "$platform"} "$engine")"
  fi
fi
log "base image: $base"

version="$(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$ROOT/package.json" | head -n1)"
revision="$(git -C "$ROOT" rev-parse HEAD 2>/dev/null || true)"
source=${S3WORKER_IMAGE_SOURCE:-$(git -C "$ROOT" config --get remote.origin.url 2>/dev/null || true)}
# A remote URL may carry a token (https://user:token@host/...): never into a label.
source="$(printf '%s' "$source" | sed -E 's#^([a-z+]+://)[^/@]*@#\1#')"
# Only a repository address names the source; a clone of a local folder has none to give.
[[ $source =~ ^(https?|ssh|git)://|^git@ ]] || source=""

target_opts=()
[[ $target == core ]] && target_opts=(--target core)
platform_opts=()
[[ -n $platform ]] && platform_opts=(--platform "$platform")
start=$SECONDS
log "building $tag (target $target${platform:+, $platform}) with $engine"
"$engine" build "${build_opts[@]}" "${target_opts[@]}" "${platform_opts[@]}" \
  --build-arg "NODE_IMAGE=$base" \
  --build-arg "S3WORKER_VERSION=$version" \
  --build-arg "S3WORKER_REVISION=$revision" \
  --build-arg "S3WORKER_SOURCE=$source" \
  --tag "$tag" --file "$ROOT/Dockerfile" "$ROOT"
size="$("$engine" image inspect --format '{{.Size}}' "$tag")"
log "built $tag (target $target, base $base) in $((SECONDS - start)) s: $((size / 1000000)) MB"
