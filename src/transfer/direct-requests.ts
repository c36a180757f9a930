import { createHash, type Hash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { Crc32c, Crc64Nvme } from '@aws-sdk/checksums/crc';
import {
  type CompletedPart,
  GetObjectCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { getEndpointFromInstructions } from '@smithy/core/endpoints';
import { HttpRequest } from '@smithy/core/protocols';
import type { NodeHttpHandler } from '@smithy/node-http-handler';
import { SignatureV4 } from '@smithy/signature-v4';
import type {
  AwsCredentialIdentityProvider,
  Checksum,
  ChecksumConstructor,
  HashConstructor,
  RetryErrorType,
  RetryStrategyV2,
  RetryToken,
} from '@smithy/types';
import type { Logger } from 'pino';
import type { RequestCounts } from '../s3/request-counts.js';
import { crc32 } from './crc32.js';
import { crc32Base64 } from './crc32-combine.js';
import { type ObjectWriteParams, objectWriteHeaders } from './object-write-options.js';

/** SHA-256 of an empty body: what a GET signs as its payload. */
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';

/** Checksums a direct request computes itself (the CRCs with the SDK's own implementations). */
const VERIFIABLE = ['crc32', 'crc32c', 'crc64nvme', 'sha1', 'sha256'] as const;
/** Every full-object checksum header S3 may answer with, in the order the SDK prefers them. */
const RESPONSE_CHECKSUMS = ['crc64nvme', 'crc32c', 'crc32', 'sha1', 'sha256'] as const;

/** Options of `enableDirectRequests`. */
export interface DirectRequestOptions {
  /**
   * Send `UNSIGNED-PAYLOAD` instead of the body's SHA-256 in the signature of a PUT. The body is
   * still covered by its checksum header (CRC32 by default), which is signed.
   */
  unsignedPayload?: boolean;
  /** Gets a debug line for each request that went through the SDK instead, with why. */
  log?: Logger;
  /** Counts retries and throttled (503, 429) answers, for the run's metrics. */
  counts?: RequestCounts;
}

/** What a GetObject needs. */
export interface DirectGetInput {
  bucket: string;
  key: string;
  ifMatch?: string | undefined;
  versionId?: string | undefined;
  /** `bytes=N-` to read the rest of an object from byte N (answered 206, without a checksum). */
  range?: string | undefined;
}

/** A GET that answered 200: its body, not read yet, and how to verify it as it is read. */
export interface DirectGetOutput {
  body: Readable;
  /** The object's full checksum as S3 sent it, when there is one to verify. */
  checksum?: ChecksumCheck;
  /** The ETag of the version read. */
  etag?: string;
  /** The body's length, from `Content-Length`. */
  contentLength?: number;
}

/** Verifies a body chunk by chunk against the checksum its response carried. */
export interface ChecksumCheck {
  algorithm: string;
  update(chunk: Uint8Array): void;
  /** True when the bytes given to `update` match. */
  matches(): Promise<boolean>;
}

/** What a PutObject writes. */
export interface DirectPutInput {
  /** The object's fields, built by `objectWriteParams` (the SDK path sends the same object). */
  params: ObjectWriteParams;
  body: Buffer;
  ifNoneMatch?: boolean | undefined;
  /** Checksum header to send; undefined sends none. */
  checksumAlgorithm?: string | undefined;
}

export interface DirectPutOutput {
  etag: string;
  versionId?: string;
}

/** What an UploadPart sends: one part of a multipart upload. */
export interface DirectUploadPartInput {
  bucket: string;
  key: string;
  uploadId: string;
  partNumber: number;
  body: Buffer;
  /** Checksum header to send; undefined sends none. */
  checksumAlgorithm?: string | undefined;
  /** The body's checksum (base64) when the caller computed it already; else computed here. */
  checksum?: string | undefined;
}

/** The checksum fields of a stored part, as CompleteMultipartUpload lists them. */
type PartChecksumField =
  | 'ChecksumCRC32'
  | 'ChecksumCRC32C'
  | 'ChecksumCRC64NVME'
  | 'ChecksumSHA1'
  | 'ChecksumSHA256';

/** How many requests went direct and how many went through the SDK instead. */
export interface DirectRequestStats {
  direct: number;
  viaSdk: number;
}

interface Target {
  protocol: string;
  hostname: string;
  port?: number;
  /** Host header: hostname plus a non-default port. */
  host: string;
  /** Path of the bucket (path-style) or `` (virtual-hosted), without a trailing slash. */
  basePath: string;
  signer: SignatureV4;
}

/** Configuration of the S3 client a `DirectRequests` borrows from. */
interface ClientConfig {
  credentials: AwsCredentialIdentityProvider;
  sha256: ChecksumConstructor | HashConstructor;
  requestHandler: NodeHttpHandler;
  systemClockOffset?: number;
  retryStrategy: () => Promise<RetryStrategyV2>;
  /** The client's own checksum implementations, when it was given some. */
  checksumAlgorithms?: Partial<Record<string, ChecksumConstructor>>;
}

/** An answer that did not succeed after the retry strategy's attempts, shaped as an SDK error. */
interface DirectFailure extends Error {
  Code?: string;
  $metadata: { httpStatusCode?: number; attempts: number };
}

/**
 * GetObject, PutObject and UploadPart without the SDK's per-request middleware stack: for runs
 * of many small objects, where that stack (about a millisecond of CPU per request: endpoint
 * rules, schema serde, retry bookkeeping, user agent, checksum plumbing) costs more than the
 * transfer itself, and for the parts of large uploads, where it is a tenth of a copy's CPU.
 *
 * Built from the client's own parts, so nothing about the connection or the credentials differs:
 * the endpoint comes from the SDK's endpoint rules (resolved once per bucket), requests are
 * signed by the SDK's SigV4 signer with the client's credential provider (so refreshes and
 * rotation apply) and clock offset, and sent through the client's HTTP handler (its agents,
 * keep-alive and timeouts).
 *
 * Retries follow the client's own retry strategy (standard or adaptive, its attempts, backoff and
 * retry quota; adaptive mode's rate limiter paces every attempt): a 5xx, 429 or network error is
 * sent again direct after the strategy's delay, so a throttled store sees no more requests than
 * the SDK would send. When the strategy gives up, the last answer is thrown as an SDK-shaped error
 * (`name`/`Code`, `$metadata.httpStatusCode`); the transfer's own retry window takes over from
 * there. An answer that retrying cannot change (403, 404, 412...) or a case this path does not
 * handle (an endpoint that needs another signer, a field without a header) returns `undefined`,
 * and the caller sends the request through the SDK, which parses and explains the error: one
 * more request, only on an error.
 */
export class DirectRequests {
  readonly stats: DirectRequestStats = { direct: 0, viaSdk: 0 };
  readonly #client: S3Client;
  readonly #config: ClientConfig;
  readonly #unsignedPayload: boolean;
  readonly #log: Logger | undefined;
  readonly #counts: RequestCounts | undefined;
  readonly #targets = new Map<string, Promise<Target | undefined>>();
  readonly #signers = new Map<string, SignatureV4>();

  constructor(client: S3Client, options: DirectRequestOptions = {}) {
    this.#client = client;
    this.#config = client.config as unknown as ClientConfig;
    this.#unsignedPayload = options.unsignedPayload === true;
    this.#log = options.log;
    this.#counts = options.counts;
  }

  /**
   * Sends a GetObject asking for the object's checksum. Returns the open body on 200; on
   * anything else `undefined` (the caller then uses the SDK). Throws only when `signal` aborted.
   */
  async getObject(
    input: DirectGetInput,
    signal?: AbortSignal,
  ): Promise<DirectGetOutput | undefined> {
    const target = await this.#target('get', input.bucket);
    if (!target) return this.#viaSdk('GetObject', 'endpoint');
    const headers: Record<string, string> = {
      host: target.host,
      'x-amz-content-sha256': EMPTY_SHA256,
      'x-amz-checksum-mode': 'ENABLED',
    };
    if (input.ifMatch !== undefined) headers['if-match'] = input.ifMatch;
    if (input.range !== undefined) headers.range = input.range;
    const query: Record<string, string> = {};
    if (input.versionId !== undefined) query.versionId = input.versionId;
    const ok = input.range === undefined ? 200 : 206;
    const response = await this.#exchange(
      'GetObject',
      ok,
      () => this.#send(target, 'GET', input.key, headers, query, undefined, signal),
      signal,
    );
    if (!response) return undefined;
    const body = response.body as Readable;
    const checksum =
      input.range === undefined
        ? responseChecksum(response.headers, this.#config.checksumAlgorithms)
        : undefined;
    if (checksum === 'unsupported') {
      body.destroy();
      return this.#viaSdk('GetObject', 'checksum');
    }
    this.stats.direct += 1;
    const etag = header(response.headers, 'etag');
    const length = Number(header(response.headers, 'content-length') ?? Number.NaN);
    return {
      body,
      ...(checksum ? { checksum } : {}),
      ...(etag === undefined ? {} : { etag }),
      ...(Number.isFinite(length) ? { contentLength: length } : {}),
    };
  }

  /**
   * Sends a PutObject of `input.body`. Returns the ETag on 200; on anything else `undefined`
   * (the caller then uses the SDK). Throws only when `signal` aborted.
   */
  async putObject(
    input: DirectPutInput,
    signal?: AbortSignal,
  ): Promise<DirectPutOutput | undefined> {
    const fields = objectWriteHeaders(input.params);
    if (!fields) return this.#viaSdk('PutObject', 'field');
    const { body } = input;
    const put = await this.#put('PutObject', input.params.Bucket, body, input.checksumAlgorithm);
    if (!put) return undefined;
    const { target } = put;
    const headers = { ...fields, ...put.headers };
    if (input.ifNoneMatch) headers['if-none-match'] = '*';
    const response = await this.#exchange(
      'PutObject',
      200,
      () => this.#send(target, 'PUT', input.params.Key, headers, {}, body, signal),
      signal,
    );
    if (!response) return undefined;
    // The answer to a PUT is empty: read it so the socket is reused.
    (response.body as Readable | undefined)?.resume();
    this.stats.direct += 1;
    const etag = header(response.headers, 'etag') ?? '';
    const versionId = header(response.headers, 'x-amz-version-id');
    return versionId ? { etag, versionId } : { etag };
  }

  /**
   * Sends an UploadPart of `input.body`: for the parts of large objects, where the SDK's
   * middleware costs about a millisecond per request too (two parts per 16 MiB copied). Returns
   * the part as CompleteMultipartUpload lists it (its ETag and stored checksums) on 200; on
   * anything else `undefined` (the caller then uses the SDK, which explains a missing upload or
   * a refused part). Throws only when `signal` aborted.
   */
  async uploadPart(
    input: DirectUploadPartInput,
    signal?: AbortSignal,
  ): Promise<CompletedPart | undefined> {
    const { body } = input;
    const put = await this.#put(
      'UploadPart',
      input.bucket,
      body,
      input.checksumAlgorithm,
      input.checksum,
    );
    if (!put) return undefined;
    const { target, headers } = put;
    const query = { partNumber: String(input.partNumber), uploadId: input.uploadId };
    const response = await this.#exchange(
      'UploadPart',
      200,
      () => this.#send(target, 'PUT', input.key, headers, query, body, signal),
      signal,
    );
    if (!response) return undefined;
    (response.body as Readable | undefined)?.resume();
    this.stats.direct += 1;
    const part: CompletedPart = {
      PartNumber: input.partNumber,
      ETag: header(response.headers, 'etag') ?? '',
    };
    for (const name of RESPONSE_CHECKSUMS) {
      const value = header(response.headers, `x-amz-checksum-${name}`);
      if (value !== undefined) part[`Checksum${name.toUpperCase()}` as PartChecksumField] = value;
    }
    return part;
  }

  /**
   * Where a PUT of `body` goes and the headers every direct PUT carries: host, length, the
   * payload hash (`UNSIGNED-PAYLOAD` or the body's SHA-256) and the checksum (`checksum` when
   * the caller computed it, else computed here). `undefined` when only the SDK can send it.
   */
  async #put(
    action: string,
    bucket: string,
    body: Buffer,
    checksumAlgorithm: string | undefined,
    checksum?: string,
  ): Promise<{ target: Target; headers: Record<string, string> } | undefined> {
    const algorithm = checksumAlgorithm?.toLowerCase();
    if (algorithm !== undefined && !(VERIFIABLE as readonly string[]).includes(algorithm)) {
      return this.#viaSdk(action, 'checksum');
    }
    const target = await this.#target('put', bucket);
    if (!target) return this.#viaSdk(action, 'endpoint');
    const headers: Record<string, string> = {
      host: target.host,
      'content-length': String(body.length),
      'x-amz-content-sha256': this.#unsignedPayload
        ? UNSIGNED_PAYLOAD
        : createHash('sha256').update(body).digest('hex'),
    };
    if (algorithm !== undefined) {
      headers['x-amz-sdk-checksum-algorithm'] = algorithm.toUpperCase();
      headers[`x-amz-checksum-${algorithm}`] =
        checksum ?? (await this.#checksumOf(algorithm, body));
    }
    return { target, headers };
  }

  async #send(
    target: Target,
    method: string,
    key: string,
    headers: Record<string, string>,
    query: Record<string, string>,
    body: Buffer | undefined,
    signal: AbortSignal | undefined,
  ) {
    const request = new HttpRequest({
      protocol: target.protocol,
      hostname: target.hostname,
      ...(target.port === undefined ? {} : { port: target.port }),
      method,
      path: `${target.basePath}/${encodeKey(key)}`,
      query,
      headers,
      body,
    });
    try {
      const offset = this.#config.systemClockOffset ?? 0;
      const signed = (await target.signer.sign(request, {
        signingDate: new Date(Date.now() + offset),
      })) as HttpRequest;
      const { response } = await this.#config.requestHandler.handle(
        signed,
        signal ? { abortSignal: signal } : {},
      );
      return response;
    } catch (err) {
      if (signal?.aborted) throw signal.reason ?? err;
      throw err;
    }
  }

  /**
   * Sends a request (`send` builds, signs and sends one attempt) until it answers `ok`, under the
   * client's retry strategy: a retryable answer or network error waits the strategy's delay and
   * is sent again; when the strategy stops, the last failure is thrown. An answer retrying
   * cannot change returns `undefined` (the caller asks the SDK, which explains it).
   */
  async #exchange(
    action: string,
    ok: number,
    send: () => Promise<Awaited<ReturnType<NodeHttpHandler['handle']>>['response']>,
    signal: AbortSignal | undefined,
  ): Promise<Awaited<ReturnType<NodeHttpHandler['handle']>>['response'] | undefined> {
    const strategy = await this.#config.retryStrategy();
    // Adaptive mode's rate limiter waits here, as before an SDK request.
    let token: RetryToken = await strategy.acquireInitialRetryToken('');
    for (let attempt = 1; ; attempt++) {
      let failure: DirectFailure;
      let errorType: RetryErrorType;
      if (attempt > 1 && this.#counts) this.#counts.retries++;
      try {
        const response = await send();
        this.#counts?.answered(response.statusCode);
        if (response.statusCode === ok) {
          strategy.recordSuccess(token);
          return response;
        }
        const status = response.statusCode;
        const retryable = status >= 500 || status === 429;
        if (!retryable) {
          (response.body as Readable | undefined)?.destroy();
          return this.#viaSdk(action, status);
        }
        failure = await responseFailure(response, attempt);
        errorType = status === 503 || status === 429 ? 'THROTTLING' : 'SERVER_ERROR';
      } catch (err) {
        if (signal?.aborted) throw signal.reason ?? err;
        failure = Object.assign(err instanceof Error ? err : new Error(String(err)), {
          $metadata: { attempts: attempt },
        });
        errorType = 'TRANSIENT';
      }
      try {
        token = await strategy.refreshRetryTokenForRetry(token, {
          error: failure as Parameters<RetryStrategyV2['refreshRetryTokenForRetry']>[1]['error'],
          errorType,
        });
      } catch {
        // The strategy is out of attempts (or of retry quota): this request has failed.
        throw failure;
      }
      this.#log?.debug(
        {
          action,
          attempt,
          delayMs: token.getRetryDelay(),
          status: failure.$metadata.httpStatusCode,
        },
        'direct request retried',
      );
      await sleep(token.getRetryDelay(), undefined, signal ? { signal } : {}).catch(() => {
        throw signal?.reason ?? failure;
      });
    }
  }

  /** The base64 checksum of `body` S3 verifies the PUT against. */
  async #checksumOf(algorithm: string, body: Buffer): Promise<string> {
    if (algorithm === 'crc32') return crc32Base64(crc32(body));
    if (algorithm === 'sha1' || algorithm === 'sha256') {
      return createHash(algorithm).update(body).digest('base64');
    }
    const checksum = sdkChecksum(algorithm, this.#config);
    checksum.update(body);
    return Buffer.from(await checksum.digest()).toString('base64');
  }

  #viaSdk(action: string, why: string | number): undefined {
    this.stats.viaSdk += 1;
    this.#log?.debug({ action, why }, 'request sent through the SDK');
    return undefined;
  }

  /** Where requests for `bucket` go and who signs them; undefined when only the SDK can tell. */
  #target(kind: 'get' | 'put', bucket: string): Promise<Target | undefined> {
    const cacheKey = `${kind}\0${bucket}`;
    let target = this.#targets.get(cacheKey);
    if (!target) {
      target = this.#resolveTarget(kind, bucket);
      this.#targets.set(cacheKey, target);
    }
    return target;
  }

  async #resolveTarget(kind: 'get' | 'put', bucket: string): Promise<Target | undefined> {
    try {
      const command = kind === 'get' ? GetObjectCommand : PutObjectCommand;
      const endpoint = await getEndpointFromInstructions(
        { Bucket: bucket, Key: 'k' },
        command as never,
        this.#client.config as never,
      );
      const schemes = endpoint.properties?.authSchemes as
        | Array<{ name?: string; signingName?: string; signingRegion?: string }>
        | undefined;
      const scheme = schemes?.[0];
      // SigV4A (multi-region access points) and S3 Express sessions need the SDK's signers.
      if (scheme !== undefined && scheme.name !== 'sigv4') return undefined;
      const url = endpoint.url;
      if (url.search !== '' || url.username !== '' || url.password !== '') return undefined;
      const region = scheme?.signingRegion ?? (await this.#client.config.region());
      const service = scheme?.signingName ?? 's3';
      const port = url.port === '' ? undefined : Number(url.port);
      return {
        protocol: url.protocol,
        hostname: url.hostname,
        ...(port === undefined ? {} : { port }),
        host: url.host,
        basePath: url.pathname.replace(/\/+$/, ''),
        signer: this.#signer(region, service),
      };
    } catch (err) {
      // The SDK will throw the same problem with its own message.
      this.#log?.debug({ bucket, err: (err as Error)?.message }, 'no direct endpoint');
      return undefined;
    }
  }

  #signer(region: string, service: string): SignatureV4 {
    const key = `${region}\0${service}`;
    let signer = this.#signers.get(key);
    if (!signer) {
      signer = new SignatureV4({
        credentials: this.#config.credentials,
        region,
        service,
        sha256: this.#config.sha256,
        // S3 paths are escaped once (by encodeKey), and x-amz-content-sha256 is always sent.
        uriEscapePath: false,
        applyChecksum: true,
      });
      this.#signers.set(key, signer);
    }
    return signer;
  }
}

