import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/** The S3 server the integration tests talk to. */
export interface S3Server {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
  /** MinIO's admin client, when the server is a local MinIO started by scripts/test-services.sh. */
  mc?: { bin: string; configDir: string };
}

export interface SqlServer {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
}

/**
 * The newer PostgreSQL major (18) the db-backup version tests need beside `postgres` (15), and
 * where this machine has its client programs (pg_dump, pg_restore, psql of 18).
 */
export interface Pg18Server extends SqlServer {
  binDir: string;
}

/** The SQS server (ElasticMQ) the queue-mode tests talk to; it accepts any credentials. */
export interface SqsServer {
  endpoint: string;
  region: string;
}

export interface TestServers {
  /** Where the servers came from, printed at the start of the run. */
  source: 'environment' | 'services-script' | 'testcontainers';
  s3: S3Server;
  postgres: SqlServer;
  /** Absent where the environment names none (PG18_PORT unset). */
  postgres18?: Pg18Server;
  mysql: SqlServer;
  sqs: SqsServer;
}

export type Env = Record<string, string | undefined>;

const SCRIPT_HINT =
  'start local servers with `scripts/test-services.sh start` (no Docker needed), or run a Docker engine so Testcontainers can start them, or set S3_ENDPOINT/S3_ACCESS_KEY_ID/S3_SECRET_ACCESS_KEY, PGHOST/PGPORT/PGUSER/PGPASSWORD, MYSQL_HOST/MYSQL_PORT/MYSQL_USER/MYSQL_PASSWORD and SQS_ENDPOINT (and PG18_PORT/PG18_BIN_DIR for the PostgreSQL 18 tests)';

/** The env file scripts/test-services.sh writes, parsed; undefined when it has not run. */
export function readServicesEnvFile(env: Env = process.env): Env | undefined {
  const dir = env.S3WORKER_SERVICES_DIR ?? join(env.TMPDIR ?? tmpdir(), 's3worker-services');
  const file = join(dir, 'env');
  if (!existsSync(file)) return undefined;
  const out: Env = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m) out[m[1]!] = m[2];
  }
  return out;
}

/** Servers described by environment variables, or undefined when S3_ENDPOINT is not set. */
export function serversFromEnv(env: Env): Omit<TestServers, 'source'> | undefined {
  if (!env.S3_ENDPOINT) return undefined;
  const missing = [
    'S3_ACCESS_KEY_ID',
    'S3_SECRET_ACCESS_KEY',
    'PGHOST',
    'PGPORT',
    'PGUSER',
    'PGPASSWORD',
    'MYSQL_HOST',
    'MYSQL_PORT',
    'MYSQL_USER',
    'MYSQL_PASSWORD',
    'SQS_ENDPOINT',
    // PostgreSQL 18 is optional, but its port without its client programs is of no use.
    ...(env.PG18_PORT ? ['PG18_BIN_DIR'] : []),
  ].filter((k) => !env[k]);
  if (missing.length > 0) {
    throw new Error(
      `S3_ENDPOINT is set but ${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} not; ${SCRIPT_HINT}`,
    );
  }
  const mc =
    env.MC_BIN && env.MC_CONFIG_DIR ? { bin: env.MC_BIN, configDir: env.MC_CONFIG_DIR } : undefined;
  return {
    s3: {
      endpoint: env.S3_ENDPOINT,
      accessKeyId: env.S3_ACCESS_KEY_ID!,
      secretAccessKey: env.S3_SECRET_ACCESS_KEY!,
      region: env.S3_REGION ?? 'us-east-1',
      ...(mc ? { mc } : {}),
    },
    postgres: {
      host: env.PGHOST!,
      port: Number(env.PGPORT),
      user: env.PGUSER!,
      password: env.PGPASSWORD!,
      database: env.PGDATABASE ?? 'postgres',
    },
    ...(env.PG18_PORT
      ? {
          postgres18: {
            host: env.PGHOST!,
            port: Number(env.PG18_PORT),
            user: env.PGUSER!,
            password: env.PGPASSWORD!,
            // Only the default databases are there: its admin connects to `postgres`.
            database: 'postgres',
            binDir: env.PG18_BIN_DIR!,
          },
        }
      : {}),
    mysql: {
      host: env.MYSQL_HOST!,
      port: Number(env.MYSQL_PORT),
      user: env.MYSQL_USER!,
      password: env.MYSQL_PASSWORD!,
      database: env.MYSQL_DATABASE ?? 'mysql',
    },
    sqs: { endpoint: env.SQS_ENDPOINT!, region: env.S3_REGION ?? 'us-east-1' },
  };
}

/** Resolves when host:port accepts a TCP connection; rejects after `timeoutMs`. */
export function probeTcp(host: string, port: number, timeoutMs = 3000): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer from ${host}:${port} within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.end();
      resolve();
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** Checks the S3 server answers an S3 request (ListBuckets) with the given keys. */
export async function probeS3(s3: S3Server): Promise<void> {
  const [{ ListBucketsCommand }, { adminClient }] = await Promise.all([
    import('@aws-sdk/client-s3'),
    import('./s3.js'),
  ]);
  const client = adminClient(s3, { maxAttempts: 1 });
  try {
    await client.send(new ListBucketsCommand({}), { abortSignal: AbortSignal.timeout(5000) });
  } finally {
    client.destroy();
  }
}

