import { createHash, type Hash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { crc32 } from 'node:zlib';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { getEndpointFromInstructions } from '@smithy/core/endpoints';
import { HttpRequest } from '@smithy/core/protocols';
import type { NodeHttpHandler } from '@smithy/node-http-handler';
import { SignatureV4 } from '@smithy/signature-v4';
import type {
  AwsCredentialIdentityProvider,
  ChecksumConstructor,
  HashConstructor,
} from '@smithy/types';
import type { Logger } from 'pino';
import { crc32Base64 } from './crc32-combine.js';
import { type ObjectWriteParams, objectWriteHeaders } from './object-write-options.js';

/** SHA-256 of an empty body: what a GET signs as its payload. */
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';

/** Response checksums a direct GET verifies itself; any other one sends the GET through the SDK. */
const VERIFIABLE = ['crc32', 'sha1', 'sha256'] as const;
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
  matches(): boolean;
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
}

/**
 * GetObject and PutObject without the SDK's per-request middleware stack, for runs of many small
 * objects, where that stack (about a millisecond of CPU per request: endpoint rules, schema
 * serde, retry bookkeeping, user agent, checksum plumbing) costs more than the transfer itself.
 *
 * Built from the client's own parts, so nothing about the connection or the credentials differs:
 * the endpoint comes from the SDK's endpoint rules (resolved once per bucket), requests are
 * signed by the SDK's SigV4 signer with the client's credential provider (so refreshes and
 * rotation apply) and clock offset, and sent through the client's HTTP handler (its agents,
 * keep-alive and timeouts).
 *
 * Only the plain case goes direct: a 200 answer. Anything else (an error status, a network error,
 * an endpoint that needs another signer, a checksum algorithm not computed here) returns
 * `undefined`, and the caller sends the same request through the SDK, which retries, parses the
 * error and explains it exactly as before. A direct attempt that failed is thus one extra attempt
 * in front of the SDK's.
 */
export class DirectRequests {
  readonly stats: DirectRequestStats = { direct: 0, viaSdk: 0 };
  readonly #client: S3Client;
  readonly #config: ClientConfig;
  readonly #unsignedPayload: boolean;
  readonly #log: Logger | undefined;
  readonly #targets = new Map<string, Promise<Target | undefined>>();
  readonly #signers = new Map<string, SignatureV4>();

  constructor(client: S3Client, options: DirectRequestOptions = {}) {
    this.#client = client;
    this.#config = client.config as unknown as ClientConfig;
    this.#unsignedPayload = options.unsignedPayload === true;
    this.#log = options.log;
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
    const response = await this.#send(target, 'GET', input.key, headers, query, undefined, signal);
    if (!response) return this.#viaSdk('GetObject', 'network');
    const body = response.body as Readable;
    if (response.statusCode !== (input.range === undefined ? 200 : 206)) {
      body.destroy();
      return this.#viaSdk('GetObject', response.statusCode);
    }
    const checksum = input.range === undefined ? responseChecksum(response.headers) : undefined;
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
    const algorithm = input.checksumAlgorithm?.toLowerCase();
    if (algorithm !== undefined && !(VERIFIABLE as readonly string[]).includes(algorithm)) {
      return this.#viaSdk('PutObject', 'checksum');
    }
    const fields = objectWriteHeaders(input.params);
    if (!fields) return this.#viaSdk('PutObject', 'field');
    const target = await this.#target('put', input.params.Bucket);
    if (!target) return this.#viaSdk('PutObject', 'endpoint');
    const { body } = input;
    const headers: Record<string, string> = {
      ...fields,
      host: target.host,
      'content-length': String(body.length),
      'x-amz-content-sha256': this.#unsignedPayload
        ? UNSIGNED_PAYLOAD
        : createHash('sha256').update(body).digest('hex'),
    };
    if (input.ifNoneMatch) headers['if-none-match'] = '*';
    if (algorithm !== undefined) {
      headers['x-amz-sdk-checksum-algorithm'] = algorithm.toUpperCase();
      headers[`x-amz-checksum-${algorithm}`] = checksumOf(algorithm, body);
    }
    const response = await this.#send(target, 'PUT', input.params.Key, headers, {}, body, signal);
    if (!response) return this.#viaSdk('PutObject', 'network');
    // The answer to a PUT is empty or a short XML error: read it so the socket is reused.
    (response.body as Readable | undefined)?.resume();
    if (response.statusCode !== 200) return this.#viaSdk('PutObject', response.statusCode);
    this.stats.direct += 1;
    const etag = header(response.headers, 'etag') ?? '';
    const versionId = header(response.headers, 'x-amz-version-id');
    return versionId ? { etag, versionId } : { etag };
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
      this.#log?.debug({ err: (err as Error)?.message }, 'direct request failed, using the SDK');
      return undefined;
    }
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
): ChecksumCheck | 'unsupported' | undefined {
  if (header(headers, 'x-amz-checksum-type') === 'COMPOSITE') return undefined;
  for (const algorithm of RESPONSE_CHECKSUMS) {
    const expected = header(headers, `x-amz-checksum-${algorithm}`);
    if (expected === undefined) continue;
    // `value-N`: a checksum of the parts' checksums (multipart without a full-object one).
    if (/-\d+$/.test(expected)) return undefined;
    if (algorithm === 'crc32') return crc32Check(expected);
    if (algorithm === 'sha1' || algorithm === 'sha256') return hashCheck(algorithm, expected);
    return 'unsupported';
  }
  return undefined;
}

function crc32Check(expected: string): ChecksumCheck {
  let value = 0;
  return {
    algorithm: 'CRC32',
    update(chunk) {
      value = crc32(chunk, value);
    },
    matches: () => crc32Base64(value) === expected,
  };
}

function hashCheck(algorithm: 'sha1' | 'sha256', expected: string): ChecksumCheck {
  const hash: Hash = createHash(algorithm);
  return {
    algorithm: algorithm.toUpperCase(),
    update(chunk) {
      hash.update(chunk);
    },
    matches: () => hash.digest('base64') === expected,
  };
}

function checksumOf(algorithm: string, body: Buffer): string {
  if (algorithm === 'crc32') return crc32Base64(crc32(body));
  return createHash(algorithm).update(body).digest('base64');
}
