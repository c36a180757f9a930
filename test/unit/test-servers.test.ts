import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  checkServers,
  type FoundServers,
  planServers,
  serversFromEnv,
  startServicesScript,
} from '../support/servers.js';

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

describe('choosing the integration test servers', () => {
  it('fails loudly, naming MinIO and saying how to start it, when the S3 server is down', async () => {
    const port = await closedPort();
    const servers = serversFromEnv({
      S3_ENDPOINT: `http://127.0.0.1:${port}`,
      S3_ACCESS_KEY_ID: 'k',
      S3_SECRET_ACCESS_KEY: 's',
      PGHOST: '127.0.0.1',
      PGPORT: String(port),
      PGUSER: 'u',
      PGPASSWORD: 'p',
      MYSQL_HOST: '127.0.0.1',
      MYSQL_PORT: String(port),
      MYSQL_USER: 'u',
      MYSQL_PASSWORD: 'p',
      SQS_ENDPOINT: `http://127.0.0.1:${port}`,
    })!;
    const err = await checkServers(servers).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err?.message).toMatch(
      new RegExp(`S3 \\(MinIO\\) at http://127.0.0.1:${port} is not answering`),
    );
    expect(err?.message).toContain('PostgreSQL at');
    expect(err?.message).toContain('MariaDB at');
    expect(err?.message).toMatch(
      new RegExp(`SQS \\(ElasticMQ\\) at http://127.0.0.1:${port} is not answering`),
    );
    expect(err?.message).toContain('scripts/test-services.sh start');
  });

  it('refuses a partial environment and names each missing variable', () => {
    expect(() => serversFromEnv({ S3_ENDPOINT: 'http://127.0.0.1:1', PGHOST: 'h' })).toThrow(
      /S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY, PGPORT, PGUSER, PGPASSWORD, MYSQL_HOST/,
    );
  });

  it('carries PostgreSQL 18 with its client programs when PG18_PORT is set, and refuses it without PG18_BIN_DIR', () => {
    const env = {
      S3_ENDPOINT: 'http://127.0.0.1:1',
      S3_ACCESS_KEY_ID: 'k',
      S3_SECRET_ACCESS_KEY: 's',
      PGHOST: '127.0.0.1',
      PGPORT: '2',
      PGUSER: 'u',
      PGPASSWORD: 'p',
      PGDATABASE: 'd',
      MYSQL_HOST: '127.0.0.1',
      MYSQL_PORT: '3',
      MYSQL_USER: 'u',
      MYSQL_PASSWORD: 'p',
      SQS_ENDPOINT: 'http://127.0.0.1:4',
    };
    expect(serversFromEnv(env)?.postgres18).toBeUndefined();
    expect(
      serversFromEnv({ ...env, PG18_PORT: '5', PG18_BIN_DIR: '/pg18/bin' })?.postgres18,
    ).toEqual({
      host: '127.0.0.1',
      port: 5,
      user: 'u',
      password: 'p',
      database: 'postgres',
      binDir: '/pg18/bin',
    });
    expect(() => serversFromEnv({ ...env, PG18_PORT: '5' })).toThrow(/PG18_BIN_DIR is not/);
  });

  it('uses no environment servers when S3_ENDPOINT is unset', () => {
    expect(serversFromEnv({ PGHOST: 'h' })).toBeUndefined();
  });
});

describe('what the test setup does when it finds no servers', () => {
  const none: FoundServers = { environment: false, servicesScript: false, docker: false };

  it('uses what it found, in order: environment, the services env file, Docker', () => {
    expect(planServers({ environment: true, servicesScript: true, docker: true }, {})).toEqual({
      action: 'use',
      source: 'environment',
    });
    expect(planServers({ ...none, servicesScript: true, docker: true }, { CI: 'true' })).toEqual({
      action: 'use',
      source: 'services-script',
    });
    expect(planServers({ ...none, docker: true }, { CI: 'true' })).toEqual({
      action: 'testcontainers',
    });
  });

  it('starts scripts/test-services.sh on a machine with nothing found', () => {
    expect(planServers(none, {})).toEqual({ action: 'start-services-script' });
    expect(planServers(none, { CI: 'false', S3WORKER_NO_AUTO_SERVERS: '0' })).toEqual({
      action: 'start-services-script',
    });
  });

  it('fails loudly instead under CI, saying why nothing was started', () => {
    const plan = planServers(none, { CI: 'true' });
    expect(plan.action).toBe('fail');
    expect(plan.action === 'fail' && plan.message).toMatch(/scripts\/test-services\.sh start/);
    expect(plan.action === 'fail' && plan.message).toMatch(/CI is set/);
    expect(planServers(none, { CI: '1' }).action).toBe('fail');
  });

  it('fails loudly instead with S3WORKER_NO_AUTO_SERVERS=1', () => {
    const plan = planServers(none, { S3WORKER_NO_AUTO_SERVERS: '1' });
    expect(plan.action).toBe('fail');
    expect(plan.action === 'fail' && plan.message).toMatch(/S3WORKER_NO_AUTO_SERVERS is set/);
  });

  it('turns a failed start of the script into an error naming it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 's3worker-services-script-'));
    try {
      const script = join(dir, 'test-services.sh');
      writeFileSync(script, 'echo "S3_SECRET_ACCESS_KEY=not-shown"; exit 3\n');
      const err = await startServicesScript(script).then(
        () => undefined,
        (e: Error) => e,
      );
      expect(err?.message).toContain(`${script} start failed (exit code 3)`);
      expect(err?.message).not.toContain('not-shown');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the local servers script', () => {
  it('listens below the ephemeral port range, where no outgoing connection can hold its ports', () => {
    const script = readFileSync(new URL('../../scripts/test-services.sh', import.meta.url), 'utf8');
    const defaults = [...script.matchAll(/^\w+_PORT="\$\{S3WORKER_\w+_PORT:-(\d+)\}"$/gm)].map(
      (m) => Number(m[1]),
    );
    // MinIO, PostgreSQL, MariaDB, PostgreSQL 18, ElasticMQ.
    expect(defaults).toHaveLength(5);
    // Linux's default ip_local_port_range starts at 32768; MinIO's console takes its port + 1.
    for (const port of defaults) {
      expect(port).toBeGreaterThanOrEqual(1024);
      expect(port + 1).toBeLessThan(32768);
    }
  });
});
