import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { type Agent, createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ECS_CONTAINER_HOST,
  fromContainerEndpoint,
} from '../../src/credentials/container-credentials.js';
import { selectCredentialProvider, sourceOf } from '../../src/credentials/credential-provider.js';
import { ConfigError, ExitCode, type S3WorkerError } from '../../src/errors.js';
import { createS3Client, resolveRegion } from '../../src/s3/client.js';

const KEYS = { AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'secret-example' };

describe('credential source selection', () => {
  it('auto prefers environment keys, then the relative URI, then the full URI, then the SDK chain', () => {
    const relative = { AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: '/v2/credentials/x' };
    const full = { AWS_CONTAINER_CREDENTIALS_FULL_URI: 'http://127.0.0.1:1/creds' };
    expect(selectCredentialProvider({ env: { ...KEYS, ...relative } }).source).toBe('env');
    expect(selectCredentialProvider({ env: { ...relative, ...full } }).source).toBe(
      'container-relative-uri',
    );
    expect(selectCredentialProvider({ env: full }).source).toBe('container-full-uri');
    expect(selectCredentialProvider({ env: {} }).source).toBe('unknown');
  });

  it('a forced source ignores the others', () => {
    const env = { ...KEYS, AWS_CONTAINER_CREDENTIALS_FULL_URI: 'http://127.0.0.1:1/creds' };
    expect(selectCredentialProvider({ source: 'container', env }).source).toBe(
      'container-full-uri',
    );
    expect(selectCredentialProvider({ source: 'env', env }).source).toBe('env');
    expect(selectCredentialProvider({ source: 'profile', env }).source).toBe('profile');
  });

  it('env keys come from the env given, with session token and expiry', async () => {
    const { provider } = selectCredentialProvider({
      source: 'env',
      env: { ...KEYS, AWS_SESSION_TOKEN: 'tok', AWS_CREDENTIAL_EXPIRATION: '2030-01-01T00:00:00Z' },
    });
    expect(await provider()).toEqual({
      accessKeyId: 'AKIDEXAMPLE',
      secretAccessKey: 'secret-example',
      sessionToken: 'tok',
      expiration: new Date('2030-01-01T00:00:00Z'),
    });
  });

  it('profile reads the named profile from AWS_SHARED_CREDENTIALS_FILE', async () => {
    const dir = await mkdtemp(join(tmpdir(), 's3worker-profile-'));
    try {
      const file = join(dir, 'credentials');
      await writeFile(
        file,
        '[default]\naws_access_key_id = DEFAULTKEY\naws_secret_access_key = d\n[batch]\naws_access_key_id = BATCHKEY\naws_secret_access_key = b\n',
      );
      const env = { AWS_SHARED_CREDENTIALS_FILE: file, AWS_CONFIG_FILE: join(dir, 'none') };
      const named = selectCredentialProvider({ source: 'profile', profile: 'batch', env });
      expect((await named.provider()).accessKeyId).toBe('BATCHKEY');
      const missing = await selectCredentialProvider({ source: 'profile', profile: 'nope', env })
        .provider()
        .catch((e: unknown) => e);
      expect((missing as S3WorkerError).code).toBe('NO_CREDENTIALS');
      expect((missing as S3WorkerError).message).toContain('profile nope');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('forced env without keys is NO_CREDENTIALS (exit 10)', async () => {
    const err = await selectCredentialProvider({ source: 'env', env: {} })
      .provider()
      .catch((e: unknown) => e);
    expect((err as S3WorkerError).code).toBe('NO_CREDENTIALS');
    expect((err as S3WorkerError).exitCode).toBe(ExitCode.NoCredentials);
  });

  it('forced container without its variables is NO_CREDENTIALS', async () => {
    const err = await fromContainerEndpoint({ env: {} })().catch((e: unknown) => e);
    expect((err as S3WorkerError).code).toBe('NO_CREDENTIALS');
  });

  it('a full URI the SDK does not allow (plain http, not loopback) fails before any request', async () => {
    // 192.0.2.0/24 is TEST-NET-1: never routed; the SDK's allow-list rejects it before connecting.
    const err = await fromContainerEndpoint({
      env: { AWS_CONTAINER_CREDENTIALS_FULL_URI: 'http://192.0.2.1/creds' },
    })().catch((e: unknown) => e);
    expect((err as S3WorkerError).code).toBe('CREDENTIALS_ENDPOINT_NOT_ALLOWED');
    expect((err as S3WorkerError).exitCode).toBe(ExitCode.Config);
  });

  it('the relative URI form names the ECS host in its messages (the SDK fixes that host)', () => {
    expect(ECS_CONTAINER_HOST).toBe('169.254.170.2');
  });

  it('names the source of credentials the SDK chain resolved from its feature marks', () => {
    const identity = {
      accessKeyId: 'a',
      secretAccessKey: 's',
      $source: { CREDENTIALS_PROFILE: 'n' },
    };
    expect(sourceOf(identity, 'unknown')).toBe('profile');
    expect(sourceOf(identity, 'env')).toBe('env');
  });

  it('a refused connection to the endpoint is retried, then reported as unreachable (exit 16)', async () => {
    const err = await fromContainerEndpoint({
      env: { AWS_CONTAINER_CREDENTIALS_FULL_URI: 'http://127.0.0.1:9/creds' },
      attempts: 2,
      baseDelayMs: 1,
    })().catch((e: unknown) => e);
    expect((err as S3WorkerError).code).toBe('CREDENTIALS_ENDPOINT_UNREACHABLE');
    expect((err as S3WorkerError).exitCode).toBe(ExitCode.EndpointUnreachable);
    expect((err as S3WorkerError).message).toContain('failed 2 times');
  });
});

describe('region, endpoint and retry settings', () => {
  let metadata: Server;
  let metadataUrl: string;

  beforeAll(async () => {
    // Stands in for the ECS task metadata endpoint v4, on loopback.
    metadata = createServer((req, res) => {
      res.writeHead(req.url === '/v4/abc/task' ? 200 : 404, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          TaskARN: 'arn:aws:ecs:eu-central-1:123456789012:task/cluster/0123',
          AvailabilityZone: 'eu-central-1a',
        }),
      );
    });
    await new Promise<void>((resolve) => metadata.listen(0, '127.0.0.1', resolve));
    metadataUrl = `http://127.0.0.1:${(metadata.address() as AddressInfo).port}/v4/abc`;
  });
  afterAll(() => new Promise<void>((resolve) => metadata.close(() => resolve())));

  it('takes the region from options, then AWS_REGION, then AWS_DEFAULT_REGION', async () => {
    const env = { AWS_REGION: 'eu-west-1', AWS_DEFAULT_REGION: 'eu-west-2' };
    expect(await resolveRegion({ region: 'ap-south-1', env })).toBe('ap-south-1');
    expect(await resolveRegion({ env })).toBe('eu-west-1');
    expect(await resolveRegion({ env: { AWS_DEFAULT_REGION: 'eu-west-2' } })).toBe('eu-west-2');
  });

  it('takes the region from task metadata the run read already, without asking the endpoint again', async () => {
    // A closed port: any request would fail and leave no region.
    const env = { ECS_CONTAINER_METADATA_URI_V4: 'http://127.0.0.1:1/v4/abc' };
    const task = { ecs: true, taskArn: 'arn:aws:ecs:eu-west-3:123456789012:task/c/abc' };
    expect(await resolveRegion({ env, task })).toBe('eu-west-3');
    expect(await resolveRegion({ env, task: { ecs: true, availabilityZone: 'us-east-2b' } })).toBe(
      'us-east-2',
    );
  });

  it('asks the ECS task metadata endpoint when no variable names a region', async () => {
    expect(await resolveRegion({ env: { ECS_CONTAINER_METADATA_URI_V4: metadataUrl } })).toBe(
      'eu-central-1',
    );
  });

  it('falls back to us-east-1 only with a custom endpoint, else fails with a ConfigError', async () => {
    expect(await resolveRegion({ env: {}, endpoint: 'http://127.0.0.1:9000' })).toBe('us-east-1');
    const err = await resolveRegion({ env: {} }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).issues[0]?.path).toBe('region');
  });

  it('reads the endpoint, retries and path-style from the standard environment', async () => {
    const created = await createS3Client({
      maxSockets: 7,
      env: {
        ...KEYS,
        AWS_ENDPOINT_URL: 'http://127.0.0.1:9001',
        AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9002',
        AWS_MAX_ATTEMPTS: '5',
        AWS_RETRY_MODE: 'adaptive',
      },
    });
    try {
      const config = created.client.config;
      expect(created.endpoint).toBe('http://127.0.0.1:9002');
      expect(created.region).toBe('us-east-1');
      expect(config.forcePathStyle).toBe(true);
      expect(await config.maxAttempts()).toBe(5);
      expect((await config.retryStrategy()).constructor.name).toBe('AdaptiveRetryStrategy');
      const pools = await (
        config.requestHandler as unknown as {
          configProvider: Promise<{ httpAgentProvider: () => Promise<Agent>; httpsAgent: Agent }>;
        }
      ).configProvider;
      for (const agent of [await pools.httpAgentProvider(), pools.httpsAgent]) {
        expect(agent.maxSockets).toBe(7);
        expect((agent as Agent & { keepAlive: boolean }).keepAlive).toBe(true);
      }
    } finally {
      created.client.destroy();
    }
  });

  it('rejects a bad AWS_MAX_ATTEMPTS or AWS_RETRY_MODE as configuration errors', async () => {
    for (const bad of [{ AWS_MAX_ATTEMPTS: 'many' }, { AWS_RETRY_MODE: 'sometimes' }]) {
      const err = await createS3Client({ env: { ...KEYS, AWS_REGION: 'us-east-1', ...bad } }).catch(
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ConfigError);
    }
  });
});
