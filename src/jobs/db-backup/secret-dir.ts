import { type FileHandle, mkdtemp, open, rm, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';

/** The descriptor number a tool is given its secret file on (see {@link SecretFile}). */
export const SECRET_FD = 3;

/**
 * A file that carries a password to a database tool (a libpq passfile, a MySQL option file).
 * Where the system lets a process open a descriptor it inherited by path (`/proc/self/fd`, on
 * Linux), the file has no name on disk: `fd` is this process's descriptor of the unlinked file,
 * handed to each tool as its descriptor {@link SECRET_FD}, and `path` is what the tool opens.
 * Elsewhere the file keeps its name in the secret folder until `dispose()` (`fd` undefined).
 */
export interface SecretFile {
  /** What the tool is told to open (`PGPASSFILE`, `--defaults-extra-file`). */
  path: string;
  /** This process's descriptor to pass to the tool as its descriptor 3; undefined: none. */
  fd: number | undefined;
}

/**
 * A private folder (0700) for the files that carry a password to a database tool (a libpq
 * passfile, a MySQL option file) and the dump's socket: the password never goes on a command
 * line (where `ps` and `/proc/<pid>/cmdline` show it to every user) nor into the tool's
 * environment. On Linux a secret file is unlinked as soon as it is written (see
 * {@link SecretFile}), so a `kill -9` of the run, which skips every `finally`, leaves no
 * password on disk: the bytes live as long as a process holds the descriptor. `dispose()`
 * closes the descriptors and removes the folder; call it in a `finally`.
 */
export class SecretDir {
  readonly #handles: FileHandle[] = [];

  private constructor(readonly path: string) {}

  /** Creates the folder under `parent` (the run's scratch folder). */
  static async create(parent: string): Promise<SecretDir> {
    // mkdtemp creates the folder 0700.
    return new SecretDir(await mkdtemp(join(parent, 's3worker-db-')));
  }

  /** Writes `name` (0600, must not exist yet) and returns how a tool reaches it. */
  async write(name: string, content: string): Promise<SecretFile> {
    const file = join(this.path, name);
    const handle = await open(file, 'wx+', 0o600);
    this.#handles.push(handle);
    try {
      await handle.writeFile(content);
    } catch (err) {
      await unlink(file).catch(() => {});
      throw err;
    }
    if (!(await reopensByDescriptor(handle.fd))) return { path: file, fd: undefined };
    await unlink(file);
    return { path: `/proc/self/fd/${SECRET_FD}`, fd: handle.fd };
  }

  /** Closes the secret files and removes the folder; never throws. */
  async dispose(): Promise<void> {
    for (const handle of this.#handles.splice(0)) await handle.close().catch(() => {});
    await rm(this.path, { recursive: true, force: true }).catch(() => {});
  }
}

/**
 * Whether a tool could open the file behind descriptor `fd` by its `/proc/self/fd` path: procfs
 * is there (Linux) and shows it as a regular file, which libpq demands of a passfile.
 */
async function reopensByDescriptor(fd: number): Promise<boolean> {
  try {
    return (await stat(`/proc/self/fd/${fd}`)).isFile();
  } catch {
    return false;
  }
}
