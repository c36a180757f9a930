import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { ConfigError } from '../errors.js';
import { parseS3Url, type S3Location } from './s3-location.js';

/** A config file's contents and where it was read from. */
export interface ConfigFile {
  /** The top-level JSON object, keys as in the job schema (camelCase). */
  values: Record<string, unknown>;
  /** The location as given, for messages. */
  name: string;
  /** Folder of a local file (a relative `handler` in it is resolved from there); undefined for s3://. */
  dir: string | undefined;
}

export interface ReadConfigFileOptions {
  /** Folder a relative local path is resolved from; default `process.cwd()`. */
  cwd?: string;
  /** Reads an `s3://` config object as text; the runtime passes one built on the task's credentials. */
  readS3: (location: S3Location) => Promise<string>;
}

/**
 * Reads a JSON config file from a local path or an `s3://bucket/key` URL. A missing file, bad
 * JSON or a non-object is a ConfigError naming the file; S3 errors are left to `readS3`.
 */
export async function readConfigFile(
  location: string,
  options: ReadConfigFileOptions,
): Promise<ConfigFile> {
  let text: string;
  let dir: string | undefined;
  if (location.startsWith('s3://')) {
    text = await options.readS3(parseS3Url(location, 'config'));
  } else {
    const path = resolve(options.cwd ?? process.cwd(), location);
    dir = dirname(path);
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      throw new ConfigError(
        [{ path: 'config', message: `cannot read ${location}: ${(err as Error).message}` }],
        { cause: err, hint: 'give --config a readable JSON file or an s3://bucket/key URL' },
      );
    }
  }
  let values: unknown;
  try {
    values = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(
      [{ path: 'config', message: `${location} is not valid JSON: ${(err as Error).message}` }],
      { cause: err },
    );
  }
  if (values === null || typeof values !== 'object' || Array.isArray(values)) {
    throw new ConfigError([
      { path: 'config', message: `${location} must hold a JSON object of options` },
    ]);
  }
  return { values: values as Record<string, unknown>, name: location, dir };
}
