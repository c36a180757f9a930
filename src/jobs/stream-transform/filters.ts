import picomatch from 'picomatch';

/** The options that choose which listed objects a run processes. */
export interface ObjectFilterOptions {
  /** Globs matched against the key relative to the input prefix; when non-empty, a key must match one. */
  include?: readonly string[];
  /** Globs matched against the relative key; a key matching any is skipped. Wins over `include`. */
  exclude?: readonly string[];
  /** Inclusive lower bound on the size in bytes. */
  minSize?: number;
  /** Inclusive upper bound on the size in bytes. */
  maxSize?: number;
  /** Only objects last modified at or after this instant. */
  modifiedAfter?: Date;
  /** Only objects last modified strictly before this instant. */
  modifiedBefore?: Date;
}

/** What the filter looks at. */
export interface FilterableObject {
  relKey: string;
  size: number;
  lastModified?: Date;
}

/**
 * Builds one predicate from the filter options. Globs use picomatch with `dot: true` (so `*`
 * also matches dotfiles) against the key relative to the input prefix, where `**` crosses `/`
 * and `*` does not.
 */
export function createObjectFilter(
  options: ObjectFilterOptions,
): (object: FilterableObject) => boolean {
  const include = options.include?.length
    ? picomatch([...options.include], { dot: true })
    : undefined;
  const exclude = options.exclude?.length
    ? picomatch([...options.exclude], { dot: true })
    : undefined;
  const after = options.modifiedAfter?.getTime();
  const before = options.modifiedBefore?.getTime();
  return (object) => {
    if (options.minSize !== undefined && object.size < options.minSize) return false;
    if (options.maxSize !== undefined && object.size > options.maxSize) return false;
    if (after !== undefined || before !== undefined) {
      const t = object.lastModified?.getTime();
      if (t === undefined) return false;
      if (after !== undefined && t < after) return false;
      if (before !== undefined && t >= before) return false;
    }
    if (include && !include(object.relKey)) return false;
    if (exclude?.(object.relKey)) return false;
    return true;
  };
}
