/** The fields of an AWS SDK error (S3, SQS, STS...) that s3worker reads to explain it. */
export interface SdkErrorLike {
  name?: string;
  message?: string;
  code?: string;
  Code?: string;
  $metadata?: { httpStatusCode?: number; requestId?: string };
  $response?: { headers?: Record<string, string> };
  errors?: unknown[];
  cause?: unknown;
  Endpoint?: string;
  Region?: string;
}

/** Node's codes for a connection that could not be made or was lost. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
]);

/** The network error code behind an SDK error (its causes followed), `TIMEOUT`, or undefined. */
export function networkCode(err: unknown): string | undefined {
  const seen = new Set<unknown>();
  let current: unknown = err;
  while (current && typeof current === 'object' && !seen.has(current)) {
    seen.add(current);
    const e = current as SdkErrorLike;
    if (e.code && NETWORK_CODES.has(e.code)) return e.code;
    if (e.name === 'TimeoutError' || e.name === 'RequestTimeout') return 'TIMEOUT';
    current = e.errors?.[0] ?? e.cause;
  }
  return undefined;
}

/**
 * The SDK error reduced to its name, message, code and metadata, without the fields a service
 * echoes on signature errors (access key id, string to sign). With `firstLineOnly`, the message
 * keeps its first line (a signature error's message may echo the canonical request).
 */
export function sanitizeSdkError(err: unknown, options: { firstLineOnly?: boolean } = {}): unknown {
  if (!(err instanceof Error)) return err;
  const e = err as SdkErrorLike & Error;
  const message = options.firstLineOnly ? ((e.message ?? '').split('\n')[0] ?? '') : e.message;
  const copy = new Error(message);
  copy.name = e.name;
  Object.assign(copy, {
    ...(e.Code ? { Code: e.Code } : {}),
    ...(e.code ? { code: e.code } : {}),
    ...(e.$metadata ? { $metadata: e.$metadata } : {}),
  });
  if (e.stack) copy.stack = e.stack;
  return copy;
}
