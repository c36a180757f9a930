import type { S3Client } from '@aws-sdk/client-s3';

/** Counts every SDK command `client` sends into `counts`, by command name (`UploadPartCommand`...). */
export function countSdkCommands(client: S3Client, counts: Map<string, number>): void {
  client.middlewareStack.add(
    (next, context) => (args) => {
      const name = context.commandName ?? '?';
      counts.set(name, (counts.get(name) ?? 0) + 1);
      return next(args);
    },
    { step: 'initialize', name: 'countCommands' },
  );
}
