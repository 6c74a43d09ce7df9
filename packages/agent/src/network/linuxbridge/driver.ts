import { bridgeName } from '../../host/names.js';
import type { DhcpUplink } from '../dhcp/types.js';
import type { NetworkDriver, NetworkSegment, NicBinding, SegmentFacts } from '../driver.js';
import { ip, linkMaster } from '../iplink.js';
import { bridgeExists, deleteBridge, ensureBridge, inspectBridge, plugIntoBridge } from './bridge.js';
import { deleteCtZone, ensureCtZone } from './ct-zone.js';

/** The Linux bridge {@link NetworkDriver}: one bridge per network, named `brq<id>` (Neutron's convention). */
export class LinuxBridgeDriver implements NetworkDriver {
  readonly kind = 'linuxbridge';

  segmentName(seg: NetworkSegment): string {
    return seg.name ?? bridgeName(seg.networkId);
  }

  /** The bridge, and its network's conntrack zone (see ct-zone.ts). */
  async ensureSegment(seg: NetworkSegment): Promise<void> {
    await ensureBridge(seg.networkId, seg.mtu, this.segmentName(seg));
    await ensureCtZone(seg.networkId, this.segmentName(seg));
  }

  async deleteSegment(seg: NetworkSegment): Promise<void> {
    await deleteCtZone(seg.networkId);
    await deleteBridge(seg.networkId, this.segmentName(seg));
  }

  async inspectSegment(seg: NetworkSegment): Promise<SegmentFacts> {
    const name = this.segmentName(seg);
    return { name, exists: await bridgeExists(seg.networkId, name) };
  }

  inspectExternal(name: string): Promise<{ mtu: number } | null> {
    return inspectBridge(name);
  }

  bindNic(seg: NetworkSegment): NicBinding {
    return { bridge: this.segmentName(seg) };
  }

  plugNic(seg: NetworkSegment, tap: string): Promise<boolean> {
    return plugIntoBridge(tap, this.segmentName(seg));
  }

  async nicPlugged(seg: NetworkSegment, tap: string): Promise<boolean | null> {
    const master = await linkMaster(tap);
    return master === null ? null : master === this.segmentName(seg);
  }

  dhcpUplink(seg: NetworkSegment): DhcpUplink {
    return linuxBridgeUplink(this.segmentName(seg), seg.networkId);
  }

  portUplink(seg: NetworkSegment): DhcpUplink {
    return linuxBridgeUplink(this.segmentName(seg), seg.networkId);
  }
}

/** A {@link DhcpUplink} that enslaves the DHCP port's host end to Linux bridge `bridge`. */
export function linuxBridgeUplink(bridge: string, networkId: string): DhcpUplink {
  return {
    description: `bridge ${bridge}`,
    ready: () => bridgeExists(networkId, bridge),
    isPlugged: async (link) => link.master === bridge,
    plug: async (ifname, mtu) => {
      await ip(['link', 'set', 'dev', ifname, 'master', bridge, 'mtu', String(mtu), 'up']);
    },
  };
}
