import { readFile, rename, writeFile } from 'node:fs/promises';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { parseS3Url } from '../../config/s3-location.js';
import { ConfigError } from '../../errors.js';
import { explainS3Error } from '../../s3/explain-error.js';
import type { Transfer } from '../../transfer/transfer.js';
import type { Permission } from '../permissions.js';

/** What an enqueue run wrote down about how far it got. */
export interface EnqueueCheckpoint {
  version: 1;
  /**
   * The source enqueued (`s3://bucket/prefix`, `inventory s3://…`, `manifest s3://…`): a
   * checkpoint of another source is refused.
   */
  source: string;
  /** The queue URL: a checkpoint of another queue is refused. */
  queue: string;
  /**
   * The last key such that it and every key before it in the source's order were accepted by
   * SQS (or failed for good); a re-run lists after it. Absent before the first batch.
   */
  after?: string;
  /**
   * The place of `after` in the source (objects from its start): a re-run of a report passes
   * over this many objects.
   */
  taken: number;
  /** Messages SQS accepted up to `after`, over every run that wrote this checkpoint. */
  sent: number;
  /** Objects up to `after` whose message SQS refused for good. */
  failed: number;
  /** True once the whole source was enqueued: a re-run sends nothing. */
  complete: boolean;
  /** When it was written (ISO 8601). */
  updatedAt: string;
}

/** Where a checkpoint is kept: an object in S3 or a local file. */
export interface CheckpointStore {
  /** `s3://bucket/key` or the file's path, for logs. */
  readonly location: string;
  /** The checkpoint, or undefined when none was written yet. */
  read(signal: AbortSignal): Promise<EnqueueCheckpoint | undefined>;
  /** Replaces the checkpoint. */
  write(checkpoint: EnqueueCheckpoint, signal: AbortSignal): Promise<void>;
}

/**
 * The store `--checkpoint` names: `s3://bucket/key` (read with GetObject, written with one
 * PutObject each time) or a local path (written to a temporary file, then renamed over it, so
 * a kill mid-write leaves the previous checkpoint).
 */
export function checkpointStore(location: string, transfer: Transfer): CheckpointStore {
  return location.startsWith('s3://')
    ? new S3CheckpointStore(location, transfer)
    : new FileCheckpointStore(location);
}

/**
 * What keeping the checkpoint at `location` needs: for an S3 one, reading and writing its key,
 * and listing with `s3:prefix` set to the key, without which S3 answers a GET of a checkpoint not
 * written yet with 403 instead of 404. Nothing for a local file.
 */
export function checkpointPermissions(location: string | undefined): Permission[] {
  if (location === undefined || !location.startsWith('s3://')) return [];
  const { bucket, prefix: key } = parseS3Url(location, 'checkpoint');
  return [
    { action: 's3:GetObject', bucket, prefix: key, reason: 'resume: read the checkpoint' },
    { action: 's3:PutObject', bucket, prefix: key, reason: 'write the checkpoint' },
    {
      action: 's3:ListBucket',
      bucket,
      prefix: key,
      reason: 'resume: tell a checkpoint not written yet (404, not 403)',
    },
  ];
}

class S3CheckpointStore implements CheckpointStore {
  readonly location: string;
  readonly #bucket: string;
  readonly #key: string;
  readonly #transfer: Transfer;

  constructor(location: string, transfer: Transfer) {
    const { bucket, prefix } = parseS3Url(location, 'checkpoint');
    this.location = location;
    this.#bucket = bucket;
    this.#key = prefix;
    this.#transfer = transfer;
  }

  async read(signal: AbortSignal): Promise<EnqueueCheckpoint | undefined> {
    let text: string;
    try {
      const out = await this.#transfer.send(
        new GetObjectCommand({ Bucket: this.#bucket, Key: this.#key }),
        { abortSignal: signal },
      );
      text = await out.Body!.transformToString('utf8');
    } catch (err) {
      const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
      if (e.name === 'NoSuchKey' || e.$metadata?.httpStatusCode === 404) return undefined;
      throw signal.aborted
        ? err
        : explainS3Error(err, { action: 'GetObject', bucket: this.#bucket, key: this.#key });
    }
    return parseCheckpoint(text, this.location);
  }

  async write(checkpoint: EnqueueCheckpoint, signal: AbortSignal): Promise<void> {
    await this.#transfer.putObject({
      bucket: this.#bucket,
      key: this.#key,
      body: Buffer.from(`${JSON.stringify(checkpoint)}\n`),
      contentType: 'application/json',
      signal,
    });
  }
}

class FileCheckpointStore implements CheckpointStore {
  readonly location: string;

  constructor(path: string) {
    this.location = path;
  }

  async read(): Promise<EnqueueCheckpoint | undefined> {
    let text: string;
    try {
      text = await readFile(this.location, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    return parseCheckpoint(text, this.location);
  }

  async write(checkpoint: EnqueueCheckpoint): Promise<void> {
    const temporary = `${this.location}.tmp`;
    await writeFile(temporary, `${JSON.stringify(checkpoint)}\n`);
    await rename(temporary, this.location);
  }
}

function parseCheckpoint(text: string, location: string): EnqueueCheckpoint {
  let value: Partial<EnqueueCheckpoint> | undefined;
  try {
    value = JSON.parse(text) as Partial<EnqueueCheckpoint>;
  } catch {
    value = undefined;
  }
  if (
    value?.version !== 1 ||
    typeof value.source !== 'string' ||
    typeof value.queue !== 'string' ||
    (value.after !== undefined && typeof value.after !== 'string')
  ) {
    throw new ConfigError(
      [{ path: 'checkpoint', message: `${location} is not an enqueue checkpoint` }],
      { hint: 'name another --checkpoint, or delete this one to enqueue from the start' },
    );
  }
  return {
    version: 1,
    source: value.source,
    queue: value.queue,
    ...(value.after === undefined ? {} : { after: value.after }),
    taken: Number(value.taken ?? 0),
    sent: Number(value.sent ?? 0),
    failed: Number(value.failed ?? 0),
    complete: value.complete === true,
    updatedAt: String(value.updatedAt ?? ''),
  };
}
