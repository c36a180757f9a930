#!/usr/bin/env bash
# Runs inside the Dockerfile's Debian stages, never on the host: lays out the files the image
# ships, each program with exactly the shared libraries it loads (ldd), nothing else.
#
#   image-files.sh runtime <root> <native>
#                                        the runtime's filesystem at <root>: Node.js, tini, dash
#                                        and most of coreutils (a shell for RUN steps and `exec`),
#                                        the CA certificates, the users root, nobody and s3worker,
#                                        and the libraries the package's native Node-API modules
#                                        (copied to the folder <native>) load
#   image-files.sh clients <root> <out>  the database client programs the jobs run
#                                        (src/jobs/db-backup/engines/), with the libraries and
#                                        MariaDB auth plugins <root> lacks, at <out>
#
# Each Debian package a file comes from gets its dpkg status entry in var/lib/dpkg/status.d/
# and its copyright file, so image scanners and licence checks see what the image holds.
set -euo pipefail

die() { printf 'image-files: %s\n' "$*" >&2; exit 1; }

# /lib/x86_64-linux-gnu/libc.so.6 -> /usr/lib/x86_64-linux-gnu/libc.so.6: the folder's
# symlinks resolved (Debian's /lib, /lib64, /bin are links into /usr), the name kept.
canonical() {
  local dir
  dir="$(readlink -f "$(dirname "$1")")"
  echo "${dir%/}/$(basename "$1")"
}

# Copies a file or symlink (and the symlink's target) to $out unless $have or $out holds it;
# a program or library brings every library it loads.
add() {
  local path lib deps
  path="$(canonical "$1")"
  [[ -e $have$path || -L $have$path || -e $out$path || -L $out$path ]] && return 0
  [[ -e $path ]] || die "$path is missing"
  mkdir -p "$out$(dirname "$path")"
  cp -a "$path" "$out$path"
  echo "$path" >>"$added"
  if [[ -L $path ]]; then
    add "$(readlink -f "$path")"
  elif [[ -f $path && $(head -c 4 "$path" | tail -c 3) == ELF ]]; then
    add_libraries_of "$path"
  fi
}

# Adds every library the program or library $1 loads (not $1 itself).
add_libraries_of() {
  local lib deps
  deps="$(ldd "$1" 2>/dev/null || true)"
  [[ $deps != *'not found'* ]] || die "$1 needs a library that is missing: $deps"
  # "libc.so.6 => /lib/.../libc.so.6 (0x...)" and the loader "/lib64/ld-linux-x86-64.so.2 (0x...)"
  for lib in $(awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' <<<"$deps"); do
    add "$lib"
  done
}

# A folder as it is (CA certificates), recorded for the package entries.
add_tree() {
  mkdir -p "$out$(dirname "$1")"
  cp -a "$1" "$out$1"
  find "$1" >>"$added"
}

# dpkg status entries and copyright files of the packages the added files belong to.
package_entries() {
  local pkg
  mkdir -p "$out/var/lib/dpkg/status.d"
  # "libc6:amd64: /usr/lib/...", "libc6:amd64, libc6-dev:amd64: /usr/..." for shared paths.
  for pkg in $({ xargs -r dpkg-query -S <"$added" 2>/dev/null || true; } | grep -v '^diversion' |
    sed 's/: .*//; s/:[a-z0-9_]*//g; s/, /\n/g' | sort -u); do
    dpkg-query -s "$pkg" >"$out/var/lib/dpkg/status.d/$pkg"
    if [[ -f /usr/share/doc/$pkg/copyright ]]; then
      mkdir -p "$out/usr/share/doc/$pkg"
      cp "/usr/share/doc/$pkg/copyright" "$out/usr/share/doc/$pkg/"
    fi
  done
}

runtime() {
  out=$1 have=$1
  local native=$2
  mkdir -p "$out"/{usr/bin,usr/sbin,usr/lib,usr/lib64,usr/local/bin,etc,opt,proc,sys,dev,tmp}
  local alias
  for alias in bin lib lib64 sbin; do ln -s "usr/$alias" "$out/$alias"; done
  chmod 1777 "$out/tmp"
  add /usr/local/bin/node
  # The package's native modules (@node-rs/crc32: libgcc_s and glibc's librt, libdl and
  # libpthread, which Node.js itself does not load) come with the package; their libraries
  # come from here. A module that cannot load would silently fall back to slower code.
  local module
  for module in "$native"/*.node; do
    [[ -e $module ]] || die "no native module in $native"
    add_libraries_of "$module"
  done
  add /usr/bin/tini
  add /usr/bin/dash
  ln -s dash "$out/usr/bin/sh"
  # coreutils but the checksum and login-record programs: they alone would bring OpenSSL's
  # libcrypto and libsystemd (7.6 MB) into the core image.
  local program deps
  for program in $(dpkg-query -L coreutils | grep -E '^(/usr)?/s?bin/.'); do
    deps="$(ldd "$program" 2>/dev/null || true)"
    [[ $deps == *libcrypto* || $deps == *libsystemd* ]] || add "$program"
  done
  # Node.js carries its own CA store; these serve --use-system-ca and the database clients'
  # TLS (libpq's sslrootcert=system, MariaDB's server certificate check).
  add_tree /etc/ssl
  add_tree /usr/share/ca-certificates
  add_tree /usr/lib/ssl
  if [[ -d /usr/local/share/ca-certificates ]]; then add_tree /usr/local/share/ca-certificates; fi
  grep -E '^(root|nobody|s3worker):' /etc/passwd >"$out/etc/passwd"
  grep -E '^(root|nogroup|s3worker):' /etc/group >"$out/etc/group"
  [[ $(grep -c . "$out/etc/passwd") == 3 ]] || die "the users root, nobody and s3worker must exist"
  cp -a /etc/nsswitch.conf /etc/debian_version "$out/etc/"
  add /usr/lib/os-release
  ln -s ../usr/lib/os-release "$out/etc/os-release"
  # As Debian has it. Without it podman writes one into every container at start, so the
  # container's layer is never clean, even with a read-only root (`podman diff`: C /etc).
  ln -s ../proc/self/mounts "$out/etc/mtab"
  package_entries
}

# PostgreSQL: the tools the engine runs from /usr/lib/postgresql/<major>/bin (pg_dumpall runs
# the pg_dump beside it). MariaDB: the programs it finds on PATH, and the client library's
# plugins (caching_sha2_password for MySQL 8 servers, client_ed25519, ...).
clients() {
  have=$1 out=$2
  local dir tool plugin found=0
  for dir in /usr/lib/postgresql/*/bin; do
    for tool in pg_dump pg_dumpall pg_restore psql; do add "$dir/$tool"; done
    found=1
  done
  ((found)) || die "no PostgreSQL client is installed"
  add /usr/bin/mariadb
  add /usr/bin/mariadb-dump
  for plugin in /usr/lib/*/libmariadb3/plugin/*.so; do add "$plugin"; done
  package_entries
}

added="$(mktemp)"
trap 'rm -f "$added"' EXIT
case "${1:-}" in
  runtime) [[ $# == 3 ]] || die "usage: image-files.sh runtime <root> <native>"; runtime "$2" "$3" ;;
  clients) [[ $# == 3 ]] || die "usage: image-files.sh clients <root> <out>"; clients "$2" "$3" ;;
  *) die "usage: image-files.sh runtime <root> <native> | clients <root> <out>" ;;
esac
if [[ $1 == runtime ]]; then du -sh "$2" >&2; else du -sh "$3" >&2; fi
