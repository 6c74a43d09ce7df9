/**
 * The libvirt compute driver of stratus-agent: domain XML rendering and idempotent domain operations.
 */
export {
  buildDomainXml,
  DEFAULT_NVRAM_DIR,
  METADATA_PREFIX,
  nvramPath,
  OVMF_CODE,
  OVMF_VARS_TEMPLATE,
} from './domain-xml.js';
export {
  type EnsureDomainAction,
  type EnsureDomainResult,
  LibvirtCompute,
  type LibvirtComputeOptions,
  mapDomainState,
  type StratusDomain,
  serverIdFromXml,
} from './libvirt.js';
export type { DomainNic, DomainSpec, DomainState, VirtType } from './types.js';