/** A key as S3 paths carry it: each segment percent-encoded (RFC 3986), slashes kept. */
export function encodeKey(key: string): string {
  return key
    .split('/')
    .map((segment) =>
      encodeURIComponent(segment).replace(
        /[!'()*]/g,
        (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
      ),
    )
    .join('/');
}

function header(headers: Record<string, string | undefined>, name: string): string | undefined {
  const value = headers[name];
  return value === undefined || value === '' ? undefined : value;
}

/**
 * The full-object checksum to verify the body against: undefined when the response has none (or
 * only a checksum of parts, which says nothing about the whole body), `unsupported` when it has
 * one this module does not compute (CRC32C, CRC64NVME): the SDK verifies those.
 */
export function responseChecksum(
  headers: Record<string, string | undefined>,
  implementations?: ClientConfig['checksumAlgorithms'],
): ChecksumCheck | 'unsupported' | undefined {
  if (header(headers, 'x-amz-checksum-type') === 'COMPOSITE') return undefined;
  for (const algorithm of RESPONSE_CHECKSUMS) {
    const expected = header(headers, `x-amz-checksum-${algorithm}`);
    if (expected === undefined) continue;
    // `value-N`: a checksum of the parts' checksums (multipart without a full-object one).
    if (/-\d+$/.test(expected)) return undefined;
    if (algorithm === 'crc32') return crc32Check(expected);
    if (algorithm === 'sha1' || algorithm === 'sha256') return hashCheck(algorithm, expected);
    return sdkCheck(algorithm, expected, implementations);
  }
  return undefined;
}

/** The SDK's implementation of a CRC S3 sends (CRC32C, CRC64NVME), or the client's own. */
function sdkChecksum(
  algorithm: string,
  config?: Pick<ClientConfig, 'checksumAlgorithms'> | undefined,
): Checksum {
  const name = algorithm.toUpperCase();
  const own = config?.checksumAlgorithms?.[name];
  if (own) return new own();
  if (name === 'CRC32C') return new Crc32c();
  if (name === 'CRC64NVME') return new Crc64Nvme();
  throw new Error(`no implementation of checksum ${name}`);
}

function sdkCheck(
  algorithm: string,
  expected: string,
  implementations: ClientConfig['checksumAlgorithms'],
): ChecksumCheck | 'unsupported' {
  let checksum: Checksum;
  try {
    checksum = sdkChecksum(algorithm, { checksumAlgorithms: implementations });
  } catch {
    return 'unsupported';
  }
  return {
    algorithm: algorithm.toUpperCase(),
    update(chunk) {
      checksum.update(chunk);
    },
    matches: async () => Buffer.from(await checksum.digest()).toString('base64') === expected,
  };
}

/** The SDK-shaped error of an answer that was not the one wanted (its XML `Code` when there is one). */
async function responseFailure(
  response: Awaited<ReturnType<NodeHttpHandler['handle']>>['response'],
  attempt: number,
): Promise<DirectFailure> {
  let text = '';
  const body = response.body as Readable | undefined;
  if (body) {
    const chunks: Buffer[] = [];
    for await (const chunk of body) {
      chunks.push(chunk as Buffer);
      if (chunks.length > 16) break;
    }
    body.destroy();
    text = Buffer.concat(chunks).toString('utf8');
  }
  const code = /<Code>([^<]+)<\/Code>/.exec(text)?.[1] ?? `Http${response.statusCode}`;
  const message = /<Message>([^<]*)<\/Message>/.exec(text)?.[1] ?? `HTTP ${response.statusCode}`;
  return Object.assign(new Error(message), {
    name: code,
    Code: code,
    $metadata: { httpStatusCode: response.statusCode, attempts: attempt },
  });
}

function crc32Check(expected: string): ChecksumCheck {
  let value = 0;
  return {
    algorithm: 'CRC32',
    update(chunk) {
      value = crc32(chunk, value);
    },
    matches: async () => crc32Base64(value) === expected,
  };
}

function hashCheck(algorithm: 'sha1' | 'sha256', expected: string): ChecksumCheck {
  const hash: Hash = createHash(algorithm);
  return {
    algorithm: algorithm.toUpperCase(),
    update(chunk) {
      hash.update(chunk);
    },
    matches: async () => hash.digest('base64') === expected,
  };
}
