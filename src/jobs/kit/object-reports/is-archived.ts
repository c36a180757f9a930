import type { ReportedObject } from './reported-object.js';

/** Storage classes whose objects must be restored before a GET (Glacier Flexible Retrieval, Deep Archive). */
const ARCHIVE_CLASSES: ReadonlySet<string> = new Set(['GLACIER', 'DEEP_ARCHIVE']);
/** INTELLIGENT_TIERING's opt-in archive tiers; ARCHIVE_INSTANT_ACCESS stays readable. */
const ARCHIVE_TIERS: ReadonlySet<string> = new Set(['ARCHIVE_ACCESS', 'DEEP_ARCHIVE_ACCESS']);

/**
 * True when the report says a GET of the object would fail with InvalidObjectState: it sits in
 * an archive storage class or an archive tier of INTELLIGENT_TIERING. GLACIER_IR (instant
 * retrieval) is readable. A report without the storage class says nothing: false.
 */
export function isArchived(object: ReportedObject): boolean {
  if (object.storageClass !== undefined && ARCHIVE_CLASSES.has(object.storageClass)) return true;
  return (
    object.storageClass === 'INTELLIGENT_TIERING' &&
    object.accessTier !== undefined &&
    ARCHIVE_TIERS.has(object.accessTier)
  );
}
