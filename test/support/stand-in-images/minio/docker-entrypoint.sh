#!/bin/sh
# As the official image's entrypoint: a command that is not `minio` runs as `minio <command>`.
set -e
if [ "$1" != minio ] && [ -n "$1" ]; then
  set -- minio "$@"
fi
exec "$@"
