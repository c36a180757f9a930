import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SERVICES_SCRIPT, type TestServers } from './servers.js';

/**
 * Images pinned so a run is reproducible. Where they cannot be pulled, scripts/test-images.sh
 * builds stand-ins under these very names.
 */
export const IMAGES = {
  minio: 'minio/minio:RELEASE.2025-09-07T16-13-09Z',
  postgres: 'postgres:15-alpine',
  /** The newer major the db-backup version tests need beside 15. */
  postgres18: 'postgres:18-alpine',
  mariadb: 'mariadb:10.11',
  elasticmq: 'softwaremill/elasticmq-native:1.7.1',
} as const;

/** The label on every container a run starts, valued S3WORKER_TEST_RUN (else a random id). */
export const RUN_LABEL = 'org.s3worker.tests';

/**
 * ElasticMQ's configuration, as scripts/test-services.sh writes it: the image's own makes queue
 * URLs of http://localhost:9324, which the worker would send to (it sends to a queue URL's
 * host), not to the mapped port; with the host `*` each URL names the host and port the request
 * came to.
 */
const ELASTICMQ_CONF = `include classpath("application.conf")
node-address { protocol = http, host = "*", port = 9324, context-path = "" }
rest-sqs { enabled = true, bind-port = 9324, bind-hostname = "0.0.0.0", sqs-limits = strict }
rest-stats { enabled = false }
aws { region = us-east-1, accountId = "000000000000" }
`;

/**
 * Starts MinIO, PostgreSQL 15 and 18, MariaDB and ElasticMQ (SQS) with Testcontainers (needs a
 * Docker engine, or podman's Docker API), and finds the client tools the tests run on this
 * machine: MinIO's `mc` and PostgreSQL 18's clients (MC_BIN and PG18_BIN_DIR, else
 * `scripts/test-services.sh clients` builds or fetches them once into its cache).
 * Returns the servers and a function that stops them.
 */
export async function startContainers(): Promise<{
  servers: Omit<TestServers, 'source'>;
  stop: () => Promise<void>;
}> {
  const [{ MinioContainer }, { PostgreSqlContainer }, { MariaDbContainer }, { GenericContainer }] =
    await Promise.all([
      import('@testcontainers/minio'),
      import('@testcontainers/postgresql'),
      import('@testcontainers/mariadb'),
      import('testcontainers'),
    ]);
  const labels = { [RUN_LABEL]: process.env.S3WORKER_TEST_RUN || randomBytes(6).toString('hex') };
  const minioPassword = randomBytes(18).toString('base64url');
  const postgres = (image: string, database: string) =>
    new PostgreSqlContainer(image)
      .withLabels(labels)
      .withDatabase(database)
      .withUsername('s3worker')
      .withPassword(randomBytes(18).toString('base64url'))
      .start();
  const started = await Promise.allSettled([
    new MinioContainer(IMAGES.minio)
      .withLabels(labels)
      .withUsername('s3worker-root')
      .withPassword(minioPassword)
      .start(),
    postgres(IMAGES.postgres, 's3worker'),
    // As the script's 18 server: the default databases only.
    postgres(IMAGES.postgres18, 'postgres'),
    // The tests create and drop their own databases, which the image's MARIADB_USER (rights on
    // MARIADB_DATABASE only) may not: they connect as root.
    new MariaDbContainer(IMAGES.mariadb)
      .withLabels(labels)
      .withDatabase('s3worker')
      .withRootPassword(randomBytes(18).toString('base64url'))
      .start(),
    new GenericContainer(IMAGES.elasticmq)
      .withLabels(labels)
      .withCopyContentToContainer([{ content: ELASTICMQ_CONF, target: '/opt/elasticmq.conf' }])
      .withExposedPorts(9324)
      .start(),
    clientTools(),
  ] as const);
  const containers = started.slice(0, 5) as PromiseSettledResult<{ stop(): Promise<unknown> }>[];
  const tools = started[5].status === 'fulfilled' ? started[5].value : undefined;
  const stop = async () => {
    await Promise.allSettled(
      containers.map((c) => (c.status === 'fulfilled' ? c.value.stop() : undefined)),
    );
    if (tools) await rm(tools.mcConfigDir, { recursive: true, force: true });
  };
  const failed = started.find((s) => s.status === 'rejected');
  if (failed || !tools) {
    await stop();
    throw (failed as PromiseRejectedResult).reason;
  }
  const minio = value(started[0]);
  const pg15 = value(started[1]);
  const pg18 = value(started[2]);
  const mariadb = value(started[3]);
  const elasticmq = value(started[4]);
  const sql = (c: typeof pg15) => ({
    host: loopback(c.getHost()),
    port: c.getPort(),
    user: c.getUsername(),
    password: c.getPassword(),
    database: c.getDatabase(),
  });
  return {
    servers: {
      s3: {
        endpoint: `http://${loopback(minio.getHost())}:${minio.getPort()}`,
        accessKeyId: minio.getUsername(),
        secretAccessKey: minio.getPassword(),
        region: 'us-east-1',
        mc: { bin: tools.mcBin, configDir: tools.mcConfigDir },
      },
      postgres: sql(pg15),
      postgres18: { ...sql(pg18), binDir: tools.pg18BinDir },
      mysql: {
        host: loopback(mariadb.getHost()),
        port: mariadb.getPort(),
        user: 'root',
        password: mariadb.getRootPassword(),
        database: mariadb.getDatabase(),
      },
      sqs: {
        endpoint: `http://${loopback(elasticmq.getHost())}:${elasticmq.getMappedPort(9324)}`,
        region: 'us-east-1',
      },
    },
    stop,
  };
}

