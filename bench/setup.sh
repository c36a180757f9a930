#!/usr/bin/env bash
# Installs the peers the benchmark compares s3worker with, once, into the binaries cache:
#   s5cmd    built with `go build` from its Go module at a pinned version
#   warp     MinIO's S3 benchmark, built the same way (the PUT ceiling row of scenario a)
#   aws CLI  from PyPI at a pinned version, in a virtualenv under the cache (not the one on PATH,
#            whose version depends on the machine)
#   GNU time from the Debian package `time` (wall seconds, user+sys CPU seconds, max RSS)
#   zstd and pigz from Debian packages (the codec scenarios' C tools and physical bounds)
# then makes sure the local MinIO runs (never stops it: other work shares it) and prints one JSON
# object with the tools' paths and versions on stdout, which bench/run.mjs reads.
#
#   bench/setup.sh            install what is missing, start MinIO if it is down, print the JSON
#
# Environment:
#   S3WORKER_CACHE_DIR   binaries cache (default ${XDG_CACHE_HOME:-$HOME/.cache}/s3worker)
set -euo pipefail

# Pinned versions. v2.3.0 is the newest s5cmd release the Go module proxy serves here.
S5CMD_MODULE="github.com/peak/s5cmd/v2@v2.3.0"
# v1.3.1 is the newest warp the Go module proxy serves here (v1.3.0, v1.2.0, v1.1.x are refused).
WARP_MODULE="github.com/minio/warp@v1.3.1"
AWSCLI_VERSION="1.46.3"

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE_DIR="${S3WORKER_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/s3worker}"
BIN_DIR="$CACHE_DIR/bin"
S5CMD_BIN="$BIN_DIR/s5cmd-${S5CMD_MODULE##*@}"
WARP_BIN="$BIN_DIR/warp-${WARP_MODULE##*@}"
AWS_VENV="$CACHE_DIR/awscli-$AWSCLI_VERSION"
AWS_BIN="$AWS_VENV/bin/aws"
TIME_BIN=/usr/bin/time

log() { printf '[bench-setup] %s\n' "$*" >&2; }
die() { printf '[bench-setup] error: %s\n' "$*" >&2; exit 1; }

apt_install() {
  [[ $(id -u) -eq 0 ]] || die "missing $*; install with: sudo apt-get install $*"
  command -v apt-get >/dev/null || die "missing $*; install it with your package manager"
  log "installing $* from Debian packages"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}

# Builds a Go module at a pinned version into a binary of the cache, once:
#   go_build_module MODULE@VERSION OUTPUT LDFLAGS
# Not `go install module@version`: it also asks the proxy for the module's version list (to look
# for a deprecation notice), which the proxy here refuses. Download the pinned version and build
# it in place instead, the version stamped by LDFLAGS.
go_build_module() {
  local module=$1 out=$2 ldflags=$3 name tmp dir start=$SECONDS
  [[ -x $out ]] && return 0
  name=$(basename "${module%@*}")
  [[ $name =~ ^v[0-9]+$ ]] && name=$(basename "$(dirname "${module%@*}")")
  command -v go >/dev/null || die "Go is needed to build $name: install Go 1.24+ and retry"
  tmp=$(mktemp -d)
  log "building $module (first run only; a minute or more)"
  if ! dir=$(go mod download -json "$module" | node -e \
    'let s="";process.stdin.on("data",(d)=>{s+=d}).on("end",()=>{const m=JSON.parse(s);if(!m.Dir)process.exit(1);console.log(m.Dir)})'); then
    rm -rf "$tmp"
    die "go mod download $module failed"
  fi
  if ! (cd "$dir" && CGO_ENABLED=0 go build -mod=mod -trimpath -o "$tmp/$name" -ldflags "$ldflags" \
    . >"$tmp/build.log" 2>&1); then
    tail -n 20 "$tmp/build.log" >&2
    rm -rf "$tmp"
    die "building $module failed"
  fi
  mkdir -p "$(dirname "$out")"
  mv "$tmp/$name" "$out"
  rm -rf "$tmp"
  log "built $name in $((SECONDS - start)) s"
}

