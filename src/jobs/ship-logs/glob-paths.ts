import { readdir } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import picomatch from 'picomatch';

/** How deep a `**` glob descends below its fixed folder. */
const MAX_DEPTH = 16;

/**
 * The paths that match any of `patterns` and none of `exclude`, sorted, absolute. A pattern
 * without glob characters is returned as it is (whether the file exists is the caller's
 * question); a glob lists its fixed folder (`/var/log/app` of `/var/log/app/*.log`), descending
 * only when the glob part crosses folders (`**` or a `/`). Exclude globs without a `/` match the
 * file name, others the whole path. Folders that cannot be read are skipped: a log folder may
 * not exist yet.
 */
export async function expandGlobs(
  patterns: readonly string[],
  exclude: readonly string[],
): Promise<string[]> {
  const excluded = excludeMatcher(exclude);
  const found = new Set<string>();
  for (const pattern of patterns) {
    const scan = picomatch.scan(pattern);
    if (!scan.isGlob) {
      const path = resolve(pattern);
      if (!excluded(path)) found.add(path);
      continue;
    }
    const base = resolve(scan.base === '' ? '.' : scan.base);
    const matches = picomatch(scan.glob, { dot: false });
    const deep = scan.glob.includes('/') || scan.glob.includes('**');
    for (const rel of await walk(base, deep ? MAX_DEPTH : 0)) {
      const path = join(base, rel);
      if (matches(rel) && !excluded(path)) found.add(path);
    }
  }
  return [...found].sort();
}

/**
 * The other files in `path`'s folder whose names are its name plus a suffix that starts with
 * `.`, `-` or `_` (`app.log.1`, `app.log-20240101`), none of `exclude`: where logrotate and
 * most loggers put a file rotated away from `path`.
 */
export async function rotatedNames(path: string, exclude: readonly string[]): Promise<string[]> {
  const excluded = excludeMatcher(exclude);
  const name = basename(path);
  const dir = dirname(path);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  return names
    .filter(
      (n) => n.length > name.length + 1 && n.startsWith(name) && '.-_'.includes(n[name.length]!),
    )
    .map((n) => join(dir, n))
    .filter((p) => !excluded(p));
}

/** Exclude globs without a `/` match the file name, others the whole path. */
function excludeMatcher(exclude: readonly string[]): (path: string) => boolean {
  return exclude.length > 0 ? picomatch([...exclude], { basename: true }) : () => false;
}

/** Files below `dir` as relative paths, descending `depth` folders more. */
async function walk(dir: string, depth: number, rel = ''): Promise<string[]> {
  let entries: import('node:fs').Dirent[];
  try {
    entries = await readdir(join(dir, rel), { withFileTypes: true });
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const entry of entries) {
    const path = rel === '' ? entry.name : `${rel}/${entry.name}`;
    if (entry.isDirectory()) {
      if (depth > 0) out.push(...(await walk(dir, depth - 1, path)));
    } else {
      out.push(path);
    }
  }
  return out;
}
