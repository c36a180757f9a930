import { parseS3Url } from '../../config/s3-location.js';
import type { Permission } from '../permissions.js';
import type { StreamTransformConfig } from './config.js';

/**
 * What reading `--inventory` or `--manifest` needs. An inventory's data files sit beside its
 * dated manifest folders (`<prefix>/<source bucket>/<config id>/data/…` next to
 * `…/<config id>/<date>/manifest.json`), so reading the report needs GetObject on the config id's
 * folder, two levels above the manifest. A manifest may name versions: GetObject of a version
 * is `s3:GetObjectVersion` (and its HeadObject too), asked for on the input since the manifest
 * is only read at run time.
 */
export function reportPermissions(
  config: Pick<StreamTransformConfig, 'inventory' | 'manifest' | 'input'>,
): Permission[] {
  const perms: Permission[] = [];
  if (config.inventory !== undefined) {
    const { bucket, prefix: key } = parseS3Url(config.inventory, 'inventory');
    const parts = key.split('/');
    const folder = parts.length > 2 ? `${parts.slice(0, -2).join('/')}/` : '';
    perms.push({
      action: 's3:GetObject',
      bucket,
      prefix: folder,
      reason: 'read the inventory manifest and its data files',
    });
  }
  if (config.manifest !== undefined) {
    const { bucket, prefix: key } = parseS3Url(config.manifest, 'manifest');
    perms.push(
      { action: 's3:GetObject', bucket, prefix: key, reason: 'read the Batch Operations manifest' },
      {
        action: 's3:GetObjectVersion',
        bucket: config.input.bucket,
        prefix: config.input.prefix,
        reason: 'read the object versions a manifest names (lines with a versionId)',
      },
    );
  }
  return perms;
}
