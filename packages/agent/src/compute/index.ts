/**
 * Compute for stratus-agent: the driver seam (driver.ts), its libvirt implementation, domain XML rendering
 * and guest profiles.
 */
export {
  buildDeviceXml,
  buildDomainXml,
  DEFAULT_NVRAM_DIR,
  domainHardware,
  METADATA_PREFIX,
  nvramPath,
  OVMF_CODE,
  OVMF_VARS_TEMPLATE,
  TPM_STATE_DIR,
  tpmStatePath,
} from './domain-xml.js';
export type { ComputeDriver, EnsureDomainAction, EnsureDomainResult } from './driver.js';
export {
  LibvirtCompute,
  type LibvirtComputeOptions,
  mapDomainState,
  type StratusDomain,
  serverIdFromXml,
} from './libvirt.js';
export {
  type GuestHardware,
  type GuestProfile,
  linuxProfile,
  type OsType,
  profileFor,
  windowsProfile,
} from './profiles/index.js';
export type {
  DiskDevice,
  DomainDevice,
  DomainNic,
  DomainSpec,
  DomainState,
  InterfaceDevice,
  VirtType,
} from './types.js';
