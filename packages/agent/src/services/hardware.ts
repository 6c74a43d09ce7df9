/**
 * A server's virtual hardware from its image's Glance-style properties and its own fields, as Nova's
 * libvirt driver reads `hw_*` image properties: the server's explicit `machine` wins over the image's
 * `hw_machine_type`; the image's `hw_firmware_type` applies to servers left at the default firmware
 * (`bios`), since the schema defaults `firmware` and so cannot tell an explicit `bios` from none.
 */
import type { HardwareOverrides } from '../compute/profiles/types.js';
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
  os_type?: 'linux' | 'windows';
}

/** The domain fields a server's image and spec decide. */
export function hardwareOf(
  spec: ServerRecord['spec'],
  image: ImageRecord,
): Pick<DomainSpec, 'osType' | 'machine' | 'firmware' | 'hardware'> {
  // Validated against the model's enums when the image was created; the index signature widens them.
  const p = (image.spec.properties ?? {}) as KnownProperties;
  const firmware = spec.firmware === 'bios' && p.hw_firmware_type ? p.hw_firmware_type : spec.firmware;
  const machine = spec.machine ?? p.hw_machine_type ?? (firmware === 'uefi' ? 'q35' : 'pc');
  const hardware: HardwareOverrides = {};
  if (p.hw_disk_bus) hardware.diskBus = p.hw_disk_bus;
  if (p.hw_cdrom_bus) hardware.cdromBus = p.hw_cdrom_bus;
  if (p.hw_vif_model) hardware.nicModel = p.hw_vif_model;
  if (p.hw_video_model) hardware.video = p.hw_video_model;
  if (p.hw_qemu_guest_agent === 'yes') hardware.guestAgent = true;
  // Only Linux has a guest profile today; a Windows image is refused by the profile lookup, saying so.
  return { osType: p.os_type ?? 'linux', machine, firmware, hardware };
}
