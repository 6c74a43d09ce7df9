import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { serverTap } from '../host/names.js';
import { migrateRecords } from './migrate.js';
import { portId } from './port.js';
import type { PortRecord, ServerRecord } from './records.js';
import { RecordStore } from './store.js';

test('legacy address allocations and server ports become port records, once', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'stratus-migrate-test-'));
  try {
    const store = new RecordStore(dir);
    const [net, sub, srv] = [randomUUID(), randomUUID(), randomUUID()];
    const stamp = { createdAt: '2026-01-01T00:00:00.000Z', updatedAt: '2026-01-01T00:00:00.000Z' };
    await store.put('subnets', {
      id: sub,
      type: 'subnet',
      spec: { network: net, cidr: '10.5.0.0/24', dnsNameservers: [] },
      status: {
        gatewayIp: '10.5.0.1',
        allocationPools: [{ start: '10.5.0.2', end: '10.5.0.254' }],
        dhcpIp: '10.5.0.2',
      },
      internal: {
        allocations: {
          '10.5.0.2': { owner: 'dhcp' },
          '10.5.0.3': { owner: `server:${srv}:0`, mac: 'fa:16:3e:aa:bb:cc', hostname: 'web' },
        },
      },
      ...stamp,
    });
    await store.put('servers', {
      id: srv,
      type: 'server',
      spec: { image: randomUUID(), networks: [{ network: net }] },
      status: { status: 'ACTIVE' },
      internal: {
        ports: [
          { network: net, subnet: sub, ip: '10.5.0.3', mac: 'fa:16:3e:aa:bb:cc', tap: serverTap(srv, 0) },
        ],
      },
      ...stamp,
    });
    assert.equal(await migrateRecords(store), 2);
    const nic = await store.get<PortRecord>('ports', portId('compute', srv, 0));
    assert.deepEqual(nic?.spec, {
      network: net,
      subnet: sub,
      deviceOwner: 'compute',
      deviceId: srv,
      index: 0,
      hostname: 'web',
      tap: serverTap(srv, 0),
    });
    assert.deepEqual(nic?.status, { ip: '10.5.0.3', mac: 'fa:16:3e:aa:bb:cc' });
    const dhcp = await store.get<PortRecord>('ports', portId('dhcp', sub, 0));
    assert.equal(dhcp?.status.ip, '10.5.0.2');
    assert.match(dhcp?.status.mac ?? '', /^fa:16:3e(:[0-9a-f]{2}){3}$/);
    assert.deepEqual((await store.get('subnets', sub))?.internal, {});
    assert.deepEqual((await store.get('servers', srv))?.internal, {});
    // A server from before `configDrive` had a drive.
    assert.equal((await store.get<ServerRecord>('servers', srv))?.spec.configDrive, true);
    assert.equal(await migrateRecords(store), 0, 'nothing left to move');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
