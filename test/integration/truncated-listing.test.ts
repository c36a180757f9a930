import { describe, expect, inject, it } from 'vitest';
import { listObjects } from '../../src/s3/list-objects.js';
import { putObjects } from '../fixtures/stream-transform/harness.js';
import { DropContinuationToken } from '../support/fault-handlers.js';
import { adminClient } from '../support/s3.js';
import { useTestBucket } from '../support/test-bucket.js';

describe('a truncated listing without a continuation token', () => {
  const servers = inject('servers');
  const bucket = useTestBucket(servers.s3, 'trunc');

  it('fails loudly instead of ending the listing early', async () => {
    await putObjects(
      bucket.admin,
      bucket.name,
      Array.from({ length: 5 }, (_, i) => ({ key: `l/${i}`, body: 'x' })),
    );
    const client = adminClient(servers.s3, { requestHandler: new DropContinuationToken() });
    const seen: string[] = [];
    try {
      const listing = (async () => {
        for await (const o of listObjects(client, {
          bucket: bucket.name,
          prefix: 'l/',
          pageSize: 2,
        })) {
          seen.push(o.key);
        }
      })();
      await expect(listing).rejects.toMatchObject({ code: 'LISTING_TRUNCATED' });
      expect(seen).toEqual(['l/0', 'l/1']);
    } finally {
      client.destroy();
    }
  });
});
