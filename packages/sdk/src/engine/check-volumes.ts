import type { Diagnostics } from '../diagnostics/index.js';
import { fieldOf, type ResourceConfig, type StackConfig } from './config.js';
import { target } from './target.js';

/**
 * What the agent would refuse of this stack's volume attachments, found at validate (Cinder's rules): a
 * volume without `multiattach` attached more than once, the same volume attached to one server twice, and
 * two attachments asking for the same device on one server. Reported at the later attachment's field.
 * Attachments of volumes or servers outside the stack (ids as text) are left to the agent.
 */
export function checkVolumeAttachments(config: StackConfig, diags: Diagnostics): void {
  const byVolume = new Map<string, ResourceConfig[]>();
  const devices = new Map<string, string>();
  for (const rc of config.resources.values()) {
    if (rc.type !== 'volume_attachment') continue;
    const vol = target(config, rc.properties.volume, 'volume');
    const srv = target(config, rc.properties.server, 'server');
    const at = (field: string) => ({
      field: fieldOf(rc, ['properties', field]),
      where: rc.locate(['properties', field]),
    });
    if (vol) {
      const earlier = byVolume.get(vol.name) ?? [];
      const sameServer = srv && earlier.find((e) => target(config, e.properties.server, 'server') === srv);
      const multi = vol.properties.multiattach === true;
      const a = at('volume');
      if (sameServer)
        diags.error(
          `volume ${vol.name} is attached to server ${srv.name} already (by ${sameServer.name})`,
          a.field,
          a.where,
        );
      else if (earlier.length > 0 && !multi)
        diags.error(
          `volume ${vol.name} is attached already (by ${earlier.map((e) => e.name).join(', ')}) and has no multiattach: a volume attaches to one server unless it sets multiattach: true`,
          a.field,
          a.where,
        );
      byVolume.set(vol.name, [...earlier, rc]);
    }
    const device = rc.properties.device;
    if (srv && typeof device === 'string') {
      const key = `${srv.name} ${device.replace(/^\/dev\//, '')}`;
      const other = devices.get(key);
      const a = at('device');
      if (other) diags.error(`device ${device} of server ${srv.name} is taken by ${other}`, a.field, a.where);
      else devices.set(key, rc.name);
    }
  }
}
