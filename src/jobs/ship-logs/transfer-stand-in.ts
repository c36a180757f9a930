/**
 * Stand-in for the shared transfer layer and job kit (`ctx.transfer`, `jobs/kit/compression`,
 * `jobs/kit/key-template`) until they land: the same names and shapes, built on what exists
 * today. Delete this file and switch the imports once they are on main.
 */
import type { Readable, Transform } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import { ConfigError } from '../../errors.js';
import { ByteBudget } from '../../s3/byte-budget.js';
import { type SseOption, uploadStream } from '../../s3/upload.js';
import { createBuiltinTransform } from '../stream-transform/builtin-transforms.js';

export { joinPrefix } from '../stream-transform/key-template.js';

/** A compression codec. */
export type Codec = 'gzip' | 'zstd' | 'none';

/** The compressing stage of `codec`, or undefined for `none`. */
export function compressStage(
  codec: Codec,
  options: { level?: number } = {},
): Transform | undefined {
  if (codec === 'none') return undefined;
  return createBuiltinTransform(codec, {
    gzipLevel: options.level,
    zstdLevel: options.level,
  }) as Transform;
}

/** `.gz`, `.zst` or ''. */
export function codecExtension(codec: Codec): string {
  return codec === 'gzip' ? '.gz' : codec === 'zstd' ? '.zst' : '';
}

/** The Content-Encoding of a body compressed with `codec`, or undefined. */
export function codecContentEncoding(codec: Codec): string | undefined {
  return codec === 'none' ? undefined : codec;
}

/** Replaces `{name}` placeholders; an unknown one is an error listing the known ones. */
export function renderTemplate(template: string, fields: Record<string, string>): string {
  return template.replace(/\{([^{}]*)\}/g, (_whole, name: string) => {
    const value = fields[name];
    if (value === undefined) {
      throw new ConfigError([
        {
          path: 'keyTemplate',
          message: `unknown placeholder {${name}}; known: ${Object.keys(fields).join(', ')}`,
        },
      ]);
    }
    return value;
  });
}

/** What `ctx.transfer.upload` takes (the subset ship-logs uses). */
export interface UploadOptions {
  bucket: string;
  key: string;
  body: Readable | AsyncIterable<Uint8Array>;
  signal?: AbortSignal;
  contentType?: string;
  contentEncoding?: string;
  metadata?: Record<string, string>;
  ifNoneMatch?: boolean;
  expectedBytes?: number;
  sse?: SseOption;
}

/** What `ctx.transfer` offers ship-logs. */
export interface Transfer {
  upload(options: UploadOptions): Promise<{ etag: string; bytes: number; parts: number }>;
}

/** A transfer over `s3` with the runtime's default part size, queue and 128 MiB budget. */
export function createStandInTransfer(s3: S3Client): Transfer {
  const budget = new ByteBudget(128 * 1024 * 1024);
  return {
    upload: (options) => uploadStream(s3, { ...options, budget }),
  };
}
