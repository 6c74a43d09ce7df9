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
  /** Timers under `<clock>` (libvirt's names and policies), in order; empty for QEMU's defaults. */
  timers: ClockTimer[];
  /** A TPM 2.0 (tpm-crb model, swtpm emulator backend), or none. */
  tpm: boolean;
  /**
   * Hyper-V enlightenments (and the hypervclock timer) for Windows: the builder renders them only for
   * domain type kvm, since QEMU refuses them under TCG ("kernel doesn't allow setting HyperV VP_INDEX").
   */
  hyperv: boolean;
  /** A USB tablet, so the VNC pointer is absolute (Windows follows it without a guest agent). */
  tablet: boolean;
}

/** One `<timer>` of a domain's `<clock>` (libvirt's domain XML "Time keeping"). */
export interface ClockTimer {
  name: 'rtc' | 'pit' | 'hpet' | 'hypervclock';
  tickpolicy?: 'catchup' | 'delay';
  present?: boolean;
}

/** What a server asks of its hardware (the schema's `machine`, `firmware`, `secureBoot` and `tpm`). */
export interface HardwareRequest {
  machine: 'pc' | 'q35';
  firmware: 'bios' | 'uefi';
  virtType: VirtType;
  /** UEFI Secure Boot with Microsoft's keys (firmware uefi only); default off. */
  secureBoot?: boolean;
  /** A TPM 2.0; default: the profile's (off for Linux, on for Windows). */
  tpm?: boolean;
}

/** A guest OS family's rules for turning a server's request into virtual hardware. */
export interface GuestProfile {
  osType: OsType;
  hardware(req: HardwareRequest): GuestHardware;
}
