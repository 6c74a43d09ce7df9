/**
 * Guest profiles: per OS family, the rules that turn a server's request into virtual hardware (machine,
 * firmware, disk bus, NIC model, video, clock). Linux today; Windows (q35, UEFI, TPM, localtime clock,
 * SATA/e1000e without virtio drivers) comes as another profile without changing the domain builder.
 */
import { InvalidRequest } from '../../errors.js';
import { linuxProfile } from './linux.js';
import type { GuestProfile, OsType } from './types.js';

export { linuxProfile, OVMF_CODE, OVMF_VARS_TEMPLATE } from './linux.js';
export type {
  DiskBus,
  GuestHardware,
  GuestProfile,
  HardwareOverrides,
  HardwareRequest,
  NicModel,
  OsType,
  VideoModel,
} from './types.js';

const PROFILES: Partial<Record<OsType, GuestProfile>> = { linux: linuxProfile };

/** The profile of `osType`; throws InvalidRequest for a family Stratus does not boot yet. */
export function profileFor(osType: OsType): GuestProfile {
  const p = PROFILES[osType];
  if (!p)
    throw new InvalidRequest(`guests of OS type ${osType} are not supported yet`, { field: ['osType'] });
  return p;
}
