import type { S3Client } from '@aws-sdk/client-s3';
import type { PAYLOAD_SIGNING_MODES } from '../config/aws-options.js';

/**
 * What the SigV4 signature of a PutObject or UploadPart covers:
 * - `signed`: the body's SHA-256 (the SDK's default for a body it holds in memory);
 * - `unsigned`: `UNSIGNED-PAYLOAD`; the body is still covered by its checksum header (CRC32 by
 *   default), which is signed, and on https by TLS;
 * - `auto`: `unsigned` on https endpoints and on http to a loopback address (no network in
 *   between), `signed` on other http endpoints (where nothing else protects the body from being
 *   changed on the way).
 */
export type PayloadSigning = (typeof PAYLOAD_SIGNING_MODES)[number];

const SHA256_HEADER = 'x-amz-content-sha256';
const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';
/** Commands whose body is object data. */
const DATA_COMMANDS = new Set(['PutObjectCommand', 'UploadPartCommand']);

/** Whether requests to `endpoint` (undefined: AWS, always https) go without a payload hash. */
export function isPayloadUnsigned(mode: PayloadSigning, endpoint: string | undefined): boolean {
  if (mode !== 'auto') return mode === 'unsigned';
  if (endpoint === undefined) return true;
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return false;
  }
  return url.protocol === 'https:' || isLoopback(url.hostname);
}

/** `localhost`, 127.0.0.0/8 or ::1: a connection that never leaves the host. */
function isLoopback(hostname: string): boolean {
  return (
    hostname === 'localhost' ||
    hostname === '[::1]' ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname)
  );
}

/**
 * Makes the client sign PutObject and UploadPart with `UNSIGNED-PAYLOAD` instead of hashing the
 * body: SHA-256 of every byte written costs about a second of CPU per GiB here, and the server
 * spends as much checking it. Requests whose payload header is already set (streaming uploads
 * with trailing checksums) are left alone.
 */
export function addUnsignedPayload(client: S3Client): void {
  client.middlewareStack.add(
    (next, context) => (args) => {
      const request = (args as { request?: { headers?: Record<string, string> } }).request;
      const headers = request?.headers;
      if (headers && DATA_COMMANDS.has(context.commandName ?? '') && !hasHeader(headers)) {
        headers[SHA256_HEADER] = UNSIGNED_PAYLOAD;
      }
      return next(args);
    },
    { step: 'build', name: 's3workerUnsignedPayload', priority: 'low' },
  );
}

function hasHeader(headers: Record<string, string>): boolean {
  for (const name of Object.keys(headers)) {
    if (name.toLowerCase() === SHA256_HEADER) return true;
  }
  return false;
}
