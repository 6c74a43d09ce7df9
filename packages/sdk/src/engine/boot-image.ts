import { checkBootVolume } from '@stratus/model';
import type { Diagnostics } from '../diagnostics/index.js';
import { fieldOf, type ResourceConfig, type StackConfig } from './config.js';
import { target } from './target.js';

/** What a server of the stack boots from, as far as the configuration shows it. */
export interface BootImage {
  /** The image whose properties give the guest's facts; undefined when the stack does not show it. */
  image?: ResourceConfig;
  /** The server's field that names the root disk's source: where a problem of the pair is reported. */
  field: 'image' | 'bootVolume' | 'installMedia';
  /** The boot volume, when the server boots from one of the stack's volumes. */
  volume?: ResourceConfig;
}

/**
 * The image a server's guest facts come from (os_type, hw_firmware_type, minRamMb...): its `image`, its
 * `installMedia`, or for a server booting from a volume the image that volume was made from, following
 * source volumes (`volume.volume`) as Cinder carries volume_image_metadata from volume to volume. The
 * agent decides the same way (services/server.ts, bootSource).
 */
export function bootImageOf(config: StackConfig, rc: ResourceConfig): BootImage {
  const p = rc.properties;
  if (p.bootVolume !== undefined) {
    const volume = target(config, p.bootVolume, 'volume');
    let v = volume;
    for (let hops = 0; v && hops < 64; hops++) {
      if (v.properties.image !== undefined) {
        const image = target(config, v.properties.image, 'image');
        return { field: 'bootVolume', ...(volume ? { volume } : {}), ...(image ? { image } : {}) };
      }
      v = target(config, v.properties.volume, 'volume');
    }
    return { field: 'bootVolume', ...(volume ? { volume } : {}) };
  }
  const field = p.image !== undefined || p.installMedia === undefined ? 'image' : 'installMedia';
  const image = target(config, p[field], 'image');
  return { field, ...(image ? { image } : {}) };
}

/**
 * The server type's root-source rule (model `checkBootVolume`: `bootVolume` excludes `image` and
 * `installMedia`) for servers whose fields are references: the type's own check drops a problem at a
 * field whose value is known only at apply, but which fields are set is known at plan. Literal ids were
 * checked with the type already, so only references are reported here, at the field with its location.
 */
export function checkRootSources(config: StackConfig, diags: Diagnostics): void {
  for (const rc of config.resources.values()) {
    if (rc.type !== 'server') continue;
    // Every problem is at bootVolume: a literal id there was reported with the type.
    if (typeof rc.properties.bootVolume === 'string') continue;
    for (const p of checkBootVolume(rc.properties))
      diags.error(p.message, fieldOf(rc, ['properties', ...p.path]), rc.locate(['properties', ...p.path]));
  }
}