install_s5cmd() {
  local version=${S5CMD_MODULE##*@}
  # The version stamped the way s5cmd's Makefile does.
  go_build_module "$S5CMD_MODULE" "$S5CMD_BIN" \
    "-X=github.com/peak/s5cmd/v2/version.Version=$version -X=github.com/peak/s5cmd/v2/version.GitCommit=gomod"
}

install_warp() {
  local version=${WARP_MODULE##*@} pkg=github.com/minio/warp/pkg
  # `warp --version` reads pkg's variables, the JSON result main's.
  go_build_module "$WARP_MODULE" "$WARP_BIN" \
    "-X=main.version=$version -X=main.commit=gomod -X=$pkg.Version=$version -X=$pkg.ReleaseTag=$version -X=$pkg.CommitID=gomod -X=$pkg.ShortCommitID=gomod"
}

install_awscli() {
  [[ -x $AWS_BIN ]] && return 0
  local py
  py=$(command -v python3) || die "python3 is needed for the AWS CLI"
  "$py" -c 'import venv, ensurepip' 2>/dev/null || apt_install python3-venv
  log "installing awscli==$AWSCLI_VERSION into $AWS_VENV"
  rm -rf "$AWS_VENV"
  "$py" -m venv "$AWS_VENV"
  "$AWS_VENV/bin/pip" install --quiet --disable-pip-version-check "awscli==$AWSCLI_VERSION" >&2 ||
    { rm -rf "$AWS_VENV"; die "pip install awscli==$AWSCLI_VERSION failed"; }
}

install_time() {
  [[ -x $TIME_BIN ]] && "$TIME_BIN" -f '%e' true >/dev/null 2>&1 && return 0
  apt_install time
}

json_str() { node -e 'process.stdout.write(JSON.stringify(process.argv[1]))' "$1"; }

command -v node >/dev/null || die "node is needed (npm run bench puts it on PATH)"
install_time
install_s5cmd
install_warp
install_awscli
command -v gzip >/dev/null || apt_install gzip
command -v zstd >/dev/null || apt_install zstd
command -v pigz >/dev/null || apt_install pigz

# `start` is idempotent and writes the env file that `env` reads.
"$ROOT/scripts/test-services.sh" start >/dev/null
eval "$("$ROOT/scripts/test-services.sh" env)"

minio_bin=$(ls "$CACHE_DIR"/bin/minio-* 2>/dev/null | head -n1)
cat <<EOF
{
  "s5cmd": { "bin": $(json_str "$S5CMD_BIN"), "version": $(json_str "$("$S5CMD_BIN" version 2>&1 | head -n1)") },
  "warp": { "bin": $(json_str "$WARP_BIN"), "version": $(json_str "$("$WARP_BIN" --version 2>&1 | head -n1 | sed 's/^.* version /warp /')") },
  "aws": { "bin": $(json_str "$AWS_BIN"), "version": $(json_str "$("$AWS_BIN" --version 2>&1 | head -n1)") },
  "time": { "bin": $(json_str "$TIME_BIN"), "version": $(json_str "GNU time $(dpkg-query -W -f='${Version}' time 2>/dev/null || echo unknown)") },
  "gzip": { "bin": $(json_str "$(command -v gzip)"), "version": $(json_str "$(gzip --version | head -n1)") },
  "zstd": { "bin": $(json_str "$(command -v zstd)"), "version": $(json_str "$(zstd --version | sed 's/^\*\*\* //; s/, by .*//')") },
  "pigz": { "bin": $(json_str "$(command -v pigz)"), "version": $(json_str "$(pigz --version 2>&1 | head -n1)") },
  "minio": { "bin": $(json_str "${minio_bin:-}"), "version": $(json_str "$(basename "${minio_bin:-minio-unknown}" | sed 's/^minio-/github.com\/minio\/minio@/')") },
  "endpoint": $(json_str "$S3_ENDPOINT")
}
EOF