/** The value of a settled promise known to have been fulfilled. */
function value<T>(settled: PromiseSettledResult<T>): T {
  return (settled as PromiseFulfilledResult<T>).value;
}

/**
 * The engine's host as an IPv4 address where it is `localhost`: MySQL clients take `localhost`
 * for their Unix socket, not TCP.
 */
function loopback(host: string): string {
  return host === 'localhost' ? '127.0.0.1' : host;
}

/** mc and PostgreSQL 18's client programs, and a config folder of mc's own for this run. */
async function clientTools(): Promise<{ mcBin: string; pg18BinDir: string; mcConfigDir: string }> {
  let { MC_BIN: mcBin, PG18_BIN_DIR: pg18BinDir } = process.env;
  if (!mcBin || !pg18BinDir) {
    const paths = await servicesScriptClients();
    mcBin ||= paths.MC_BIN;
    pg18BinDir ||= paths.PG18_BIN_DIR;
  }
  if (!mcBin || !pg18BinDir) {
    throw new Error('scripts/test-services.sh clients printed no MC_BIN or PG18_BIN_DIR');
  }
  const mcConfigDir = await mkdtemp(join(tmpdir(), 's3worker-mc-'));
  return { mcBin, pg18BinDir, mcConfigDir };
}

/** Runs `scripts/test-services.sh clients` (progress on stderr) and parses the paths it prints. */
function servicesScriptClients(): Promise<Record<string, string>> {
  return new Promise((done, fail) => {
    const child = spawn('bash', [SERVICES_SCRIPT, 'clients'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
    });
    child.once('error', fail);
    child.once('close', (code, signal) => {
      if (code !== 0) {
        fail(
          new Error(
            `${SERVICES_SCRIPT} clients failed (${signal ?? `exit code ${code}`}): the tests need mc and PostgreSQL 18's client programs (or set MC_BIN and PG18_BIN_DIR); its output is above`,
          ),
        );
        return;
      }
      const paths: Record<string, string> = {};
      for (const line of out.split('\n')) {
        const m = /^([A-Z0-9_]+)=(.+)$/.exec(line);
        if (m) paths[m[1]!] = m[2]!;
      }
      done(paths);
    });
  });
}
