import { readFile } from 'node:fs/promises';
import { Duplex, PassThrough, Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { bech32 } from '@scure/base';
import { ConfigError, ExitCode, S3WorkerError } from '../../errors.js';

// The age library (with its post-quantum tables) is imported only when a run encrypts, decrypts
// or checks recipients: about 50 ms and 20 MiB that an unencrypted backup does not pay.

/** File extension of an age-encrypted backup. */
export const AGE_EXTENSION = '.age';

/**
 * Lines of an age recipients or identities file: one entry per line, `#` comments and blank
 * lines ignored (the format `age -R` and `age -i` read).
 */
export function ageFileEntries(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}

/** Longest recipient accepted (a post-quantum `age1pq1...` recipient is about 2,000 characters). */
const MAX_RECIPIENT_LENGTH = 8192;

/**
 * Problems with `recipients` that show without the age library: each must be a bech32 string
 * of an age prefix with a valid checksum (`age1...`), as messages. What kind of recipient it
 * is, is checked by `loadRecipients` when the run starts.
 */
export function recipientSyntaxProblems(recipients: readonly string[]): string[] {
  const problems: string[] = [];
  for (const r of recipients) {
    let prefix: string | undefined;
    try {
      prefix = bech32.decode(r as `${string}1${string}`, MAX_RECIPIENT_LENGTH).prefix;
    } catch {
      prefix = undefined;
    }
    // `age1...` (X25519), or `age1pq1...` and plugins' `age1name1...`, whose prefix runs to
    // the last separator.
    if (prefix !== 'age' && !prefix?.startsWith('age1')) problems.push(notARecipient(r));
  }
  return problems;
}

/** Problems with `recipients` as age recipients (`age1...`), as messages; empty when all parse. */
export async function recipientProblems(recipients: readonly string[]): Promise<string[]> {
  const problems = recipientSyntaxProblems(recipients);
  if (problems.length > 0 || recipients.length === 0) return problems;
  const { Encrypter } = await import('age-encryption');
  for (const r of recipients) {
    try {
      new Encrypter().addRecipient(r);
    } catch {
      problems.push(notARecipient(r));
    }
  }
  return problems;
}

function notARecipient(r: string): string {
  return `not an age recipient: ${JSON.stringify(r.slice(0, 24))} (expected a public key starting with age1)`;
}

/** Reads recipients from `--recipient` values and an optional recipients file. */
export async function loadRecipients(
  recipients: readonly string[],
  file: string | undefined,
): Promise<string[]> {
  const all = [...recipients];
  if (file !== undefined) {
    const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
      throw new ConfigError([
        { path: 'recipientsFile', message: `cannot read ${file}: ${err.code ?? err.message}` },
      ]);
    });
    all.push(...ageFileEntries(text));
  }
  const problems = await recipientProblems(all);
  if (problems.length > 0) {
    throw new ConfigError(problems.map((message) => ({ path: 'recipient', message })));
  }
  return all;
}

/**
 * A stream stage that encrypts to `recipients` in the age format (X25519 or post-quantum
 * recipients; the output decrypts with `age -d -i key.txt`). Streaming: 64 KiB chunks, each
 * authenticated; memory stays a few chunks.
 */
export function ageEncryptStage(recipients: readonly string[]): Duplex {
  return webStage(async (input) => {
    const { Encrypter } = await import('age-encryption');
    const encrypter = new Encrypter();
    for (const r of recipients) encrypter.addRecipient(r);
    return encrypter.encrypt(input);
  });
}

/**
 * A stream stage that decrypts an age file with one of `identities` (`AGE-SECRET-KEY-1...`).
 * Fails with code `DECRYPT_FAILED` when no identity matches the file's recipients; a chunk
 * that fails authentication (tampered or damaged ciphertext) fails the stream with the
 * library's error.
 */
export function ageDecryptStage(identities: readonly string[]): Duplex {
  // Only the header's failures are about the key; a chunk failing authentication later is
  // damaged data, left for the caller to name.
  return webStage(async (input) => {
    const { Decrypter } = await import('age-encryption');
    try {
      const decrypter = new Decrypter();
      for (const id of identities) decrypter.addIdentity(id);
      return await decrypter.decrypt(input);
    } catch (err) {
      throw decryptFailed(err);
    }
  });
}

function decryptFailed(err: unknown): S3WorkerError {
  if (err instanceof S3WorkerError) return err;
  const reason = err instanceof Error ? err.message : String(err);
  return new S3WorkerError(`cannot decrypt the backup: ${reason}`, {
    code: 'DECRYPT_FAILED',
    exitCode: ExitCode.ObjectsFailed,
    cause: err,
    hint: 'give the age identity whose recipient the backup was encrypted to (--identity-file, or the variable named by --identity-env); the manifest lists the recipients',
  });
}

/** A Node Duplex around a function from a web byte stream to a web byte stream. */
function webStage(
  fn: (input: ReadableStream<Uint8Array>) => Promise<ReadableStream<Uint8Array>>,
): Duplex {
  const input = new PassThrough();
  const webInput = Readable.toWeb(input) as unknown as ReadableStream<Uint8Array>;
  const output = Readable.from(
    (async function* () {
      const web = await fn(webInput);
      yield* web as unknown as WebReadableStream<Uint8Array>;
    })(),
    { objectMode: false },
  );
  return Duplex.from({ writable: input, readable: output });
}

/** Reads identities from a file, or from an environment variable's text. */
export async function loadIdentities(
  file: string | undefined,
  envName: string,
  env: NodeJS.ProcessEnv,
): Promise<string[]> {
  let text: string | undefined;
  if (file !== undefined) {
    text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
      throw new ConfigError([
        { path: 'identityFile', message: `cannot read ${file}: ${err.code ?? err.message}` },
      ]);
    });
  } else {
    text = env[envName];
  }
  const ids = ageFileEntries(text ?? '');
  if (ids.length === 0) {
    throw new S3WorkerError('the backup is encrypted and no age identity was given', {
      code: 'DECRYPT_FAILED',
      exitCode: ExitCode.Config,
      hint: `give the identity file with --identity-file or its text in the ${envName} variable (an ECS secret)`,
    });
  }
  return ids;
}