/** Checks the SQS server answers an SQS request (ListQueues). */
export async function probeSqs(sqs: SqsServer): Promise<void> {
  const { ListQueuesCommand, SQSClient } = await import('@aws-sdk/client-sqs');
  const client = new SQSClient({
    endpoint: sqs.endpoint,
    region: sqs.region,
    credentials: { accessKeyId: 'probe', secretAccessKey: 'probe' },
    maxAttempts: 1,
  });
  try {
    await client.send(new ListQueuesCommand({}), { abortSignal: AbortSignal.timeout(5000) });
  } finally {
    client.destroy();
  }
}

/** Every server answers, or one error that names each one that does not and how to fix it. */
export async function checkServers(servers: Omit<TestServers, 'source'>): Promise<void> {
  const problems: string[] = [];
  await Promise.all([
    probeS3(servers.s3).catch((err: Error) => {
      problems.push(`S3 (MinIO) at ${servers.s3.endpoint} is not answering: ${describe(err)}`);
    }),
    probeTcp(servers.postgres.host, servers.postgres.port).catch((err: Error) => {
      problems.push(
        `PostgreSQL at ${servers.postgres.host}:${servers.postgres.port} is not answering: ${describe(err)}`,
      );
    }),
    ...(servers.postgres18
      ? [
          probeTcp(servers.postgres18.host, servers.postgres18.port).catch((err: Error) => {
            problems.push(
              `PostgreSQL 18 at ${servers.postgres18!.host}:${servers.postgres18!.port} is not answering: ${describe(err)}`,
            );
          }),
        ]
      : []),
    probeTcp(servers.mysql.host, servers.mysql.port).catch((err: Error) => {
      problems.push(
        `MariaDB at ${servers.mysql.host}:${servers.mysql.port} is not answering: ${describe(err)}`,
      );
    }),
    probeSqs(servers.sqs).catch((err: Error) => {
      problems.push(
        `SQS (ElasticMQ) at ${servers.sqs.endpoint} is not answering: ${describe(err)}`,
      );
    }),
  ]);
  if (problems.length > 0) {
    throw new Error(
      `integration test servers are missing:\n  - ${problems.join('\n  - ')}\n${SCRIPT_HINT}`,
    );
  }
}

function describe(err: Error): string {
  const code = (err as NodeJS.ErrnoException).code;
  const inner = (err as { errors?: Error[] }).errors?.[0];
  return [code, err.message || inner?.message || err.name].filter(Boolean).join(' ');
}

/** True when a Docker engine answers (so Testcontainers can start servers). */
export async function dockerAvailable(): Promise<boolean> {
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    await getContainerRuntimeClient();
    return true;
  } catch {
    return false;
  }
}

export const NO_SERVERS_MESSAGE = `no integration test servers: S3_ENDPOINT is not set, scripts/test-services.sh has not been started, and no Docker engine answers for Testcontainers.\n${SCRIPT_HINT}`;

/** The script that starts local servers without Docker (the one `.ci/run` uses). */
export const SERVICES_SCRIPT = resolve(import.meta.dirname, '../../scripts/test-services.sh');

/** What the global setup found before choosing. */
export interface FoundServers {
  /** S3_ENDPOINT and the rest are set in the environment. */
  environment: boolean;
  /** The env file of scripts/test-services.sh exists. */
  servicesScript: boolean;
  /** A Docker engine answers (only asked when neither of the above). */
  docker: boolean;
}

/** How the global setup gets its servers. */
export type ServerPlan =
  | { action: 'use'; source: 'environment' | 'services-script' }
  | { action: 'testcontainers' }
  /** Run `scripts/test-services.sh start`, then use the env file it wrote. */
  | { action: 'start-services-script' }
  | { action: 'fail'; message: string };

/** True for a set flag: anything but unset, empty, `0`, `false` or `no`. */
function flagSet(value: string | undefined): boolean {
  return value !== undefined && !['', '0', 'false', 'no'].includes(value.trim().toLowerCase());
}

/**
 * Chooses where the integration test servers come from: endpoints in the environment, then the
 * env file of scripts/test-services.sh, then Testcontainers; with none of them, the script is
 * started on the spot, except under CI (`CI` set) or with `S3WORKER_NO_AUTO_SERVERS=1`, where the
 * run fails at once and says how to get servers. Pure: the caller probes, this decides.
 */
export function planServers(found: FoundServers, env: Env): ServerPlan {
  if (found.environment) return { action: 'use', source: 'environment' };
  if (found.servicesScript) return { action: 'use', source: 'services-script' };
  if (found.docker) return { action: 'testcontainers' };
  if (flagSet(env.CI)) {
    return {
      action: 'fail',
      message: `${NO_SERVERS_MESSAGE}\n(CI is set, so the servers are not started automatically.)`,
    };
  }
  if (flagSet(env.S3WORKER_NO_AUTO_SERVERS)) {
    return {
      action: 'fail',
      message: `${NO_SERVERS_MESSAGE}\n(S3WORKER_NO_AUTO_SERVERS is set, so the servers are not started automatically.)`,
    };
  }
  return { action: 'start-services-script' };
}

/**
 * Runs `<script> start` (argument array, no shell) with its progress on this process's stderr,
 * so a first start's several-minute MinIO build is visible. Its stdout (the env lines, with the
 * servers' passwords) is not shown: the env file it writes is read instead.
 */
export function startServicesScript(script = SERVICES_SCRIPT): Promise<void> {
  return new Promise((done, fail) => {
    const child = spawn('bash', [script, 'start'], { stdio: ['ignore', 'ignore', 'inherit'] });
    child.once('error', fail);
    child.once('close', (code, signal) => {
      if (code === 0) done();
      else {
        fail(
          new Error(
            `${script} start failed (${signal ?? `exit code ${code}`}); its output is above.\n${SCRIPT_HINT}`,
          ),
        );
      }
    });
  });
}
