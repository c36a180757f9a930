import { type DestinationStream, type Logger, pino } from 'pino';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface LoggerOptions {
  /** Minimum level; default `info`. */
  level?: LogLevel;
  /**
   * `json`: one JSON object per line (CloudWatch, FireLens). `pretty`: one readable line per
   * event. Default: `pretty` when the destination is a TTY, else `json`.
   */
  format?: 'json' | 'pretty';
  /** Where lines go; default stdout. Tests pass a stream to capture them. */
  destination?: DestinationStream;
}

/**
 * Field names whose values never reach a log line, at any depth pino's redaction reaches.
 * Credentials, tokens, signatures and passwords; kept in one place so a test can prove each.
 */
export const REDACTED_KEYS = [
  'accessKeyId',
  'secretAccessKey',
  'sessionToken',
  'AccessKeyId',
  'SecretAccessKey',
  'SessionToken',
  'Token',
  'token',
  'authorization',
  'Authorization',
  'x-amz-security-token',
  'X-Amz-Security-Token',
  'X-Amz-Signature',
  'x-amz-signature',
  'X-Amz-Credential',
  'signature',
  'password',
  'PGPASSWORD',
  'MYSQL_PWD',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_ACCESS_KEY_ID',
  'AWS_CONTAINER_AUTHORIZATION_TOKEN',
  // What S3 echoes back in SignatureDoesNotMatch / InvalidAccessKeyId errors.
  'AWSAccessKeyId',
  'SignatureProvided',
  'StringToSign',
  'StringToSignBytes',
  'CanonicalRequest',
  'CanonicalRequestBytes',
];

/** Redaction paths: each key at the top level and up to three objects deep. */
export function redactPaths(keys: readonly string[] = REDACTED_KEYS): string[] {
  const paths: string[] = [];
  for (const key of keys) {
    const k = /^[A-Za-z_$][\w$]*$/.test(key) ? key : `["${key}"]`;
    const join = (prefix: string) => (k.startsWith('[') ? `${prefix}${k}` : `${prefix}.${k}`);
    paths.push(k, join('*'), join('*.*'), join('*.*.*'));
  }
  return paths;
}

/**
 * The process logger: pino JSON on stdout (one line per event), readable on a terminal, with
 * every credential field redacted. Messages are fixed lowercase strings; variables go in the
 * object (`log.info({ bucket }, 'listing input')`).
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const destination = options.destination ?? pino.destination({ fd: 1, sync: false });
  const isTty = options.destination === undefined && process.stdout.isTTY === true;
  const format = options.format ?? (isTty ? 'pretty' : 'json');
  const base = {
    level: options.level ?? 'info',
    base: { pid: process.pid },
    redact: { paths: redactPaths(), censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  };
  if (format === 'pretty') {
    // pino-pretty as a synchronous stream (no worker thread) so a fast exit loses no line.
    // Lazy require keeps it off the JSON path.
    const pretty = loadPretty();
    return pino(
      base,
      pretty({
        colorize: isTty,
        translateTime: 'SYS:HH:MM:ss',
        ignore: 'pid,hostname',
        singleLine: true,
        destination: options.destination ?? 1,
        sync: true,
      }),
    );
  }
  return pino(base, destination);
}

type PrettyFactory = (opts: Record<string, unknown>) => DestinationStream;
let prettyFactory: PrettyFactory | undefined;
function loadPretty(): PrettyFactory {
  if (!prettyFactory) {
    const req = process.getBuiltinModule('node:module').createRequire(import.meta.url);
    prettyFactory = req('pino-pretty') as PrettyFactory;
  }
  return prettyFactory;
}

export type { Logger };
