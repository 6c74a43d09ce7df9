/**
 * A server's virtual hardware from its image's Glance-style properties and its own fields, as Nova's
 * libvirt driver reads `hw_*` and `os_*` image properties. Precedence, field by field: the server's own
 * value wins (`osType`, `firmware`, `machine`, `secureBoot`, `tpm`); else the image's property (`os_type`,
 * `hw_firmware_type`, `hw_machine_type`, `os_secure_boot=required`, `hw_tpm_version`); else the guest
 * profile's default (Windows: UEFI on q35 with a TPM; Linux: BIOS on pc, no TPM).
 */
import type { HardwareOverrides, OsType } from '../compute/profiles/types.js';
import type { DomainSpec } from '../compute/types.js';
import type { ImageRecord, ServerRecord } from './records.js';

interface KnownProperties {
  hw_firmware_type?: 'bios' | 'uefi';
  hw_machine_type?: 'pc' | 'q35';
  hw_disk_bus?: NonNullable<HardwareOverrides['diskBus']>;
  hw_cdrom_bus?: NonNullable<HardwareOverrides['cdromBus']>;
  hw_vif_model?: NonNullable<HardwareOverrides['nicModel']>;
  hw_video_model?: NonNullable<HardwareOverrides['video']>;
  hw_qemu_guest_agent?: 'yes' | 'no';
  os_type?: OsType;
  os_secure_boot?: 'required' | 'disabled' | 'optional';
  hw_tpm_version?: '2.0';
}

/** The hardware a server gets: the domain fields its spec and image decide. */
export type ServerHardware = Pick<
  DomainSpec,
  'osType' | 'machine' | 'firmware' | 'hardware' | 'secureBoot' | 'tpm'
> &
  Required<Pick<DomainSpec, 'osType' | 'secureBoot' | 'tpm'>>;

/**
 * The domain fields a server's image and spec decide (see the module comment for the precedence). The
 * image is the one its guest comes from (services/boot.ts): null for a server booting from a volume
 * made from no image (a blank volume, filled by other means), which gets the profile's defaults.
 */
export function hardwareOf(spec: ServerRecord['spec'], image: ImageRecord | null): ServerHardware {
  // Validated against the model's enums when the image was created; the index signature widens them.
  const p = (image?.spec.properties ?? {}) as KnownProperties;
  const osType = spec.osType ?? p.os_type ?? 'linux';
  const windows = osType === 'windows';
  const firmware = spec.firmware ?? p.hw_firmware_type ?? (windows ? 'uefi' : 'bios');
  const machine = spec.machine ?? p.hw_machine_type ?? (firmware === 'uefi' || windows ? 'q35' : 'pc');
  const secureBoot = spec.secureBoot ?? p.os_secure_boot === 'required';
  const tpm = spec.tpm ?? (p.hw_tpm_version === '2.0' || windows);
  const hardware: HardwareOverrides = {};
  if (p.hw_disk_bus) hardware.diskBus = p.hw_disk_bus;
  if (p.hw_cdrom_bus) hardware.cdromBus = p.hw_cdrom_bus;
  if (p.hw_vif_model) hardware.nicModel = p.hw_vif_model;
  if (p.hw_video_model) hardware.video = p.hw_video_model;
  if (p.hw_qemu_guest_agent === 'yes') hardware.guestAgent = true;
  return { osType, machine, firmware, secureBoot, tpm, hardware };
}
