/**
 * Guest profiles: per OS family, the rules that turn a server's request into virtual hardware (machine,
 * firmware, disk bus, NIC model, video, clock, TPM, Hyper-V): Linux and Windows.
 */
import { InvalidRequest } from '../../errors.js';
import { linuxProfile } from './linux.js';
import type { GuestProfile, OsType } from './types.js';
import { windowsProfile } from './windows.js';

export {
  linuxProfile,
  OVMF_CODE,
  OVMF_CODE_SECURE,
  OVMF_VARS_MS_TEMPLATE,
  OVMF_VARS_TEMPLATE,
  uefiFirmware,
} from './linux.js';
export type {
  ClockTimer,
  DiskBus,
  GuestHardware,
  GuestProfile,
  HardwareOverrides,
  HardwareRequest,
  NicModel,
  OsType,
  VideoModel,
} from './types.js';
export { windowsProfile } from './windows.js';

const PROFILES: Partial<Record<OsType, GuestProfile>> = { linux: linuxProfile, windows: windowsProfile };

/** The profile of `osType`; throws InvalidRequest for a family Stratus does not boot yet. */
export function profileFor(osType: OsType): GuestProfile {
  const p = PROFILES[osType];
  if (!p)
    throw new InvalidRequest(`guests of OS type ${osType} are not supported yet`, { field: ['osType'] });
  return p;
}
