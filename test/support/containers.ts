import { randomBytes } from 'node:crypto';
import type { TestServers } from './servers.js';

/** Images pinned so a run is reproducible. */
export const IMAGES = {
  minio: 'minio/minio:RELEASE.2025-09-07T16-13-09Z',
  postgres: 'postgres:15-alpine',
  mariadb: 'mariadb:10.11',
} as const;

/**
 * Starts MinIO, PostgreSQL and MariaDB with Testcontainers (needs a Docker engine).
 * Returns the servers and a function that stops them.
 */
export async function startContainers(): Promise<{
  servers: Omit<TestServers, 'source'>;
  stop: () => Promise<void>;
}> {
  const [{ MinioContainer }, { PostgreSqlContainer }, { MariaDbContainer }] = await Promise.all([
    import('@testcontainers/minio'),
    import('@testcontainers/postgresql'),
    import('@testcontainers/mariadb'),
  ]);
  const minioPassword = randomBytes(18).toString('base64url');
  const [minio, postgres, mariadb] = await Promise.all([
    new MinioContainer(IMAGES.minio)
      .withUsername('s3worker-root')
      .withPassword(minioPassword)
      .start(),
    new PostgreSqlContainer(IMAGES.postgres)
      .withDatabase('s3worker')
      .withUsername('s3worker')
      .withPassword(randomBytes(18).toString('base64url'))
      .start(),
    new MariaDbContainer(IMAGES.mariadb)
      .withDatabase('s3worker')
      .withUsername('s3worker')
      .withUserPassword(randomBytes(18).toString('base64url'))
      .start(),
  ]);
  return {
    servers: {
      s3: {
        endpoint: minio.getConnectionUrl(),
        accessKeyId: minio.getUsername(),
        secretAccessKey: minio.getPassword(),
        region: 'us-east-1',
      },
      postgres: {
        host: postgres.getHost(),
        port: postgres.getPort(),
        user: postgres.getUsername(),
        password: postgres.getPassword(),
        database: postgres.getDatabase(),
      },
      mysql: {
        host: mariadb.getHost(),
        port: mariadb.getPort(),
        user: mariadb.getUsername(),
        password: mariadb.getUserPassword(),
        database: mariadb.getDatabase(),
      },
    },
    stop: async () => {
      await Promise.allSettled([minio.stop(), postgres.stop(), mariadb.stop()]);
    },
  };
}
