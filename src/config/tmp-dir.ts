import { tmpdir } from 'node:os';

/**
 * The writable scratch folder of a run (status file, spools): `S3WORKER_TMPDIR`, else the OS
 * temp dir. With a read-only root filesystem, point it at a mounted volume.
 */
export function resolveTmpDir(env: Record<string, string | undefined> = process.env): string {
  const dir = env.S3WORKER_TMPDIR;
  return dir !== undefined && dir !== '' ? dir : tmpdir();
}
