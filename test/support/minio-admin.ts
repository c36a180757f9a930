import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import type { S3Server } from './servers.js';

/** An IAM-style policy document, as MinIO takes it. */
export interface PolicyDocument {
  Version: '2012-10-17';
  Statement: Array<Record<string, unknown>>;
}

export interface Keys {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  expiration?: Date;
}

const ALIAS = 's3wadmin';

function mcBin(s3: S3Server): string {
  return s3.mc?.bin ?? process.env.MC_BIN ?? 'mc';
}

/**
 * Runs MinIO's admin client. Root keys reach mc through its MC_HOST_<alias> environment variable and
 * secrets through stdin, never argv. Output is returned, never printed (it can echo secrets).
 */
export function mc(s3: S3Server, args: string[], stdin?: string): Promise<string> {
  const url = new URL(s3.endpoint);
  url.username = encodeURIComponent(s3.accessKeyId);
  url.password = encodeURIComponent(s3.secretAccessKey);
  const configDir = s3.mc?.configDir ?? join(tmpdir(), 's3worker-mc');
  const env = {
    ...process.env,
    [`MC_HOST_${ALIAS}`]: url.toString().replace(/\/$/, ''),
    MC_CONFIG_DIR: configDir,
    MC_DISABLE_PAGER: '1',
    NO_COLOR: '1',
  };
  return new Promise((resolve, reject) => {
    const child = execFile(
      mcBin(s3),
      ['--no-color', '--json', ...args.map((a) => (a === '@' ? ALIAS : a))],
      { env, timeout: 30_000 },
      (err, stdout) => {
        if (err) {
          // mc's JSON error carries the server's reason in cause.message; argv has no secrets.
          const message = mcErrorMessage(stdout) ?? err.message;
          reject(new Error(`mc ${args.join(' ')} failed: ${message}`));
        } else {
          resolve(stdout);
        }
      },
    );
    // mc exits without reading stdin on most commands; a closed pipe is not an error.
    child.stdin?.on('error', () => {});
    child.stdin?.end(stdin ?? '');
  });
}

function mcErrorMessage(stdout: string): string | undefined {
  try {
    const out = JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as {
      error?: { message?: string; cause?: { message?: string } };
    };
    return [out.error?.message, out.error?.cause?.message].filter(Boolean).join(': ') || undefined;
  } catch {
    return undefined;
  }
}

/** A random access key and secret, valid for MinIO (access key ≥ 3 chars, secret ≥ 8). */
export function randomKeys(prefix = 'test'): Keys {
  return {
    accessKeyId: `${prefix}-${randomBytes(6).toString('hex')}`,
    secretAccessKey: randomBytes(24).toString('base64url'),
  };
}

/** A MinIO user with exactly the given policy attached; `remove()` deletes user and policy. */
export async function createUserWithPolicy(
  s3: S3Server,
  policy: PolicyDocument,
  prefix = 'test',
): Promise<Keys & { name: string; policyName: string; remove: () => Promise<void> }> {
  const keys = randomKeys(prefix);
  const policyName = `${keys.accessKeyId}-policy`;
  const dir = await mkdtemp(join(tmpdir(), 's3worker-policy-'));
  try {
    const file = join(dir, 'policy.json');
    await writeFile(file, JSON.stringify(policy));
    await mc(s3, ['admin', 'user', 'add', '@', keys.accessKeyId], `${keys.secretAccessKey}\n`);
    await mc(s3, ['admin', 'policy', 'create', '@', policyName, file]);
    await mc(s3, ['admin', 'policy', 'attach', '@', policyName, '--user', keys.accessKeyId]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return {
    ...keys,
    name: keys.accessKeyId,
    policyName,
    remove: async () => {
      await mc(s3, ['admin', 'user', 'remove', '@', keys.accessKeyId]).catch(() => {});
      await mc(s3, ['admin', 'policy', 'remove', '@', policyName]).catch(() => {});
    },
  };
}

/**
 * Temporary credentials from MinIO's STS AssumeRole, signed with a (non-root) user's keys.
 * The optional session policy is intersected with the user's own policy. MinIO's minimum
 * duration is 900 s.
 */
export async function assumeRole(
  s3: S3Server,
  user: Keys,
  options: { policy?: PolicyDocument; durationSeconds?: number } = {},
): Promise<Required<Keys>> {
  const sts = new STSClient({
    endpoint: s3.endpoint,
    region: s3.region,
    credentials: { accessKeyId: user.accessKeyId, secretAccessKey: user.secretAccessKey },
    maxAttempts: 2,
  });
  try {
    const out = await sts.send(
      new AssumeRoleCommand({
        RoleArn: 'arn:aws:iam::000000000000:role/s3worker-test',
        RoleSessionName: `s3worker-${randomBytes(4).toString('hex')}`,
        DurationSeconds: options.durationSeconds ?? 900,
        ...(options.policy ? { Policy: JSON.stringify(options.policy) } : {}),
      }),
    );
    const c = out.Credentials;
    if (!c?.AccessKeyId || !c.SecretAccessKey || !c.SessionToken || !c.Expiration) {
      throw new Error('MinIO STS AssumeRole returned no credentials');
    }
    return {
      accessKeyId: c.AccessKeyId,
      secretAccessKey: c.SecretAccessKey,
      sessionToken: c.SessionToken,
      expiration: c.Expiration,
    };
  } finally {
    sts.destroy();
  }
}

/** The seed's least-privilege policy: object read/write/delete in one bucket, and listing it. */
export function bucketReadWritePolicy(bucket: string): PolicyDocument {
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Action: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'],
        Resource: [`arn:aws:s3:::${bucket}/*`],
      },
      { Effect: 'Allow', Action: ['s3:ListBucket'], Resource: [`arn:aws:s3:::${bucket}`] },
    ],
  };
}
