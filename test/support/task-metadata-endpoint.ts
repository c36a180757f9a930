import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

const fixture = (name: string): string =>
  readFileSync(new URL(`../fixtures/ecs-task-metadata/${name}`, import.meta.url), 'utf8');

/** The documented Fargate task response the endpoint serves at `/task`, parsed. */
export const FARGATE_TASK = JSON.parse(fixture('fargate-task.json')) as {
  Cluster: string;
  TaskARN: string;
  Family: string;
  Revision: string;
  AvailabilityZone: string;
  LaunchType: string;
};
/** The documented container response the endpoint serves at its root, parsed. */
export const FARGATE_CONTAINER = JSON.parse(fixture('fargate-container.json')) as { Name: string };

/** A served ECS task metadata endpoint (v4) for a CLI run. */
export interface TaskMetadataEndpoint {
  /** The value for `ECS_CONTAINER_METADATA_URI_V4`. */
  uri: string;
  close(): Promise<void>;
}

/**
 * An ECS task metadata endpoint v4 on 127.0.0.1 answering the container path and `/task` with
 * the responses of a Fargate task as AWS's documentation shows them
 * (test/fixtures/ecs-task-metadata/); anything else is a 404.
 */
export async function serveTaskMetadata(): Promise<TaskMetadataEndpoint> {
  const prefix = '/v4/0123456789abcdef-1234567890';
  const server = createServer((req, res) => {
    const body =
      req.url === prefix
        ? fixture('fargate-container.json')
        : req.url === `${prefix}/task`
          ? fixture('fargate-task.json')
          : undefined;
    if (body === undefined) res.writeHead(404).end();
    else res.writeHead(200, { 'content-type': 'application/json' }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    uri: `http://127.0.0.1:${port}${prefix}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
