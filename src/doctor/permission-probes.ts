import { randomBytes } from 'node:crypto';
import {
  AbortMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  PutObjectTaggingCommand,
} from '@aws-sdk/client-s3';
import type { Permission } from '../jobs/permissions.js';
import { probeQueuePermissions } from './probe-queue.js';
import type { Prober } from './prober.js';

/** An ETag no object has: a write conditional on it cannot succeed. */
const NO_SUCH_ETAG = '"00000000000000000000000000000000"';

/** A key under `prefix` that no object has, for probes that must not touch real data. */
function probeKey(prefix: string): string {
  return `${prefix}.s3worker-doctor-${randomBytes(6).toString('hex')}`;
}

function statusOf(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
}

/** Whether `perms` grant `action` on `bucket` for keys under `prefix`. */
function declares(perms: readonly Permission[], action: string, bucket: string, prefix: string) {
  return perms.some(
    (p) => p.action === action && p.bucket === bucket && prefix.startsWith(p.prefix ?? ''),
  );
}

/**
 * Probes each permission the way the job's own generated policy allows and leaves nothing
 * behind: reads read one byte or HEAD a key that does not exist, writes are a multipart upload
 * started and aborted (or, without `s3:AbortMultipartUpload`, a PutObject conditional on an ETag
 * no object has), tagging and deletes target a key that does not exist. One check per
 * permission, named by the job's reason for it. SQS actions are probed on the queue their
 * permission's `url` names (see probe-queue.ts). Actions with no probe (KMS, others) are listed
 * as skipped with why; what could not be cleaned up goes to `leftovers`.
 */
export async function probePermissions(
  probe: Prober,
  perms: readonly Permission[],
  leftovers: string[],
): Promise<void> {
  /** Results of the list probes, so a read probe knows whether a 403 can mean "missing". */
  const listed = new Map<string, boolean>();
  // Lists first: whether listing is allowed decides what a read probe's 403 means.
  const ordered = [...perms].sort(
    (a, b) => Number(b.action === 's3:ListBucket') - Number(a.action === 's3:ListBucket'),
  );
  const queuePerms: Permission[] = [];
  for (const p of ordered) {
    const bucket = p.bucket;
    if (p.action.startsWith('sqs:')) {
      queuePerms.push(p);
      continue;
    }
    if (bucket === undefined || !p.action.startsWith('s3:')) {
      probe.skip(
        p.reason,
        p.action,
        p.resource ?? '*',
        p.action.startsWith('kms:')
          ? 'not probed: a KMS key is only used by a write with SSE-KMS; the first upload proves it'
          : 'not probed: no probe for this action',
      );
      continue;
    }
    const prefix = p.prefix ?? '';
    const where = { bucket, key: prefix };
    switch (p.action) {
      case 's3:ListBucket': {
        const ok = await probe.run(p.reason, p.action, where, async () => {
          const out = await probe.s3.send(
            new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, MaxKeys: 1 }),
            { abortSignal: probe.abortSignal() },
          );
          return out.Contents?.length ? 'allowed; found at least one object' : 'allowed; empty';
        });
        listed.set(`${bucket}\0${prefix}`, ok);
        break;
      }
      case 's3:GetObject':
        await probeRead(probe, p, listed);
        break;
      case 's3:PutObject':
        await probeWrite(probe, p, perms, leftovers);
        break;
      case 's3:AbortMultipartUpload':
        await probe.run(p.reason, p.action, where, async () => {
          try {
            await probe.s3.send(
              new AbortMultipartUploadCommand({
                Bucket: bucket,
                Key: probeKey(prefix),
                UploadId: 'no-such-upload',
              }),
              { abortSignal: probe.abortSignal() },
            );
          } catch (err) {
            if (statusOf(err) === 404)
              return 'allowed (aborting an upload that does not exist answered 404)';
            throw err;
          }
          return 'allowed';
        });
        break;
      case 's3:ListBucketMultipartUploads':
        await probe.run(p.reason, p.action, where, async () => {
          await probe.s3.send(
            new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix, MaxUploads: 1 }),
            { abortSignal: probe.abortSignal() },
          );
          return 'allowed';
        });
        break;
      case 's3:PutObjectTagging': {
        const key = probeKey(prefix);
        await probe.run(p.reason, p.action, { bucket, key }, async () => {
          try {
            await probe.s3.send(
              new PutObjectTaggingCommand({
                Bucket: bucket,
                Key: key,
                Tagging: { TagSet: [{ Key: 's3worker-doctor', Value: 'probe' }] },
              }),
              { abortSignal: probe.abortSignal() },
            );
          } catch (err) {
            if (statusOf(err) === 404)
              return 'allowed (tagging a key that does not exist answered 404)';
            throw err;
          }
          return 'allowed';
        });
        break;
      }
      case 's3:DeleteObject': {
        const key = probeKey(prefix);
        await probe.run(p.reason, p.action, { bucket, key }, async () => {
          await probe.s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }), {
            abortSignal: probe.abortSignal(),
          });
          return 'allowed (deleted a key that does not exist; a versioned bucket keeps a delete marker for it)';
        });
        break;
      }
      default:
        probe.skip(
          p.reason,
          p.action,
          `s3://${bucket}/${prefix}`,
          'not probed: no probe for this action',
        );
    }
  }
  await probeQueuePermissions(probe, queuePerms);
}

