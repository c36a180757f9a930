import { open, rename } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * Makes the entries of `dir` (files created, renamed or removed in it) survive a power loss:
 * a file's own fsync does not cover the folder entry that names it.
 */
export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Replaces `path` with `data` atomically and durably: written to `path.tmp`, fsynced, renamed
 * over `path`, and the folder fsynced. A crash leaves either the old or the new content, never a
 * mix. Costs two fsyncs.
 */
export async function writeFileDurably(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${path}.tmp`;
  const handle = await open(tmp, 'w');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, path);
  await fsyncDir(dirname(path));
}
