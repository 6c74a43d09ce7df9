/**
 * Conntrack zones of Linux bridge networks, on the real host: two networks made by the driver, each with
 * two namespaces using the same addresses; the same UDP flow on both gives two conntrack entries, one in
 * each network's zone, where without zones they would be one shared entry. Needs root, iproute2, nft and
 * br_netfilter (loaded as the firewall loads it). Removes what it creates, also on failure.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { run } from '../../host/exec.js';
import { ensureBridgeNetfilter } from '../firewall/br-netfilter.js';
import { ctZoneTable, ensureCtZone, inspectCtZone } from './ct-zone.js';
import { LinuxBridgeDriver } from './driver.js';

const sh = (cmd: string, args: string[]) => run(cmd, args).catch(() => undefined);

test('two networks with the same addresses keep their connections apart (one conntrack zone each); delete removes the zone table', async () => {
  await ensureBridgeNetfilter();
  const driver = new LinuxBridgeDriver();
  const nets = [randomUUID(), randomUUID()];
  const tag = nets[0]!.slice(0, 6);
  const nsOf = (i: number, j: number) => `stratus-ctz-${tag}-${i}${j}`;
  const vethOf = (i: number, j: number) => `ctz${tag}${i}${j}`;
  try {
    const zones: number[] = [];
    for (const [i, networkId] of nets.entries()) {
      await driver.ensureSegment({ networkId, mtu: 1500 });
      const bridge = driver.segmentName({ networkId, mtu: 1500 });
      for (const j of [1, 2]) {
        await run('ip', ['netns', 'add', nsOf(i, j)]);
        await run('ip', [
          'link',
          'add',
          vethOf(i, j),
          'type',
          'veth',
          'peer',
          'name',
          'eth0',
          'netns',
          nsOf(i, j),
        ]);
        await run('ip', ['link', 'set', vethOf(i, j), 'master', bridge, 'up']);
        await run('ip', ['-n', nsOf(i, j), 'addr', 'add', `10.77.0.${j}/24`, 'dev', 'eth0']);
        await run('ip', ['-n', nsOf(i, j), 'link', 'set', 'eth0', 'up']);
      }
      const zone = await inspectCtZone(networkId);
      assert.ok(zone !== null, `network ${i} has a zone`);
      // Idempotent: the zone is kept.
      assert.equal(await ensureCtZone(networkId, bridge), zone);
      zones.push(zone);
    }
    assert.notEqual(zones[0], zones[1], 'the networks have different zones');

    // The same flow on both networks: 10.77.0.1:4444 -> 10.77.0.2:5555 (UDP).
    const send = `const s = require('node:dgram').createSocket('udp4');
      s.bind(4444, () => s.send('x', 5555, '10.77.0.2', () => s.close()));`;
    for (const i of [0, 1]) await run('ip', ['netns', 'exec', nsOf(i, 1), process.execPath, '-e', send]);
    const entries = readFileSync('/proc/net/nf_conntrack', 'utf8')
      .split('\n')
      .filter((l) => / src=10\.77\.0\.1 dst=10\.77\.0\.2 sport=4444 dport=5555 /.test(l));
    const zonesSeen = entries.map((l) => Number(/ zone=(\d+)/.exec(l)?.[1] ?? 0)).sort((a, b) => a - b);
    assert.deepEqual(
      zonesSeen,
      [...zones].sort((a, b) => a - b),
      `one entry per network, in its zone:\n${entries.join('\n')}`,
    );
  } finally {
    for (const i of [0, 1])
      for (const j of [1, 2]) {
        await sh('ip', ['netns', 'del', nsOf(i, j)]);
        await sh('ip', ['link', 'del', vethOf(i, j)]);
      }
    for (const networkId of nets) await driver.deleteSegment({ networkId, mtu: 1500 });
  }
  const tables = (await run('nft', ['list', 'tables'])).stdout;
  for (const networkId of nets) {
    assert.ok(!tables.includes(ctZoneTable(networkId)), 'zone table removed');
    assert.equal(await inspectCtZone(networkId), null);
  }
});
