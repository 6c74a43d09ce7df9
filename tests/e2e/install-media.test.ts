/**
 * The install-from-ISO lifecycle (issue 13, Deliver 2) end to end, with a stand-in installer in place of
 * Windows Setup. One guest. The test builds:
 *   - installer.iso: isolinux booting the test guest's kernel with its initramfs plus a second one whose
 *     /init is the stand-in "setup": it finds the answer medium by its label, reads the computer name from
 *     Autounattend.xml at its root, writes the test guest's disk (carried on the ISO) onto the blank root
 *     disk, then signals the end of setup as the real first-logon script does (the line that script
 *     echoes to COM1, taken from the script on the answer medium) and powers off;
 *   - drivers.iso: a stand-in driver medium (virtio-win's folder layout).
 * Then `stratus apply` of a server with installMedia + driverMedia: the plan shows the answer file
 * (computer name, no password); the domain boots the installer with three CD-ROMs; after the signal the
 * agent detaches them and the server boots from its disk (the test guest's ready line), INSTALLED.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { INSTALL_COMPLETE_MARKER } from '@stratus/model';
import { runCli } from '../../packages/sdk/src/cli/testing.js';
import { type AgentEnv, agentEnv, IMAGE, run, stateIds, waitForReady } from './helpers.js';

let t: AgentEnv;
let stack: string;
let state: string;
let serverId: string;
let planText: string;
const PASSWORD = 'Install-Pa55word!';

const ok = (r: { code: number; stdout: string; stderr: string }) =>
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
const cli = (...args: string[]) => runCli(args, { cwd: t.dir, env: t.env });

/** The stand-in setup: PID 1 of the installer's initramfs (busybox sh). */
const STAND_IN_INIT = `#!/bin/sh
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1
while read -r mod; do [ -n "$mod" ] && insmod "/lib/modules/$mod" 2>/dev/null; done </etc/modules.order
find_label() {
  i=0
  while [ $i -lt 100 ]; do
    d=$(findfs "LABEL=$1" 2>/dev/null) && [ -n "$d" ] && { echo "$d"; return 0; }
    sleep 0.2
    i=$((i + 1))
  done
  return 1
}
fail() { echo "stand-in setup: FAILED: $*"; sleep 1; poweroff -f; }
mkdir -p /mnt/answer /mnt/install
ans=$(find_label STRATUS-UNATTEND) || fail "no answer medium"
mount -t iso9660 -o ro "$ans" /mnt/answer || fail "cannot mount $ans"
[ -f /mnt/answer/Autounattend.xml ] || fail "no Autounattend.xml at the answer medium's root"
name=$(sed -n 's/.*<ComputerName>\\(.*\\)<\\/ComputerName>.*/\\1/p' /mnt/answer/Autounattend.xml)
echo "stand-in setup: answer file on $ans, computer name $name"
src=$(find_label STRATUS-INSTALLER) || fail "no install medium"
mount -t iso9660 -o ro "$src" /mnt/install || fail "cannot mount $src"
drv=$(find_label STRATUS-DRIVERS) && echo "stand-in setup: driver medium on $drv"
target=/dev/vda
[ -b "$target" ] || fail "no $target"
dd if=/mnt/install/disk.raw of="$target" bs=1M conv=fsync 2>/dev/null || fail "writing $target"
sync
echo "stand-in setup: wrote the system to $target"
# The signal, as the real first-logon script gives it: the line it echoes to COM1.
line=$(sed -n 's/^echo \\(.*\\)>COM1\\r*$/\\1/p' /mnt/answer/stratus/firstlogon.cmd)
[ -n "$line" ] || fail "no COM1 line in the first-logon script"
echo "$line" >/dev/ttyS0
sleep 1
poweroff -f
`;

/** Builds installer.iso and drivers.iso under `dir`; answers their paths. */
async function buildMedia(dir: string): Promise<{ installer: string; drivers: string }> {
  const raw = join(dir, 'guest.raw');
  ok(await run('qemu-img', ['convert', '-q', '-f', 'qcow2', '-O', 'raw', IMAGE, raw]));
  const table = JSON.parse((await run('sfdisk', ['-J', raw])).stdout);
  const offset = table.partitiontable.partitions[0].start * 512;
  const tree = join(dir, 'iso');
  mkdirSync(join(tree, 'isolinux'), { recursive: true });
  ok(await run('mcopy', ['-o', '-i', `${raw}@@${offset}`, '::/vmlinuz', '::/initrd.img', tree]));
  ok(await run('cp', [raw, join(tree, 'disk.raw')]));
  // The stand-in's initramfs: loaded after the guest's, so its /init wins.
  const root = join(dir, 'installer-root');
  mkdirSync(root);
  writeFileSync(join(root, 'init'), STAND_IN_INIT, { mode: 0o755 });
  ok(
    await run('sh', [
      '-c',
      'cd "$1" && find . | cpio --create --format=newc --owner=0:0 --quiet | gzip -9n > "$2"',
      'sh',
      root,
      join(tree, 'setup.img'),
    ]),
  );
  ok(
    await run('cp', [
      '/usr/lib/ISOLINUX/isolinux.bin',
      '/usr/lib/syslinux/modules/bios/ldlinux.c32',
      join(tree, 'isolinux'),
    ]),
  );
  writeFileSync(
    join(tree, 'isolinux', 'isolinux.cfg'),
    'SERIAL 0 115200\nDEFAULT setup\nPROMPT 0\nLABEL setup\n  KERNEL /vmlinuz\n  APPEND initrd=/initrd.img,/setup.img console=tty0 console=ttyS0,115200n8\n',
  );
  const installer = join(dir, 'installer.iso');
  ok(
    await run('xorriso', [
      '-as',
      'mkisofs',
      '-quiet',
      '-o',
      installer,
      '-V',
      'STRATUS-INSTALLER',
      '-b',
      'isolinux/isolinux.bin',
      '-c',
      'isolinux/boot.cat',
      '-no-emul-boot',
      '-boot-load-size',
      '4',
      '-boot-info-table',
      tree,
    ]),
  );
  const dtree = join(dir, 'drivers');
  mkdirSync(join(dtree, 'viostor', 'w11', 'amd64'), { recursive: true });
  writeFileSync(join(dtree, 'viostor', 'w11', 'amd64', 'viostor.inf'), '; stand-in\n');
  const drivers = join(dir, 'drivers.iso');
  ok(
    await run('xorriso', [
      '-as',
      'mkisofs',
      '-quiet',
      '-o',
      drivers,
      '-V',
      'STRATUS-DRIVERS',
      '-J',
      '-r',
      dtree,
    ]),
  );
  return { installer, drivers };
}

