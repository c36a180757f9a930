import type { Cidr } from './cidr.js';
import type { StringSet } from './string-set.js';

/**
 * What `policy --check` knows of one condition key in the job's requests. A key missing from a
 * {@link RequestContext} is unknown: conditions on it are reported as "cannot tell".
 */
export type ContextValue =
  /** The request does not carry the key. */
  | { kind: 'absent' }
  /** One value, somewhere in `set` (e.g. `"true"`, or one of the endpoints the task may use). */
  | { kind: 'one'; set: StringSet }
  /** A multi-valued key holding at least these values, maybe others (`kms:ResourceAliases`). */
  | { kind: 'contains'; values: readonly string[] }
  /** An address inside one of these ranges (`aws:SourceIp`). */
  | { kind: 'ip'; ranges: readonly Cidr[] };

/** Condition keys, lower-cased (IAM compares key names without case), to what is known of them. */
export type RequestContext = ReadonlyMap<string, ContextValue>;

/** A context from plain entries, key names lower-cased; later entries win. */
export function requestContext(
  ...entries: Array<Iterable<readonly [string, ContextValue]>>
): RequestContext {
  const out = new Map<string, ContextValue>();
  for (const list of entries) for (const [k, v] of list) out.set(k.toLowerCase(), v);
  return out;
}
