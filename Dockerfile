# syntax=docker/dockerfile:1
# s3worker image: one image, every built-in job; pick the job with `run <job>` or S3WORKER_JOB.
#
#   npm run image                       (docker, or podman where no Docker engine answers)
#   docker build -t s3worker .          the default target: every job
#   docker build --target core -t s3worker:core .
#                                       stream-transform and ship-logs, no database clients
#   docker run --rm --read-only -e AWS_REGION -e AWS_ACCESS_KEY_ID -e AWS_SECRET_ACCESS_KEY \
#     s3worker run stream-transform --input s3://in/raw/ --output s3://out/gz/ --transform gzip
#
# test/unit/dockerfile.test.ts lints this file and checks each property below, and
# test/integration/package-install.test.ts replays the install stage (npm pack, then a
# production-only install) and runs the installed CLI against MinIO.
#
# Size: on Fargate every task start pulls the whole image, so the runtime holds only the
# programs it runs (Node.js, tini, a shell; the database clients in the default target), each
# with the libraries it loads, from the Debian base image. Sizes: docs/deploy.md.

# Debian 13 (trixie). Fully qualified, so podman resolves it as docker does.
ARG NODE_IMAGE=docker.io/library/node:24-trixie-slim

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
# The package's native Node-API modules, copied aside for the rootfs stage to add the libraries
# they load (the runtime has only those Node.js loads).
RUN npm run build \
 && npm pack --pack-destination /tmp \
 && node scripts/install-package.mjs /tmp/s3worker-*.tgz /opt/s3worker \
 && mkdir /native \
 && find /opt/s3worker -name '*.node' -exec cp {} /native/ ';'

# ---- rootfs: the runtime's filesystem, laid out at /rootfs -------------------------------------
FROM ${NODE_IMAGE} AS rootfs
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates tini \
 && rm -rf /var/lib/apt/lists/*
# A fixed numeric uid/gid so the task definition's "user" and volume ownership agree.
RUN groupadd --system --gid 10001 s3worker \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin s3worker
# Node.js, tini as PID 1 (forwards SIGTERM, reaps zombies), dash and coreutils, the CA
# certificates and the users, each program with the libraries it loads. Not npm, npx, corepack
# or yarn, nor apt, dpkg and perl: nothing installs packages at run time.
COPY scripts/image-files.sh /usr/local/bin/
COPY --from=build /native /native
RUN image-files.sh runtime /rootfs /native

# ---- clients: the database client programs the jobs run, and the libraries /rootfs lacks -----
FROM rootfs AS clients
# PostgreSQL: pg_dump refuses a server of a newer major, and a backup restores into a server of
# its own major only when dumped by that major's client: a newer pg_dump's archive needs a
# pg_restore as new, and pg_restore 17 and newer send SET transaction_timeout, which a server
# before 17 refuses (docs/db-backup.md). So the image carries trixie's 17, 15 from the release
# before (PG_PREV_SUITE: bookworm; Debian has no 16) and 18 from the next one (PG_NEXT_SUITE:
# forky). Those suites are pinned below trixie but for their client package and, from forky,
# the libpq5 every client loads (one libpq5, the newest; it serves the older majors), so every
# other library stays trixie's. The job picks the client of the server's own major, else the
# oldest newer one.
# MariaDB: trixie's 11.8 (mariadb, mariadb-dump). Only these programs reach the image: not
# Debian's perl wrappers, nor the rest of the packages.
ARG PG_PREV_SUITE=bookworm
ARG PG_NEXT_SUITE=forky
RUN . /etc/os-release \
 && sed "/^Suites:/ s/${VERSION_CODENAME}/${PG_PREV_SUITE}/g" /etc/apt/sources.list.d/debian.sources \
      > /etc/apt/sources.list.d/prev.sources \
 && for suite in "${PG_PREV_SUITE}" "${PG_PREV_SUITE}-updates" "${PG_PREV_SUITE}-security"; do \
      printf 'Package: *\nPin: release n=%s\nPin-Priority: 100\n\nPackage: %s\nPin: release n=%s\nPin-Priority: 600\n\n' \
        "$suite" postgresql-client-15 "$suite"; \
    done > /etc/apt/preferences.d/prev \
 && awk -v suite="${PG_NEXT_SUITE}" '/^$/ { exit } /^Suites:/ { $0 = "Suites: " suite } { print }' \
      /etc/apt/sources.list.d/debian.sources > /etc/apt/sources.list.d/next.sources \
 && printf 'Package: *\nPin: release n=%s\nPin-Priority: 100\n\nPackage: %s\nPin: release n=%s\nPin-Priority: 600\n' \
      "${PG_NEXT_SUITE}" 'postgresql-client-18 libpq5' "${PG_NEXT_SUITE}" > /etc/apt/preferences.d/next \
 && apt-get update \
 && apt-get install -y --no-install-recommends postgresql-client-15 postgresql-client-17 \
      postgresql-client-18 mariadb-client
RUN image-files.sh clients /rootfs /out

# ---- core: stream-transform and ship-logs (every job but the database ones) ------------------
# One layer of the runtime's files (FROM scratch: files deleted in a later layer would still
# be pulled), then the package.
FROM scratch AS core
COPY --from=rootfs /rootfs /
COPY --from=build /opt/s3worker /opt/s3worker
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
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
# Filled in by `npm run image` (scripts/build-image.sh).
ARG S3WORKER_VERSION=""
ARG S3WORKER_REVISION=""
ARG S3WORKER_SOURCE=""
LABEL org.opencontainers.image.title="s3worker" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${S3WORKER_VERSION}" \
      org.opencontainers.image.revision="${S3WORKER_REVISION}" \
      org.opencontainers.image.source="${S3WORKER_SOURCE}"

# ---- default: every job, with the database clients ---------------------------------------------
FROM core AS default
COPY --from=clients /out /
# Each client starts here, with this image's libraries: a missing one fails the build.
RUN for tool in /usr/lib/postgresql/*/bin/* /usr/bin/mariadb /usr/bin/mariadb-dump; do \
      "$tool" --version > /dev/null || exit 1; \
    done
