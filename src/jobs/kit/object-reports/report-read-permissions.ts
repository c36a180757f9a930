import { parseS3Url } from '../../../config/s3-location.js';
import type { Permission } from '../../permissions.js';

/**
 * What reading the S3 Inventory report at `manifestUrl` (`s3://…/manifest.json`) needs: its data
 * files sit beside its dated manifest folders (`<prefix>/<source bucket>/<config id>/data/…` next
 * to `…/<config id>/<date>/manifest.json`), so GetObject on the config id's folder, two levels
 * above the manifest.
 */
export function inventoryReadPermission(manifestUrl: string): Permission {
  const { bucket, prefix: key } = parseS3Url(manifestUrl, 'inventory');
  const parts = key.split('/');
  const folder = parts.length > 2 ? `${parts.slice(0, -2).join('/')}/` : '';
  return {
    action: 's3:GetObject',
    bucket,
    prefix: folder,
    reason: 'read the inventory manifest and its data files',
  };
}

/** What reading the Batch Operations CSV manifest at `manifestUrl` needs: GetObject on it. */
export function batchManifestReadPermission(manifestUrl: string): Permission {
  const { bucket, prefix: key } = parseS3Url(manifestUrl, 'manifest');
  return {
    action: 's3:GetObject',
    bucket,
    prefix: key,
    reason: 'read the Batch Operations manifest',
  };
}
