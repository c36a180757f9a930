import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { checkServers, serversFromEnv } from '../support/servers.js';

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
    expect(err?.message).toContain('scripts/test-services.sh start');
  });

  it('refuses a partial environment and names each missing variable', () => {
    expect(() => serversFromEnv({ S3_ENDPOINT: 'http://127.0.0.1:1', PGHOST: 'h' })).toThrow(
      /S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY, PGPORT, PGUSER, PGPASSWORD, MYSQL_HOST/,
    );
  });

  it('uses no environment servers when S3_ENDPOINT is unset', () => {
    expect(serversFromEnv({ PGHOST: 'h' })).toBeUndefined();
  });
});
