import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { assumeRole, createUserWithPolicy, type PolicyDocument } from './minio-admin.js';
import type { S3Server } from './servers.js';

/** Temporary credentials as the fixture hands them out. */
export interface MintedCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  expiration: Date;
}

export interface EcsCredentialsEndpointOptions {
  /** Called on every successful request: fresh credentials each time (e.g. MinIO STS AssumeRole). */
  mint: () => Promise<MintedCredentials>;
  /** Address to listen on. Default 127.0.0.1 (inside a test's network namespace: 169.254.170.2). */
  host?: string;
  /** Port; default 0 (any free port). The ECS relative-URI form needs 80. */
  port?: number;
  /** Path of the credentials URI; default a random `/v2/credentials/<uuid-like>` as ECS uses. */
  path?: string;
  /** When set, requests must carry exactly this `Authorization` header, else 401. */
  token?: string;
  /**
   * Milliseconds from now reported as `Expiration`, instead of the real one. Lets a test make
   * the SDK refresh often while MinIO's STS minimum lifetime (900 s) keeps the keys valid.
   */
  reportedLifetimeMs?: number;
}

/** One request the fixture answered. The access key id is kept for counting, never printed. */
export interface EndpointLogEntry {
  at: Date;
  /** HTTP status answered; 0 when the fixture did not answer (`'hang'`). */
  status: number;
  /** The access key id handed out (200 only). */
  accessKeyId?: string;
}

export interface EcsCredentialsEndpoint {
  /** The full URI (for AWS_CONTAINER_CREDENTIALS_FULL_URI). */
  url: string;
  /** The path (for AWS_CONTAINER_CREDENTIALS_RELATIVE_URI). */
  path: string;
  /** Every request, in order. */
  log: EndpointLogEntry[];
  /**
   * Statuses to answer next, one per request, before going back to normal (e.g. [500, 500]);
   * `'hang'` accepts the request and never answers (logged as status 0).
   */
  failNext(statuses: Array<number | 'hang'>): void;
  /** Answer every request with this status from now on (e.g. 404), or `undefined` to stop. */
  failAlways(status: number | undefined): void;
  close(): Promise<void>;
}

/**
 * An HTTP server that behaves like the ECS container credentials endpoint (and EKS Pod
 * Identity's): `GET <path>` with an optional `Authorization` token answers
 * `{ AccessKeyId, SecretAccessKey, Token, Expiration, RoleArn }`. Test traffic only: it listens
 * on a loopback address, or on 169.254.170.2 inside a network namespace the test created.
 */
export async function startEcsCredentialsEndpoint(
  options: EcsCredentialsEndpointOptions,
): Promise<EcsCredentialsEndpoint> {
  const path = options.path ?? `/v2/credentials/${randomBytes(16).toString('hex')}`;
  const log: EndpointLogEntry[] = [];
  let queued: Array<number | 'hang'> = [];
  let always: number | undefined;

  const answer = (res: ServerResponse, status: number, body: unknown) => {
    log.push({ at: new Date(), status });
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const forced = queued.shift() ?? always;
    if (forced === 'hang') {
      log.push({ at: new Date(), status: 0 });
      return;
    }
    if (forced !== undefined) {
      answer(res, forced, {
        Code: forced === 404 ? 'NotFound' : 'InternalError',
        Message: 'forced by the test',
      });
      return;
    }
    if (req.method !== 'GET' || req.url !== path) {
      answer(res, 404, { Code: 'NotFound', Message: 'no such credentials path' });
      return;
    }
    if (options.token !== undefined && req.headers.authorization !== options.token) {
      answer(res, 401, { Code: 'AccessDenied', Message: 'invalid authorization token' });
      return;
    }
    const creds = await options.mint();
    const expiration =
      options.reportedLifetimeMs === undefined
        ? creds.expiration
        : new Date(Math.min(Date.now() + options.reportedLifetimeMs, creds.expiration.getTime()));
    log.push({ at: new Date(), status: 200, accessKeyId: creds.accessKeyId });
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        AccessKeyId: creds.accessKeyId,
        SecretAccessKey: creds.secretAccessKey,
        Token: creds.sessionToken,
        Expiration: expiration.toISOString(),
        RoleArn: 'arn:aws:iam::000000000000:role/s3worker-test',
      }),
    );
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) answer(res, 500, { Code: 'InternalError', Message: 'minting failed' });
      else res.destroy();
    });
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${port}${path}`,
    path,
    log,
    failNext: (statuses) => {
      queued = [...statuses];
    },
    failAlways: (status) => {
      always = status;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * What a task role is, built from MinIO: a user allowed everything, whose STS AssumeRole
 * sessions carry `sessionPolicy` (so the session policy alone confines the credentials, as a
 * role's policy does). `mint` hands out a fresh 15-minute session each call; `remove` deletes the user.
 */
export async function createTaskRoleMinter(
  s3: S3Server,
  sessionPolicy: PolicyDocument,
): Promise<{
  mint: () => Promise<MintedCredentials>;
  minted: MintedCredentials[];
  remove: () => Promise<void>;
}> {
  const user = await createUserWithPolicy(
    s3,
    {
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Action: ['s3:*'], Resource: ['arn:aws:s3:::*'] }],
    },
    'taskrole',
  );
  const minted: MintedCredentials[] = [];
  return {
    minted,
    mint: async () => {
      const c = await assumeRole(s3, user, { policy: sessionPolicy });
      minted.push(c);
      return c;
    },
    remove: user.remove,
  };
}
