/** libvirt domain type: `kvm` when KVM really runs guests on this host, otherwise `qemu` (TCG). */
export type VirtType = 'kvm' | 'qemu';

/** One NIC of a domain, plugged into a Linux bridge. */
export interface DomainNic {
  mac: string;
  bridge: string;
  /** Host tap device name, derived from the server id (see host/names.ts). */
  tap: string;
  model: 'virtio' | 'e1000e';
}

/** Everything needed to render a server's libvirt domain XML. */
export interface DomainSpec {
  serverId: string;
  /** Human name of the server (goes into `<title>`). */
  name: string;
  vcpus: number;
  memoryMiB: number;
  virtType: VirtType;
  machine: 'pc' | 'q35';
  firmware: 'bios' | 'uefi';
  /** qcow2 overlay backing onto the cached image. */
  rootDisk: string;
  /** `config-2` ISO, attached read-only; null for none. */
  configDrive: string | null;
  nics: DomainNic[];
  /** File the serial console is logged to. */
  consoleLog: string;
  /** Per-domain UEFI variable store (firmware `uefi` only). */
  nvram?: string;
  /** The domain was made outside Stratus and imported: it is started as defined, never redefined. */
  adopted?: boolean;
  /** Redefine even a running domain from this spec (stopping and starting it), to undo outside changes. */
  redefine?: boolean;
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
