import type { OsType, VirtType } from '../types.js';

export type { OsType };

/** The virtual hardware a guest gets, as decided by its profile. */
export interface GuestHardware {
  /** QEMU machine type. */
  machine: 'pc' | 'q35';
  /** UEFI firmware (code mapped read-only, a per-domain variable store from a template), or null for BIOS. */
  uefi: { loader: string; nvramTemplate: string; secureBoot: boolean; smm: boolean } | null;
  /** Bus of the root disk and the config drive. */
  diskBus: 'virtio' | 'sata';
  /** NIC model, unless a NIC names its own. */
  nicModel: 'virtio' | 'e1000e';
  /** Video device model, or null for none (a serial console only). */
  video: 'virtio' | 'vga' | null;
  /** Guest clock base: Linux keeps UTC in the RTC, Windows local time. */
  clock: 'utc' | 'localtime';
}

/** What a server asks of its hardware (the schema's `machine` and `firmware`). */
export interface HardwareRequest {
  machine: 'pc' | 'q35';
  firmware: 'bios' | 'uefi';
  virtType: VirtType;
}

/** A guest OS family's rules for turning a server's request into virtual hardware. */
export interface GuestProfile {
  osType: OsType;
  hardware(req: HardwareRequest): GuestHardware;
}
