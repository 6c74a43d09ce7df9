/**
 * Record migrations run at agent start, before anything reads records. Agents before the port service kept
 * addresses inside subnet records (`internal.allocations`: address -> `dhcp` or `server:<id>:<nic>`) and
 * NICs inside server records (`internal.ports`); both become port records, so existing guests keep their
 * addresses, MACs and DHCP leases across the upgrade. Server specs from before `configDrive` get
 * `configDrive: true` (they have a drive). Idempotent: a migrated record has nothing left to move.
 */
import { logger } from '../host/log.js';
import { macFrom, portId } from './port.js';
import type { PortRecord, ServerRecord, SubnetRecord } from './records.js';
import type { RecordStore } from './store.js';

const log = logger('migrate');

/** A subnet record as agents before the port service wrote it. */
type LegacySubnet = SubnetRecord & {
  internal: { allocations?: Record<string, { owner: string; mac?: string; hostname?: string }> };
};
/** A server record as agents before the port service wrote it. */
type LegacyServer = ServerRecord & {
  internal: { ports?: { network: string; subnet: string; ip: string; mac: string; tap: string }[] };
};

/** Moves legacy allocations into port records; returns how many ports it wrote. */
export async function migrateRecords(store: RecordStore): Promise<number> {
  const servers = new Map((await store.list<LegacyServer>('servers')).map((s) => [s.id, s]));
  let moved = 0;
  for (const subnet of await store.list<LegacySubnet>('subnets')) {
    const allocations = subnet.internal.allocations;
    if (!allocations) continue;
    for (const [ip, a] of Object.entries(allocations)) {
      const m = /^server:([0-9a-f-]{36}):(\d+)$/.exec(a.owner);
      if (a.owner !== 'dhcp' && !m) {
        log.warn('legacy allocation with an unknown owner dropped', {
          subnet: subnet.id,
          ip,
          owner: a.owner,
        });
        continue;
      }
      const owner = m ? ('compute' as const) : ('dhcp' as const);
      const deviceId = m ? m[1]! : subnet.id;
      const index = m ? Number(m[2]) : 0;
      const tap = m ? servers.get(deviceId)?.internal.ports?.[index]?.tap : undefined;
      const port: PortRecord = {
        id: portId(owner, deviceId, index),
        type: 'port',
        spec: {
          network: subnet.spec.network,
          subnet: subnet.id,
          deviceOwner: owner,
          deviceId,
          index,
          ...(a.hostname ? { hostname: a.hostname } : {}),
          ...(tap ? { tap } : {}),
        },
        // A DHCP port had no MAC recorded: it gets the one the port service would give it.
        status: { ip, mac: a.mac ?? macFrom(`${deviceId}:${index}`) },
        internal: {},
        createdAt: subnet.createdAt,
        updatedAt: new Date().toISOString(),
      };
      if (!(await store.get('ports', port.id))) {
        await store.put('ports', port);
        moved++;
      }
    }
    const { allocations: _gone, ...rest } = subnet.internal;
    await store.put('subnets', { ...subnet, internal: rest });
  }
  for (const server of servers.values()) {
    // Servers from before `configDrive` had a drive: their spec says so, so a refresh shows no change.
    const configDrive = (server.spec as { configDrive?: boolean }).configDrive;
    if (!server.internal.ports && configDrive !== undefined) continue;
    const { ports: _gone, ...rest } = server.internal;
    await store.put('servers', {
      ...server,
      spec: { ...server.spec, configDrive: configDrive ?? true },
      internal: rest,
    });
  }
  if (moved) log.info('legacy address allocations moved to port records', { ports: moved });
  return moved;
}
