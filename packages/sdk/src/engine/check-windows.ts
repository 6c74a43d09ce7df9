import { injectedPathProblem } from '@stratus/model';
import type { Diagnostics } from '../diagnostics/index.js';
import { bootImageOf } from './boot-image.js';
import { fieldOf, type ResourceConfig, type StackConfig } from './config.js';
import { Ref, type Value } from './expr.js';
import { target } from './target.js';

/**
 * Windows 11's hardware requirements (Microsoft's "Windows 11 specifications and system requirements":
 * 2 or more cores, 4 GB of RAM, 64 GB of storage, UEFI firmware capable of Secure Boot, TPM 2.0).
 */
export const WIN11_MINIMUMS = { vcpus: 2, memoryMb: 4096, diskGb: 64 } as const;

const str = (v: Value | undefined): string | undefined => (typeof v === 'string' ? v : undefined);
const num = (v: Value | undefined): number | undefined => (typeof v === 'number' ? v : undefined);
const bool = (v: Value | undefined): boolean | undefined => (typeof v === 'boolean' ? v : undefined);

/** The Glance-style `properties` of an image resource, as far as the configuration has them. */
function propertiesOf(image: ResourceConfig): Record<string, Value> {
  const raw = image.properties.properties;
  return raw && typeof raw === 'object' && !Array.isArray(raw) && !(raw instanceof Ref)
    ? (raw as Record<string, Value>)
    : {};
}

/**
 * Injected file paths a server's guest cannot take (a drive path on a Linux guest). The guest is the
 * server's `osType`, else the `os_type` of the image (or install media) it names in this stack, else
 * linux; with an image the stack does not declare, or a value known only at apply, the agent checks.
 */
function checkInjectedPaths(config: StackConfig, rc: ResourceConfig, diags: Diagnostics): void {
  const files = rc.properties.personality;
  if (!files || typeof files !== 'object' || Array.isArray(files) || files instanceof Ref) return;
  // A server's own osType is the server type's own check.
  if (rc.properties.osType !== undefined) return;
  const image = bootImageOf(config, rc).image;
  if (!image) return;
  const osType = propertiesOf(image).os_type;
  if (osType !== undefined && osType !== 'linux') return;
  for (const path of Object.keys(files)) {
    const p = injectedPathProblem(path, 'linux', `image ${image.name} has no os_type windows`);
    if (p)
      diags.error(
        p,
        fieldOf(rc, ['properties', 'personality', path]),
        rc.locate(['properties', 'personality', path]),
      );
  }
}

/**
 * Guest-profile checks that need a server and its image together (for a server booting from a volume,
 * the image the volume was made from, reported at `bootVolume`; see boot-image.ts), at plan, with the
 * location of the field to change (the agent decides the same way: server field, else image property, else the
 * profile's default; see the agent's services/hardware.ts):
 * - Secure Boot (the server's `secureBoot`, or the image's `os_secure_boot: required`) without UEFI
 *   (the server's `firmware`, else the image's `hw_firmware_type`, else uefi for Windows, bios for Linux).
 *   Both on the server itself is the server type's own check.
 * - An image with `os_distro: win11` on a server below {@link WIN11_MINIMUMS}, without UEFI or without a
 *   TPM. The disk is checked where the plan knows it (a flavor's non-zero diskGb); values known only
 *   after apply are not checked here.
 * - Injected files (`personality`) at Windows drive paths on a Linux guest (the server's `osType`, else
 *   its image's or install media's `os_type`; see the model's guest-path.ts), at the path's key.
 */
