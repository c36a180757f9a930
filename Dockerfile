# syntax=docker/dockerfile:1
# s3worker image: one image, every built-in job; pick the job with `run <job>` or S3WORKER_JOB.
#
#   docker build -t s3worker .
#   docker run --rm --read-only -e AWS_REGION -e AWS_ACCESS_KEY_ID -e AWS_SECRET_ACCESS_KEY \
#     s3worker run stream-transform --input s3://in/raw/ --output s3://out/gz/ --transform gzip
#
# CI has no Docker engine: test/unit/dockerfile.test.ts lints this file and checks each property
# below, and test/integration/package-install.test.ts replays the install stage (npm pack, then a
# production-only install) and runs the installed CLI against MinIO.

# Debian 13 (trixie): its postgresql-client is 17 and mariadb-client 11.8. pg_dump refuses a
# server of a newer major version, so bump the base image (or add PGDG's client) for newer servers.
ARG NODE_IMAGE=node:24-trixie-slim

# ---- build: compile TypeScript, then lay the package out exactly as `npm install` would ----------
FROM ${NODE_IMAGE} AS build
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.build.json README.md ./
COPY src ./src
# The runtime gets what `npm pack` ships (package.json "files") plus production dependencies
# pinned by the lockfile, at /opt/s3worker/node_modules/s3worker: a user's job module placed
# anywhere under /opt/s3worker resolves `import ... from 's3worker'` to this very copy.
COPY scripts/install-package.mjs ./scripts/
RUN npm run build \
 && npm pack --pack-destination /tmp \
 && node scripts/install-package.mjs /tmp/s3worker-*.tgz /opt/s3worker

# ---- runtime -----------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
# Database clients for db-backup/db-restore; tini as PID 1 forwards SIGTERM and reaps zombies.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates tini postgresql-client mariadb-client \
 && rm -rf /var/lib/apt/lists/*
# A fixed numeric uid/gid so the task definition's "user" and volume ownership agree.
RUN groupadd --system --gid 10001 s3worker \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin s3worker
COPY --from=build /opt/s3worker /opt/s3worker
RUN ln -s /opt/s3worker/node_modules/.bin/s3worker /usr/local/bin/s3worker \
 && mkdir -p /tmp/s3worker \
 && chown 10001:10001 /tmp/s3worker \
 && chmod 0700 /tmp/s3worker
# V8's compiled code of the CLI, written once here and only read at run time (a read-only
# directory is fine): every start skips compiling the SDK (see src/cli/main.ts).
ENV NODE_COMPILE_CACHE=/opt/s3worker/compile-cache
RUN s3worker jobs > /dev/null \
 && chmod -R a+rX /opt/s3worker/compile-cache

# The only writable path: status file, failure reports, any temp file (TMPDIR too). With a
# read-only root filesystem the task mounts a scratch volume here; ECS copies this directory's
# ownership into a bind-mount volume whose containerPath matches this VOLUME, so uid 10001 can
# write to it.
ENV NODE_ENV=production \
    S3WORKER_TMPDIR=/tmp/s3worker \
    TMPDIR=/tmp/s3worker
VOLUME ["/tmp/s3worker"]

USER 10001:10001
WORKDIR /opt/s3worker
# -s: stay a subreaper when not PID 1 (ECS initProcessEnabled or `docker run --init` put their
# own init in front of it).
ENTRYPOINT ["tini", "-s", "--", "s3worker"]
CMD ["--help"]
# Unhealthy when the running job has made no progress for S3WORKER_HEALTHCHECK_MAX_AGE (5m).
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
  CMD ["s3worker", "healthcheck"]
