import type { Diagnostics } from '../diagnostics/index.js';
import { fieldOf, type ResourceConfig, type StackConfig } from './config.js';
import { target } from './target.js';

/** How a resource uses a volume: a volume attachment, or a server booting from it (its `bootVolume`). */
const usesAs = (rc: ResourceConfig) =>
  rc.type === 'server' ? `server ${rc.name}'s boot volume` : `attachment ${rc.name}`;

/**
 * What the agent would refuse of this stack's volume attachments, found at validate (Cinder's rules): a
 * volume without `multiattach` attached more than once, the same volume attached to one server twice, and
 * two attachments asking for the same device on one server. A server's boot volume (`bootVolume`) counts
 * as attached to it (Nova attaches it, and it is in-use while the server exists): it cannot also be
 * another server's boot volume or attached elsewhere unless it has multiattach, nor attached again to
 * its own server. Reported at the later attachment's (or server's) field. Attachments of volumes or
 * servers outside the stack (ids as text) are left to the agent.
 */
export function checkVolumeAttachments(config: StackConfig, diags: Diagnostics): void {
  const byVolume = new Map<string, ResourceConfig[]>();
  const devices = new Map<string, string>();
  // Boot volumes first: the root disk is there before any attachment.
  const users = [...config.resources.values()].filter(
    (rc) => rc.type === 'server' && rc.properties.bootVolume !== undefined,
  );
  users.push(...[...config.resources.values()].filter((rc) => rc.type === 'volume_attachment'));
  for (const rc of users) {
    const boots = rc.type === 'server';
    const vol = target(config, rc.properties[boots ? 'bootVolume' : 'volume'], 'volume');
    const srv = boots ? rc : target(config, rc.properties.server, 'server');
    const at = (field: string) => ({
      field: fieldOf(rc, ['properties', field]),
      where: rc.locate(['properties', field]),
    });
    if (vol) {
      const earlier = byVolume.get(vol.name) ?? [];
      const serverOf = (e: ResourceConfig) =>
        e.type === 'server' ? e : target(config, e.properties.server, 'server');
      const sameServer = srv && earlier.find((e) => serverOf(e) === srv);
      const multi = vol.properties.multiattach === true;
      const a = at(boots ? 'bootVolume' : 'volume');
      if (sameServer)
        diags.error(
          sameServer.type === 'server'
            ? `volume ${vol.name} is server ${srv.name}'s boot volume (its root disk) already`
            : `volume ${vol.name} is attached to server ${srv.name} already (by ${sameServer.name})`,
          a.field,
          a.where,
        );
      else if (earlier.length > 0 && !multi)
        diags.error(
          `volume ${vol.name} is attached already (as ${earlier.map(usesAs).join(', ')}) and has no multiattach: a volume attaches to one server unless it sets multiattach: true`,
          a.field,
          a.where,
        );
      byVolume.set(vol.name, [...earlier, rc]);
    }
    const device = rc.properties.device;
    if (!boots && srv && typeof device === 'string') {
      const key = `${srv.name} ${device.replace(/^\/dev\//, '')}`;
      const other = devices.get(key);
      const a = at('device');
      if (other) diags.error(`device ${device} of server ${srv.name} is taken by ${other}`, a.field, a.where);
      else devices.set(key, rc.name);
    }
  }
}
