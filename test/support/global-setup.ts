import type { TestProject } from 'vitest/node';
import {
  checkServers,
  dockerAvailable,
  planServers,
  readServicesEnvFile,
  serversFromEnv,
  startServicesScript,
  type TestServers,
} from './servers.js';

declare module 'vitest' {
  export interface ProvidedContext {
    servers: TestServers;
  }
}

/**
 * Chooses the integration test servers, in this order (see `planServers`):
 *  1. endpoints given in the environment (S3_ENDPOINT, PGHOST, MYSQL_HOST, ...), or failing that
 *     the env file that scripts/test-services.sh wrote;
 *  2. Testcontainers, when a Docker engine answers;
 *  3. otherwise scripts/test-services.sh is started here (and left running for the next runs);
 *     under CI or with S3WORKER_NO_AUTO_SERVERS=1 the run fails at once instead, saying how to
 *     get servers. Tests are never skipped.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  let stop = async () => {};
  const fromEnv = serversFromEnv(process.env);
  const scriptEnv = readServicesEnvFile() ?? {};
  // An env file written before ElasticMQ joined counts as none: `start` again adds it and reuses
  // the servers that run.
  let fromScript = fromEnv || !scriptEnv.SQS_ENDPOINT ? undefined : serversFromEnv(scriptEnv);
  const plan = planServers(
    {
      environment: fromEnv !== undefined,
      servicesScript: fromScript !== undefined,
      docker: fromEnv || fromScript ? false : await dockerAvailable(),
    },
    process.env,
  );
  let servers: TestServers;
  switch (plan.action) {
    case 'use':
      servers = { source: plan.source, ...(fromEnv ?? fromScript)! };
      break;
    case 'testcontainers': {
      const { startContainers } = await import('./containers.js');
      const started = await startContainers();
      servers = { source: 'testcontainers', ...started.servers };
      stop = started.stop;
      break;
    }
    case 'start-services-script':
      console.error(
        '[integration servers] none found (no S3_ENDPOINT, no scripts/test-services.sh env file, no Docker engine): starting them with `scripts/test-services.sh start`. The first start builds MinIO and mc from source and takes several minutes; set S3WORKER_NO_AUTO_SERVERS=1 to fail instead.',
      );
      await startServicesScript();
      fromScript = serversFromEnv(readServicesEnvFile() ?? {});
      if (!fromScript) throw new Error('scripts/test-services.sh start wrote no env file');
      servers = { source: 'services-script', ...fromScript };
      console.error(
        '[integration servers] started MinIO, PostgreSQL, MariaDB and ElasticMQ on 127.0.0.1 with scripts/test-services.sh; they keep running for the next test runs. Stop them with `scripts/test-services.sh stop`.',
      );
      break;
    case 'fail':
      throw new Error(plan.message);
  }
  await checkServers(servers);
  console.error(
    `[integration servers] from ${servers.source}: S3 ${servers.s3.endpoint}, PostgreSQL ${servers.postgres.host}:${servers.postgres.port}${servers.postgres18 ? `, PostgreSQL 18 ${servers.postgres18.host}:${servers.postgres18.port}` : ''}, MariaDB ${servers.mysql.host}:${servers.mysql.port}, SQS ${servers.sqs.endpoint}`,
  );
  project.provide('servers', servers);
  return stop;
}
