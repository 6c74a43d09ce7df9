import type { Diagnostics } from '../diagnostics/index.js';
import { bootImageOf } from './boot-image.js';
import { fieldOf, type StackConfig } from './config.js';
import type { Value } from './expr.js';
import { target } from './target.js';

const num = (v: Value | undefined): number | undefined => (typeof v === 'number' ? v : undefined);

/**
 * What a server needs from its image that only the pair shows, checked at plan as Nova checks it at boot
 * (`FlavorDiskSmallerThanMinDisk`, `FlavorMemoryTooSmall`): the flavor's root disk (when not 0, "the
 * image's size") at least the image's `minDiskGb`, and the server's memory (its flavor's, its own, or
 * the default 256 MiB) at least the image's `minRamMb`. Reported at the server's `flavor` (or
 * `memoryMb`), naming the image. Values known only after apply are not checked here (the agent does).
 * A server booting from a volume has the image the volume was made from (see {@link bootImageOf});
 * its flavor's disk does not apply (Nova ignores root_gb for a volume-backed server), and the volume's
 * own size is checked against the image's `minDiskGb` as Cinder does when it makes a volume from an
 * image ("Volume size ... cannot be smaller than the image minDisk size"), at the volume's `sizeGb`.
 */
export function checkServerImages(config: StackConfig, diags: Diagnostics): void {
  for (const rc of config.resources.values()) {
    if (rc.type !== 'volume') continue;
    const image = target(config, rc.properties.image, 'image');
    const minDisk = image && num(image.properties.minDiskGb);
    const size = num(rc.properties.sizeGb);
    if (minDisk !== undefined && size !== undefined && size < minDisk)
      diags.error(
        `a volume of ${size} GiB cannot hold image ${image!.name}, which needs at least minDiskGb ${minDisk}`,
        fieldOf(rc, ['properties', 'sizeGb']),
        rc.locate(['properties', 'sizeGb']),
      );
  }
  for (const rc of config.resources.values()) {
    if (rc.type !== 'server') continue;
    const boot = bootImageOf(config, rc);
    if (boot.field === 'installMedia') continue;
    const image = boot.image;
    if (!image) continue;
    const fromVolume = boot.field === 'bootVolume';
    const of = fromVolume && boot.volume ? ` (of boot volume ${boot.volume.name})` : '';
    const minDisk = num(image.properties.minDiskGb);
    const minRam = num(image.properties.minRamMb);
    if (minDisk === undefined && minRam === undefined) continue;
    const flavor = target(config, rc.properties.flavor, 'flavor');
    const at = (field: string) =>
      [fieldOf(rc, ['properties', field]), rc.locate(['properties', field])] as const;
    if (flavor) {
      const disk = num(flavor.properties.diskGb);
      if (!fromVolume && minDisk !== undefined && disk !== undefined && disk > 0 && disk < minDisk)
        diags.error(
          `flavor ${flavor.name} has a ${disk} GiB root disk, but image ${image.name} needs at least minDiskGb ${minDisk}`,
          ...at('flavor'),
        );
      const ram = num(flavor.properties.ramMb);
      if (minRam !== undefined && ram !== undefined && ram < minRam)
        diags.error(
          `flavor ${flavor.name} has ${ram} MiB of memory, but image ${image.name}${of} needs at least minRamMb ${minRam}`,
          ...at('flavor'),
        );
    } else if (minRam !== undefined && rc.properties.flavor === undefined) {
      const ram = rc.properties.memoryMb === undefined ? 256 : num(rc.properties.memoryMb);
      if (ram !== undefined && ram < minRam)
        diags.error(
          `the server has ${ram} MiB of memory, but image ${image.name}${of} needs at least minRamMb ${minRam}`,
          ...at(rc.properties.memoryMb === undefined ? boot.field : 'memoryMb'),
        );
    }
  }
}
