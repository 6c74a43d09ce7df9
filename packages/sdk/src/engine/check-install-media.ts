import type { Diagnostics } from '../diagnostics/index.js';
import { fieldOf, type ResourceConfig, type StackConfig } from './config.js';
import { Ref, type Value } from './expr.js';

/** The image a whole-resource reference (`${x}` or `${x.id}`) names, if `v` is one. */
function imageOf(config: StackConfig, v: Value | undefined): ResourceConfig | undefined {
  if (!(v instanceof Ref)) return undefined;
  if (v.path.length > 1 || (v.path.length === 1 && v.path[0] !== 'id')) return undefined;
  const rc = config.resources.get(v.resource);
  return rc?.type === 'image' ? rc : undefined;
}

/**
 * A server's `installMedia` and `driverMedia` must be ISO images: checked at plan where the stack shows
 * it (the image declares another `diskFormat`), reported at the server's field, naming the image. An
 * image whose format is detected at import is checked by the agent when the server is made.
 */
export function checkInstallMedia(config: StackConfig, diags: Diagnostics): void {
  for (const rc of config.resources.values()) {
    if (rc.type !== 'server') continue;
    for (const field of ['installMedia', 'driverMedia'] as const) {
      const image = imageOf(config, rc.properties[field]);
      const format = image?.properties.diskFormat;
      if (!image || typeof format !== 'string' || format === 'iso') continue;
      diags.error(
        `${field} must be an ISO image, but image ${image.name} has diskFormat ${format} (set diskFormat: iso on an installer or driver ISO)`,
        fieldOf(rc, ['properties', field]),
        rc.locate(['properties', field]),
      );
    }
  }
}
