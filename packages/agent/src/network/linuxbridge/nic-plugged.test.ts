/**
 * Whether a guest's tap is plugged into its Linux bridge network, on the real host (read from sysfs, not
 * `ip`): a bridge made by the driver and a tap device (as libvirt makes for a guest), plugged, unplugged outside
 * Stratus and gone. Needs root and iproute2. Removes what it creates, also on failure.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { run } from '../../host/exec.js';
import { linkMaster } from '../iplink.js';
import { LinuxBridgeDriver } from './driver.js';

test('nicPlugged: true in its bridge, false when released outside Stratus or in another bridge, null without the tap', async () => {
  const driver = new LinuxBridgeDriver();
  const seg = { networkId: randomUUID(), mtu: 1500 };
  const bridge = driver.segmentName(seg);
  const tag = seg.networkId.slice(0, 6);
  const tap = `npl${tag}`;
  const other = `npb${tag}`;
  try {
    await driver.ensureSegment(seg);
    assert.equal(await driver.nicPlugged(seg, tap), null, 'no tap yet');
    await run('ip', ['tuntap', 'add', 'dev', tap, 'mode', 'tap']);
    assert.equal(await linkMaster(tap), '');
    assert.equal(await driver.nicPlugged(seg, tap), false, 'a tap in no bridge');
    await driver.plugNic(seg, tap);
    assert.equal(await linkMaster(tap), bridge);
    assert.equal(await driver.nicPlugged(seg, tap), true);
    await run('ip', ['link', 'set', 'dev', tap, 'nomaster']);
    assert.equal(await driver.nicPlugged(seg, tap), false, 'released outside Stratus');
    await run('ip', ['link', 'add', other, 'type', 'bridge']);
    await run('ip', ['link', 'set', 'dev', tap, 'master', other]);
    assert.equal(await linkMaster(tap), other);
    assert.equal(await driver.nicPlugged(seg, tap), false, 'in a bridge that is not its network');
  } finally {
    await run('ip', ['link', 'del', tap]).catch(() => undefined);
    await run('ip', ['link', 'del', other]).catch(() => undefined);
    await driver.deleteSegment(seg).catch(() => undefined);
  }
});
