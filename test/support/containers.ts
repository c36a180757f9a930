import { randomBytes } from 'node:crypto';
import type { TestServers } from './servers.js';

/** Images pinned so a run is reproducible. */
export const IMAGES = {
  minio: 'minio/minio:RELEASE.2025-09-07T16-13-09Z',
  postgres: 'postgres:15-alpine',
  mariadb: 'mariadb:10.11',
  elasticmq: 'softwaremill/elasticmq-native:1.7.1',
} as const;

/**
 * Starts MinIO, PostgreSQL, MariaDB and ElasticMQ (SQS) with Testcontainers (needs a Docker engine).
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
  const minioPassword = randomBytes(18).toString('base64url');
  const [minio, postgres, mariadb, elasticmq] = await Promise.all([
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
    new GenericContainer(IMAGES.elasticmq).withExposedPorts(9324).start(),
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
      sqs: {
        endpoint: `http://${elasticmq.getHost()}:${elasticmq.getMappedPort(9324)}`,
        region: 'us-east-1',
      },
    },
    stop: async () => {
      await Promise.allSettled([minio.stop(), postgres.stop(), mariadb.stop(), elasticmq.stop()]);
    },
  };
}
