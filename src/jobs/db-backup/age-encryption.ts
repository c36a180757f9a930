import { readFile } from 'node:fs/promises';
import { Duplex, PassThrough, Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { Decrypter, Encrypter } from 'age-encryption';
import { ConfigError, ExitCode, S3WorkerError } from '../../errors.js';

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

/** Problems with `recipients` as age recipients (`age1...`), as messages; empty when all parse. */
export function recipientProblems(recipients: readonly string[]): string[] {
  const problems: string[] = [];
  for (const r of recipients) {
    try {
      new Encrypter().addRecipient(r);
    } catch {
      problems.push(
        `not an age recipient: ${JSON.stringify(r.slice(0, 24))} (expected a public key starting with age1)`,
      );
    }
  }
  return problems;
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
  const problems = recipientProblems(all);
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
  const encrypter = new Encrypter();
  for (const r of recipients) encrypter.addRecipient(r);
  return webStage((input) => encrypter.encrypt(input));
}

/**
 * A stream stage that decrypts an age file with one of `identities` (`AGE-SECRET-KEY-1...`).
 * Fails with code `DECRYPT_FAILED` when no identity matches the file's recipients; a chunk
 * that fails authentication (tampered or damaged ciphertext) fails the stream with the
 * library's error.
 */
export function ageDecryptStage(identities: readonly string[]): Duplex {
  const decrypter = new Decrypter();
  for (const id of identities) decrypter.addIdentity(id);
  // Only the header's failures are about the key; a chunk failing authentication later is
  // damaged data, left for the caller to name.
  return webStage(async (input) => {
    try {
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
