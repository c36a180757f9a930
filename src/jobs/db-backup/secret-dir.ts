import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * A private folder (0700) for the files that carry a password to a database tool (a libpq
 * passfile, a MySQL option file), each written 0600: the password never goes on a command line
 * (where `ps` and `/proc/<pid>/cmdline` show it to every user) nor into the tool's environment.
 * `dispose()` removes the folder; call it in a `finally`.
 */
export class SecretDir {
  private constructor(readonly path: string) {}

  /** Creates the folder under `parent` (the run's scratch folder). */
  static async create(parent: string): Promise<SecretDir> {
    // mkdtemp creates the folder 0700.
    return new SecretDir(await mkdtemp(join(parent, 's3worker-db-')));
  }

  /** Writes `name` (0600, must not exist yet) and returns its path. */
  async write(name: string, content: string): Promise<string> {
    const file = join(this.path, name);
    await writeFile(file, content, { mode: 0o600, flag: 'wx' });
    return file;
  }

  /** Removes the folder and its files; never throws. */
  async dispose(): Promise<void> {
    await rm(this.path, { recursive: true, force: true }).catch(() => {});
  }
}