/** GetObject: one byte of an existing object, else a HEAD of a missing key (404 = allowed). */
async function probeRead(
  probe: Prober,
  p: Permission,
  listed: Map<string, boolean>,
): Promise<void> {
  const bucket = p.bucket!;
  const prefix = p.prefix ?? '';
  let existing: { key: string; size: number } | undefined;
  try {
    const out = await probe.s3.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, MaxKeys: 1 }),
      { abortSignal: probe.abortSignal() },
    );
    const first = out.Contents?.[0];
    if (first?.Key) existing = { key: first.Key, size: first.Size ?? 0 };
  } catch {
    // Listing is not this permission: without it, look for the object by name below.
  }
  if (existing) {
    const { key, size } = existing;
    await probe.run(p.reason, p.action, { bucket, key }, async () => {
      const out = await probe.s3.send(
        // One byte proves the permission (and KMS decrypt, for SSE-KMS objects).
        new GetObjectCommand({
          Bucket: bucket,
          Key: key,
          ...(size > 0 ? { Range: 'bytes=0-0' } : {}),
        }),
        { abortSignal: probe.abortSignal() },
      );
      await out.Body?.transformToByteArray();
      return 'allowed; read the first byte';
    });
    return;
  }
  const key = probeKey(prefix);
  // S3 answers 404 for a missing key only to a caller that may list it.
  const mayList = [...listed].some(
    ([scope, ok]) =>
      ok && scope.startsWith(`${bucket}\0`) && prefix.startsWith(scope.slice(bucket.length + 1)),
  );
  try {
    await probe.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }), {
      abortSignal: probe.abortSignal(),
    });
    probe.pass(p.reason, p.action, `s3://${bucket}/${key}`, 'allowed');
  } catch (err) {
    if (statusOf(err) === 404) {
      probe.pass(
        p.reason,
        p.action,
        `s3://${bucket}/${prefix}`,
        'allowed (no object to read; a HEAD of a missing key answered 404, not 403)',
      );
      return;
    }
    if (statusOf(err) === 403 && !mayList) {
      // Without s3:ListBucket S3 answers 403 for a missing key too: this says nothing.
      probe.skip(
        p.reason,
        p.action,
        `s3://${bucket}/${prefix}`,
        'cannot tell: no object to read here, and without s3:ListBucket a missing key answers 403 either way',
      );
      return;
    }
    probe.fail(p.reason, p.action, { bucket, key }, err);
  }
}

/**
 * PutObject: a multipart upload started and aborted when the job may abort uploads there (which
 * also proves the abort), else a PutObject conditional on an ETag no object has (412/404 =
 * allowed, nothing written).
 */
async function probeWrite(
  probe: Prober,
  p: Permission,
  perms: readonly Permission[],
  leftovers: string[],
): Promise<void> {
  const bucket = p.bucket!;
  const prefix = p.prefix ?? '';
  const key = probeKey(prefix);
  if (!declares(perms, 's3:AbortMultipartUpload', bucket, prefix)) {
    await probe.run(p.reason, p.action, { bucket, key }, async () => {
      try {
        await probe.s3.send(
          new PutObjectCommand({ Bucket: bucket, Key: key, Body: '', IfMatch: NO_SUCH_ETAG }),
          { abortSignal: probe.abortSignal() },
        );
      } catch (err) {
        const status = statusOf(err);
        if (status === 412 || status === 404) {
          return `allowed (a write conditional on an ETag no object has answered ${status}; nothing written)`;
        }
        throw err;
      }
      leftovers.push(`s3://${bucket}/${key}`);
      return 'allowed (the store ignored If-Match: an empty probe object was written)';
    });
    return;
  }
  let uploadId: string | undefined;
  await probe.run(p.reason, p.action, { bucket, key }, async () => {
    const out = await probe.s3.send(
      new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }),
      {
        abortSignal: probe.abortSignal(),
      },
    );
    uploadId = out.UploadId;
    return 'allowed (started a multipart upload, aborted next)';
  });
  if (uploadId === undefined) return;
  const id = uploadId;
  try {
    await probe.s3.send(
      new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: id }),
      { abortSignal: probe.abortSignal() },
    );
  } catch {
    // The abort's own permission has its own check; here only what it left matters.
    leftovers.push(`s3://${bucket}/${key} (multipart upload ${id})`);
  }
}