export function checkServerGuests(config: StackConfig, diags: Diagnostics): void {
  for (const rc of config.resources.values()) {
    if (rc.type !== 'server') continue;
    checkInjectedPaths(config, rc, diags);
    const boot = bootImageOf(config, rc);
    // A server installing from an ISO has its own checks (check-install-media).
    if (boot.field === 'installMedia' || !boot.image) continue;
    const image = boot.image;
    const imageField = boot.field;
    const props = propertiesOf(image);
    const at = (field: string) =>
      [fieldOf(rc, ['properties', field]), rc.locate(['properties', field])] as const;
    const set = (field: string) => rc.properties[field] !== undefined;
    const own = rc.properties;
    const osType = str(own.osType) ?? str(props.os_type) ?? 'linux';
    const windows = osType === 'windows';
    const firmware = set('firmware')
      ? str(own.firmware)
      : (str(props.hw_firmware_type) ?? (windows ? 'uefi' : 'bios'));
    const firmwareFrom = set('firmware')
      ? 'the server sets firmware bios'
      : str(props.hw_firmware_type) !== undefined
        ? `image ${image.name} has hw_firmware_type bios`
        : `a ${osType} guest defaults to firmware bios`;
    const secureBoot = set('secureBoot') ? bool(own.secureBoot) : str(props.os_secure_boot) === 'required';
    const tpm = set('tpm') ? bool(own.tpm) : str(props.hw_tpm_version) === '2.0' || windows;

    if (secureBoot === true && firmware === 'bios' && !(set('secureBoot') && set('firmware')))
      diags.error(
        set('secureBoot')
          ? `Secure Boot needs UEFI, but ${firmwareFrom}: set firmware: uefi, or leave secureBoot out`
          : `image ${image.name} requires Secure Boot (os_secure_boot required), which needs UEFI, but ${firmwareFrom}: set firmware: uefi, or secureBoot: false`,
        ...at(set('secureBoot') ? 'secureBoot' : set('firmware') ? 'firmware' : imageField),
      );

    if (str(props.os_distro) !== 'win11') continue;
    const w11 = `Windows 11 (image ${image.name} has os_distro win11)`;
    const flavor = target(config, own.flavor, 'flavor');
    const sized = flavor !== undefined || set('flavor');
    const vcpus = flavor ? num(flavor.properties.vcpus) : sized ? undefined : (num(own.vcpus) ?? 1);
    const memoryMb = flavor ? num(flavor.properties.ramMb) : sized ? undefined : (num(own.memoryMb) ?? 256);
    const sizeAt = (field: string) => at(flavor ? 'flavor' : set(field) ? field : imageField);
    const change = (what: string, field: string, min: number) =>
      flavor ? `use a flavor with ${what} ${min} or more` : `set ${field}: ${min} or more`;
    if (vcpus !== undefined && vcpus < WIN11_MINIMUMS.vcpus)
      diags.error(
        `${w11} needs at least ${WIN11_MINIMUMS.vcpus} vCPUs, the server has ${vcpus}: ${change('vcpus', 'vcpus', WIN11_MINIMUMS.vcpus)}`,
        ...sizeAt('vcpus'),
      );
    if (memoryMb !== undefined && memoryMb < WIN11_MINIMUMS.memoryMb)
      diags.error(
        `${w11} needs at least ${WIN11_MINIMUMS.memoryMb} MiB of memory, the server has ${memoryMb} MiB: ${change('ramMb', 'memoryMb', WIN11_MINIMUMS.memoryMb)}`,
        ...sizeAt('memoryMb'),
      );
    // A boot volume is the root disk whatever the flavor says (Nova ignores root_gb for it).
    const bootVolume = boot.volume;
    const diskGb = bootVolume
      ? num(bootVolume.properties.sizeGb)
      : flavor
        ? num(flavor.properties.diskGb)
        : undefined;
    if (bootVolume && diskGb !== undefined && diskGb < WIN11_MINIMUMS.diskGb)
      diags.error(
        `${w11} needs a root disk of at least ${WIN11_MINIMUMS.diskGb} GiB, boot volume ${bootVolume.name} has ${diskGb} GiB: grow it to sizeGb ${WIN11_MINIMUMS.diskGb} or more`,
        ...at('bootVolume'),
      );
    else if (!bootVolume && diskGb !== undefined && diskGb > 0 && diskGb < WIN11_MINIMUMS.diskGb)
      diags.error(
        `${w11} needs a root disk of at least ${WIN11_MINIMUMS.diskGb} GiB, flavor ${flavor!.name} has ${diskGb} GiB: use a flavor with diskGb ${WIN11_MINIMUMS.diskGb} or more`,
        ...at('flavor'),
      );
    if (firmware === 'bios')
      diags.error(
        `${w11} needs UEFI firmware, but ${firmwareFrom}: set firmware: uefi (or leave it out)`,
        ...at(set('firmware') ? 'firmware' : imageField),
      );
    if (tpm === false)
      diags.error(
        `${w11} needs a TPM 2.0, but the server has none: set tpm: true (or leave it out${windows ? '' : ' and set osType: windows'})`,
        ...at(set('tpm') ? 'tpm' : set('osType') ? 'osType' : imageField),
      );
  }
}
