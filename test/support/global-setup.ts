import type { TestProject } from 'vitest/node';
import {
  checkServers,
  dockerAvailable,
  NO_SERVERS_MESSAGE,
  readServicesEnvFile,
  serversFromEnv,
  type TestServers,
} from './servers.js';

declare module 'vitest' {
  export interface ProvidedContext {
    servers: TestServers;
  }
}

/**
 * Chooses the integration test servers, in this order:
 *  1. endpoints given in the environment (S3_ENDPOINT, PGHOST, MYSQL_HOST, ...), or failing that
 *     the env file that scripts/test-services.sh wrote;
 *  2. Testcontainers, when a Docker engine answers;
 *  3. otherwise the run fails at once, saying how to get servers. Tests are never skipped.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  let servers: TestServers;
  let stop = async () => {};
  const fromEnv = serversFromEnv(process.env);
  const fromScript = fromEnv ? undefined : serversFromEnv(readServicesEnvFile() ?? {});
  if (fromEnv) {
    servers = { source: 'environment', ...fromEnv };
  } else if (fromScript) {
    servers = { source: 'services-script', ...fromScript };
  } else if (await dockerAvailable()) {
    const { startContainers } = await import('./containers.js');
    const started = await startContainers();
    servers = { source: 'testcontainers', ...started.servers };
    stop = started.stop;
  } else {
    throw new Error(NO_SERVERS_MESSAGE);
  }
  await checkServers(servers);
  console.error(
    `[integration servers] from ${servers.source}: S3 ${servers.s3.endpoint}, PostgreSQL ${servers.postgres.host}:${servers.postgres.port}, MariaDB ${servers.mysql.host}:${servers.mysql.port}`,
  );
  project.provide('servers', servers);
  return stop;
}
