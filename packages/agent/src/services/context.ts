import { join } from 'node:path';
import type { ComputeDriver } from '../compute/driver.js';
import type { VirtType } from '../compute/types.js';
import type { KeyedMutex } from '../host/mutex.js';
import type { MetadataService } from '../metadata/service.js';
import type { DhcpDriver } from '../network/dhcp/index.js';
import type { NetworkDriver, NetworkDriverKind } from '../network/driver.js';
import type { FirewallBackend } from '../network/firewall/nft.js';
import type { StorageDriver } from '../storage/driver.js';
import type { RecordStore } from './store.js';

/** What every service shares: where records live, the locks, the drivers, and which host this is. */
export interface AgentContext {
  stateDir: string;
  /** The name this agent's host goes by in API answers (`local` unless configured). */
  host: string;
  store: RecordStore;
  /** Per-resource and per-network serialization. */
  locks: KeyedMutex;
  compute: ComputeDriver;
  storage: StorageDriver;
  /** The network drivers, by the name a network's `driver` gives. */
  networkDrivers: Record<NetworkDriverKind, NetworkDriver>;
  /** The driver of networks that name none. */
  defaultNetworkDriver: NetworkDriverKind;
  dhcp: DhcpDriver;
  /** The metadata service's listeners, one per namespace that serves it (see `metadataScope`). */
  metadata: Pick<MetadataService, 'ensure' | 'delete'>;
  /** The port firewalls (security groups) on Linux bridges; default: nftables on this host. */
  firewall?: FirewallBackend;
  /**
   * The port firewalls on Open vSwitch bridges; default: OpenFlow flows on this host's OVS, or
   * `firewall` when only that is given (one fake for both in unit tests).
   */
  ovsFirewall?: FirewallBackend;
  virtType: VirtType;
}

/** Paths under the state directory. Directories libvirt's qemu user must traverse are 0711. */
export const paths = {
  images: (stateDir: string) => join(stateDir, 'images'),
  instances: (ctx: AgentContext) => join(ctx.stateDir, 'instances'),
  instance: (ctx: AgentContext, id: string) => join(ctx.stateDir, 'instances', id),
  /** The storage pool: one qcow2 file per volume. */
  volumes: (ctx: AgentContext) => join(ctx.stateDir, 'volumes'),
  volume: (ctx: AgentContext, id: string) => join(ctx.stateDir, 'volumes', `${id}.qcow2`),
};
