import { createHash } from 'node:crypto';

/**
 * A short, stable digest of everything that decides an output's bytes and attributes (the
 * transform chain and its levels, the handler's version, content type, metadata, tags, storage
 * class, encryption, checksum), recorded on each output so that a re-run with any of them
 * changed rewrites the output instead of skipping it as current. `undefined` fields are left
 * out and keys are sorted, so adding an option that is not set changes nothing.
 * @returns 22 base64url characters (128 bits of SHA-256).
 */
export function outputFingerprint(settings: Record<string, unknown>): string {
  return createHash('sha256').update(canonicalJson(settings)).digest('base64url').slice(0, 22);
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
