/** Guest operating system families; each has a guest profile (compute/profiles/). */
export type OsType = 'linux' | 'windows';

/** libvirt domain type: `kvm` when KVM really runs guests on this host, otherwise `qemu` (TCG). */
export type VirtType = 'kvm' | 'qemu';

import type { NicBinding } from '../network/driver.js';
import type { DiskBus, HardwareOverrides, NicModel } from './profiles/types.js';

/** One NIC of a domain, bound to a network's segment as the network driver says. */
export interface DomainNic extends NicBinding {
  mac: string;
  /** Host tap device name, derived from the server id (see host/names.ts). */
  tap: string;
  /** NIC model; default: the guest profile's. */
  model?: NicModel;
}

/** A disk attached to (or detached from) a domain. */
export interface DiskDevice {
  kind: 'disk';
  /** Absolute path of the image file. */
  path: string;
  format: 'qcow2' | 'raw';
  /** Guest device name (`vdc`). */
  target: string;
  bus: DiskBus;
  readonly?: boolean;
  /** Serial number the guest sees (`/dev/disk/by-id/virtio-<serial>`); at most 20 characters, [A-Za-z0-9-]. */
  serial?: string;
  /** libvirt user alias (`ua-...`), named in the device-removed event when the guest releases the disk. */
  alias?: string;
  /** Place in a per-device boot order (`<boot order='N'/>`, 1 first); only in a domain with no `<os><boot>`. */
  bootOrder?: number;
}

/** A NIC attached to (or detached from) a domain. */
export interface InterfaceDevice extends DomainNic {
  kind: 'interface';
  model: NicModel;
}

/** A device that can be attached to and detached from a domain while it runs. */
export type DomainDevice = DiskDevice | InterfaceDevice;

/** Everything needed to render a server's libvirt domain XML. */
export interface DomainSpec {
  serverId: string;
  /** Human name of the server (goes into `<title>`). */
  name: string;
  vcpus: number;
  memoryMiB: number;
  virtType: VirtType;
  /** Guest OS family; its profile decides the virtual hardware (default `linux`). */
  osType?: OsType;
  /** Machine and firmware the server asks for; the guest profile decides what the domain gets. */
  machine: 'pc' | 'q35';
  firmware: 'bios' | 'uefi';
  /** qcow2 overlay backing onto the cached image. */
  rootDisk: string;
  /** `config-2` ISO, attached read-only; null for none. */
  configDrive: string | null;
  nics: DomainNic[];
  /** File the serial console is logged to. */
  consoleLog: string;
  /** An ISO image attached read-only as a CD-ROM the guest boots from first (an installer, a live image). */
  cdrom?: string;
  /**
   * More ISO images attached read-only as CD-ROMs after `cdrom` (on the same bus), in order: an
   * install's driver and answer media, the virtio-win driver ISO. Not boot devices.
   */
  extraCdroms?: string[];
  /** UEFI Secure Boot with Microsoft's keys (firmware uefi only); default off. */
  secureBoot?: boolean;
  /** A TPM 2.0 (swtpm); default: the guest profile's. */
  tpm?: boolean;
  /** What the image's properties ask of the hardware, over the guest profile's defaults. */
  hardware?: HardwareOverrides;
  /**
   * A VNC display on a unix socket libvirt places in its per-domain directory (read back from the live
   * XML; never a TCP port), with a video device, for `stratus console --vnc`.
   */
  vnc?: boolean;
  /** Per-domain UEFI variable store (firmware `uefi` only). */
  nvram?: string;
  /** The domain was made outside Stratus and imported: it is started as defined, never redefined. */
  adopted?: boolean;
  /** Redefine even a running domain from this spec (stopping and starting it), to undo outside changes. */
  redefine?: boolean;
  /** The run state to reach (default `running`); `shutoff` shuts the guest down cleanly (see stopDomain). */
  powerState?: 'running' | 'shutoff' | 'paused';
  /** With powerState `shutoff`: how long to wait for a clean shutdown before a hard stop (default 60 s). */
  stopTimeoutMs?: number;
  /** Volumes attached to the server, part of its persistent definition after the root disk and config drive. */
  volumes?: DiskDevice[];
}

/** What an existing domain's XML says, for importing it. */
export interface DomainFacts {
  uuid: string;
  name: string;
  title: string | null;
  vcpus: number;
  memoryMiB: number;
  machine: 'pc' | 'q35';
  firmware: 'bios' | 'uefi';
  disks: { path: string; target: string; device: string; readonly: boolean }[];
  nics: { mac: string; bridge: string | null; tap: string | null; model: string | null }[];
  /** The Stratus server id in the domain's metadata, when Stratus made it. */
  stratusId: string | null;
}

/** Run state of a domain as the agent reports it. */
export type DomainState = 'running' | 'paused' | 'shutoff' | 'crashed' | 'other' | 'absent';
