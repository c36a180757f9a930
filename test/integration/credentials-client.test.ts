import { ListBucketsCommand } from '@aws-sdk/client-s3';
import { describe, expect, inject, it } from 'vitest';
import { createS3Client } from '../../src/s3/client.js';

describe('createS3Client against MinIO', () => {
  const { s3 } = inject('servers');

  it('uses environment keys from the env it is given, path-style on the endpoint, and says so', async () => {
    const created = await createS3Client({
      env: {
        AWS_ACCESS_KEY_ID: s3.accessKeyId,
        AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
        AWS_ENDPOINT_URL_S3: s3.endpoint,
      },
    });
    try {
      expect(created.credentials).toEqual({ source: 'env' });
      expect(created.region).toBe('us-east-1');
      expect(created.endpoint).toBe(s3.endpoint);
      const out = await created.client.send(new ListBucketsCommand({}));
      expect(out.$metadata.httpStatusCode).toBe(200);
    } finally {
      created.client.destroy();
    }
  });
});
