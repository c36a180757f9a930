import {
  batchManifestReadPermission,
  inventoryReadPermission,
} from '../kit/object-reports/report-read-permissions.js';
import type { Permission } from '../permissions.js';
import type { StreamTransformConfig } from './config.js';

/**
 * What reading `--inventory` or `--manifest` needs (see `inventoryReadPermission`). A manifest
 * may name versions: GetObject of a version is `s3:GetObjectVersion` (and its HeadObject too),
 * asked for on the input since the manifest is only read at run time.
 */
export function reportPermissions(
  config: Pick<StreamTransformConfig, 'inventory' | 'manifest' | 'input'>,
): Permission[] {
  const perms: Permission[] = [];
  if (config.inventory !== undefined) perms.push(inventoryReadPermission(config.inventory));
  if (config.manifest !== undefined) {
    perms.push(batchManifestReadPermission(config.manifest), {
      action: 's3:GetObjectVersion',
      bucket: config.input.bucket,
      prefix: config.input.prefix,
      reason: 'read the object versions a manifest names (lines with a versionId)',
    });
  }
  return perms;
}