before(async () => {
  t = agentEnv('install');
  await buildMedia(t.dir);
  await t.startAgent();
  stack = join(t.dir, 'stack.yaml');
  state = join(t.dir, 'stratus.state.json');
  writeFileSync(
    stack,
    [
      'name: install',
      'resources:',
      '  setup-iso:',
      '    type: image',
      '    properties: { source: ./installer.iso, diskFormat: iso }',
      '  virtio-win:',
      '    type: image',
      '    properties: { source: ./drivers.iso, diskFormat: iso }',
      '  net:',
      '    type: network',
      '  subnet:',
      '    type: subnet',
      '    properties: { network: "${net}", cidr: 10.79.0.0/24 }',
      '  win-e2e-server-1:',
      '    type: server',
      '    properties:',
      '      installMedia: ${setup-iso}',
      '      driverMedia: ${virtio-win}',
      `      adminPass: "${PASSWORD}"`,
      '      unattend: { timeZone: "W. Europe Standard Time", driverOs: w11 }',
      '      networks: [{ subnet: "${subnet}" }]',
      '',
    ].join('\n'),
  );
  const plan = await cli('plan', '--state', state, stack);
  ok(plan);
  planText = plan.stdout;
  ok(await cli('apply', '--auto-approve', '--state', state, stack));
  serverId = stateIds(state).find((r) => r.type === 'server')!.id;
});

after(async () => {
  if (t) await t.cleanup(existsSync(state ?? '') ? [state] : []);
});

const virsh = async (...args: string[]) => (await run('virsh', ['-c', 'qemu:///system', ...args])).stdout;

test('the plan shows the answer file: computer name (15 characters), no password', () => {
  assert.match(planText, /answerFile/);
  assert.match(planText, /<ComputerName>WIN-E2E-SERVER<\/ComputerName>/);
  assert.match(planText, /W\. Europe Standard Time/);
  assert.match(planText, /@STRATUS-ADMIN-PASS@/);
  assert.ok(!planText.includes(PASSWORD), 'the password is not in the plan');
});

test('the installer runs with its media, signals the end of setup, and the server boots from its disk', async () => {
  const log = join(t.stateDir, 'instances', serverId, 'console.log');
  // The guest of the disk the stand-in wrote: it only exists once setup ran and the media were detached.
  // Two boots in a row (the installer, then the disk): twice the helper's usual limit.
  const ready = await waitForReady(log, 1_800_000);
  assert.equal(ready.hostname, 'win-e2e-server-1');
  const text = readFileSync(log, 'utf8');
  assert.match(text, /stand-in setup: answer file on \/dev\/\S+, computer name WIN-E2E-SERVER$/m);
  assert.match(text, /stand-in setup: driver medium on \/dev\/\S+/);
  assert.match(text, /stand-in setup: wrote the system to \/dev\/vda/);
  assert.doesNotMatch(text, /stand-in setup: FAILED/);
  const lines = text.split(/\r?\n/);
  const signal = lines.indexOf(INSTALL_COMPLETE_MARKER);
  const readyAt = lines.findIndex((l) => l.startsWith('STRATUS-GUEST-READY'));
  assert.ok(signal >= 0 && readyAt > signal, 'the end-of-setup line, then the boot from disk');

  // The definition has no CD-ROM left and boots from its disk; the answer medium is gone.
  const xml = await virsh('dumpxml', serverId);
  assert.doesNotMatch(xml, /device='cdrom'/);
  assert.doesNotMatch(xml, /<boot order=/);
  assert.ok(!existsSync(join(t.stateDir, 'instances', serverId, 'answer.iso')));
  assert.match(xml, /<disk type='file' device='disk'>[\s\S]*?disk\.qcow2/);

  // The agent reports the install as done; a plan after it has nothing to change.
  const again = await cli('plan', '-detailed-exitcode', '--state', state, stack);
  assert.equal(again.code, 0, `${again.stdout}\n${again.stderr}`);
  const listed = await cli('list', 'server', '-json');
  ok(listed);
  assert.ok(!listed.stdout.includes(PASSWORD), 'the password is not listed');
  const srv = JSON.parse(listed.stdout).find((r: { id: string }) => r.id === serverId);
  assert.equal(srv.attributes.installStatus, 'INSTALLED');
  assert.equal(srv.attributes.status, 'ACTIVE');
});
