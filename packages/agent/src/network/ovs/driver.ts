import { ovsBridgeName } from '../../host/names.js';
import type { DhcpUplink } from '../dhcp/types.js';
import type { NetworkDriver, NetworkSegment, NicBinding, SegmentFacts } from '../driver.js';
import { getRootLink, ip } from '../iplink.js';
import {
  addOvsPort,
  bridgeOfPort,
  deleteOvsBridge,
  ensureOvsBridge,
  inspectOvsBridge,
  type OvsDatapath,
  ovsBridgeExists,
} from './vsctl.js';

/**
 * The Open vSwitch {@link NetworkDriver}: one OVS bridge per network, named `bro<id>`, on the kernel
 * datapath where the openvswitch module is loaded and on the userspace (`netdev`) datapath where it is
 * not. Guests join through libvirt's `<virtualport type='openvswitch'/>`; the DHCP port is an OVS port.
 * On the netdev datapath, frames cross OVS through AF_PACKET sockets that drop checksum offload
 * metadata, so guest NICs and the DHCP port compute their checksums in software (`softwareChecksums`).
 */
export class OvsDriver implements NetworkDriver {
  readonly kind = 'ovs';

  /** @param datapath the datapath of the bridges it makes (see `detectDatapath`). */
  constructor(readonly datapath: OvsDatapath) {}

  segmentName(seg: NetworkSegment): string {
    return seg.name ?? ovsBridgeName(seg.networkId);
  }

  ensureSegment(seg: NetworkSegment): Promise<void> {
    return ensureOvsBridge(seg.networkId, this.segmentName(seg), seg.mtu, this.datapath);
  }

  deleteSegment(seg: NetworkSegment): Promise<void> {
    return deleteOvsBridge(seg.networkId, this.segmentName(seg));
  }

  async inspectSegment(seg: NetworkSegment): Promise<SegmentFacts> {
    const name = this.segmentName(seg);
    return { name, exists: await ovsBridgeExists(name) };
  }

  inspectExternal(name: string): Promise<{ mtu: number } | null> {
    return inspectOvsBridge(name);
  }

  bindNic(seg: NetworkSegment): NicBinding {
    return {
      bridge: this.segmentName(seg),
      virtualport: 'openvswitch',
      ...(this.datapath === 'netdev' ? { softwareChecksums: true } : {}),
    };
  }

  async plugNic(seg: NetworkSegment, tap: string): Promise<boolean> {
    if (!(await getRootLink(tap))) return false;
    await addOvsPort(this.segmentName(seg), tap, `network:${seg.networkId}`);
    await ip(['link', 'set', 'dev', tap, 'up']);
    return true;
  }

  async nicPlugged(seg: NetworkSegment, tap: string): Promise<boolean | null> {
    if (!(await getRootLink(tap))) return null;
    return (await bridgeOfPort(tap)) === this.segmentName(seg);
  }

  dhcpUplink(seg: NetworkSegment): DhcpUplink {
    return this.portUplink(seg, `dhcp:${seg.networkId}`);
  }

  portUplink(seg: NetworkSegment, owner: string): DhcpUplink {
    const bridge = this.segmentName(seg);
    return {
      description: `OVS bridge ${bridge}`,
      ...(this.datapath === 'netdev' ? { softwareChecksums: true } : {}),
      ready: () => ovsBridgeExists(bridge),
      isPlugged: async (link) => (await bridgeOfPort(link.ifname)) === bridge,
      plug: async (ifname, mtu, created) => {
        await addOvsPort(bridge, ifname, owner, created);
        await ip(['link', 'set', 'dev', ifname, 'mtu', String(mtu), 'up']);
      },
    };
  }
}
