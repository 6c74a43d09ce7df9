import type { OsType, VirtType } from '../types.js';

export type { OsType };

/** Disk buses (Glance `hw_disk_bus`); `ide` exists on machine pc only. */
export type DiskBus = 'virtio' | 'sata' | 'scsi' | 'ide';
/** NIC models (Glance `hw_vif_model`). */
export type NicModel = 'virtio' | 'e1000e' | 'e1000' | 'rtl8139';
/** Video models (Glance `hw_video_model`). */
export type VideoModel = 'vga' | 'virtio' | 'qxl' | 'cirrus' | 'bochs';

/**
 * What an image's properties (Glance `hw_*`) ask of the hardware, over the profile's defaults: each field
 * set replaces the profile's choice. `video: 'none'` removes the video device (and with it VNC).
 */
export interface HardwareOverrides {
  diskBus?: DiskBus;
  cdromBus?: 'sata' | 'ide' | 'scsi';
  nicModel?: NicModel;
  video?: VideoModel | 'none';
  /** A virtio-serial channel `org.qemu.guest_agent.0` for qemu-guest-agent. */
  guestAgent?: boolean;
}

/** The virtual hardware a guest gets, as decided by its profile. */
export interface GuestHardware {
  /** QEMU machine type. */
  machine: 'pc' | 'q35';
  /** UEFI firmware (code mapped read-only, a per-domain variable store from a template), or null for BIOS. */
  uefi: { loader: string; nvramTemplate: string; secureBoot: boolean; smm: boolean } | null;
  /** Bus of the root disk and the config drive. */
  diskBus: DiskBus;
  /** NIC model, unless a NIC names its own. */
  nicModel: NicModel;
  /** Video device model, or null for none (a serial console only). */
  video: VideoModel | null;
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
