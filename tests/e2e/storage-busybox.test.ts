/**
 * Volumes, power state, resize and the agent's tunnel on the small busybox guest (issue 12, Deliver 1, 2
 * and 5), which boots in seconds where the Debian guest takes minutes: the guest's user data reports its
 * CPU count at each boot and every change of its vdc..vdz disks (size in 512-byte sectors) on the serial
 * console, so hot-plug, online extend and detach are seen from inside the guest. The tunnel behind
 * `stratus ssh` is driven in its ProxyCommand mode against the guest's HTTP server (the busybox guest has
 * no SSH server; storage-debian.test.ts runs OpenSSH through it).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  type AgentEnv,
  agentEnv,
  CLI,
  hostObjectsFor,
  IMAGE,
  run,
  stateIds,
  waitForReady,
} from './helpers.js';

const GIB = 1024 ** 3;

interface Shape {
  volumeGb: number;
  attached: boolean;
  power: string;
  flavor: 'one' | 'two';
  server: boolean;
}

// The guest's reports: CPUs at each boot, and its extra disks (name:sectors) whenever they change.
const USER_DATA = `#!/bin/sh
echo "STRATUS-CPUS n=$(grep -c ^processor /proc/cpuinfo)" >/dev/ttyS0
(
  last=none
  while true; do
    now=$(for d in /sys/block/vd[c-z]; do [ -e "$d" ] && printf '%s:%s ' "$(basename "$d")" "$(cat "$d/size")"; done)
    [ "$now" != "$last" ] && echo "STRATUS-DISKS [$now]" >/dev/ttyS0
    last=$now
    sleep 1
  done
) &
`;

/** The test's stack, built in this one place; its group admits HTTP from the subnet (the tunnel's source). */
function stack(s: Shape): string {
  const userData = USER_DATA.split('\n')
    .map((l) => `        ${l}`)
    .join('\n');
  return `name: storage-fast
resources:
  img:
    type: image
    properties: { source: ${IMAGE} }
  one:
    type: flavor
    properties: { vcpus: 1, ramMb: 192, diskGb: 1 }
  two:
    type: flavor
    properties: { vcpus: 2, ramMb: 256, diskGb: 2 }
  net:
    type: network
  sub:
    type: subnet
    properties: { network: "\${net}", cidr: 10.93.0.0/24 }
  web:
    type: security_group
    properties:
      rules:
        - { direction: ingress, protocol: tcp, portRangeMin: 80, portRangeMax: 81, remoteIpPrefix: 10.93.0.0/24 }
        - { direction: egress }
  data:
    type: volume
    properties: { sizeGb: ${s.volumeGb} }
${
  s.server
    ? `  srv:
    type: server
    properties:
      name: fast
      image: \${img}
      flavor: \${${s.flavor}}
      powerState: ${s.power}
      securityGroups: ["\${web}"]
      networks: [{ subnet: "\${sub}" }]
      userData: |
${userData}
`
    : ''
}${
  s.server && s.attached
    ? `  att:
    type: volume_attachment
    properties: { server: "\${srv}", volume: "\${data}" }
`
    : ''
}`;
}

let t: AgentEnv;
let stackFile: string;
let state: string;

const res = (name: string) =>
  (
    JSON.parse(readFileSync(state, 'utf8')).resources as {
      name: string;
      id: string;
      attributes: Record<string, unknown>;
    }[]
  ).find((r) => r.name === name);

async function apply(s: Shape): Promise<void> {
  writeFileSync(stackFile, stack(s));
  const r = await t.stratus('apply', '-auto-approve', '-no-color', '-state', state, stackFile);
  assert.equal(r.code, 0, `apply failed:\n${r.stdout}\n${r.stderr}`);
}

async function plan(s: Shape, file = stackFile) {
  writeFileSync(file, stack(s));
  return t.stratus('plan', '-no-color', '-detailed-exitcode', '-state', state, file);
}

/** Waits (at most 15 minutes: only a hung guest takes that long) until the console log has a line matching `re` after `from` characters. */
async function waitForLine(log: string, re: RegExp, from: number): Promise<string> {
  const deadline = Date.now() + 900_000;
  for (;;) {
    const text = existsSync(log) ? readFileSync(log, 'utf8').slice(from) : '';
    const line = text.split(/\r?\n/).find((l) => re.test(l));
    if (line) return line;
    assert.ok(Date.now() < deadline, `no line matching ${re} in ${log}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

const logSize = (log: string) => (existsSync(log) ? readFileSync(log, 'utf8').length : 0);

before(() => {
  t = agentEnv('storage-fast');
  stackFile = join(t.dir, 'stack.yaml');
  state = join(t.dir, 'state.json');
});

after(async () => {
  await t.cleanup([state]);
});

test('volumes hot-plug, grow online and detach; power state; resize in place; the ssh tunnel', async (tt) => {
  let shape: Shape = { volumeGb: 1, attached: true, power: 'running', flavor: 'one', server: true };
  await apply(shape);
  const srv = res('srv')!;
  const log = String(srv.attributes.consoleLog);
  const data = res('data')!;
  await waitForReady(log);

  await tt.test('the attached volume is a 1 GiB disk in the guest', async () => {
    assert.equal(res('att')!.attributes.device, 'vdc');
    await waitForLine(log, /STRATUS-DISKS \[vdc:2097152 \]/, 0);
  });

  await tt.test('the tunnel behind stratus ssh reaches the guest from the network namespace', async () => {
    const child = spawn(process.execPath, [CLI, 'ssh', '-proxy', '-port=80', srv.id], {
      env: { ...process.env, ...t.env },
    });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString('utf8')));
    child.stdin.end('GET / HTTP/1.0\r\nHost: guest\r\n\r\n');
    let err = '';
    child.stderr.on('data', (b: Buffer) => (err += b.toString('utf8')));
    const code = await new Promise<number | null>((r) => child.once('close', r));
    assert.equal(code, 0, err);
    assert.match(out, /^HTTP\/1\.[01] 200/);
    assert.match(out, /\r\n\r\nfast\n$/, 'the guest answered with its host name');
    // A closed port (its group admits it, the guest refuses it) fails with the reason; nothing is relayed.
    const refused = await run(process.execPath, [CLI, 'ssh', '-proxy', '-port=81', srv.id], t.env);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /cannot connect to 10\.93\.0\.\d+:81/);
  });

  await tt.test(
    'growing the volume is an in-place update the guest sees at once; shrinking is a plan error',
    async () => {
      shape = { ...shape, volumeGb: 2 };
      const p = await plan(shape);
      assert.match(p.stdout, /data will be updated in place/);
      assert.match(p.stdout, /Plan: 0 to add, 1 to change, 0 to destroy\./);
      const from = logSize(log);
      await apply(shape);
      await waitForLine(log, /STRATUS-DISKS \[vdc:4194304 \]/, from);
      assert.equal(
        readFileSync(log, 'utf8')
          .slice(from)
          .match(/STRATUS-GUEST-READY/g),
        null,
        'no reboot',
      );
      const bad = await plan({ ...shape, volumeGb: 1 }, join(t.dir, 'bad.yaml'));
      assert.equal(bad.code, 1);
      assert.match(
        bad.stderr,
        /bad\.yaml:\d+:\d+: error: resources\.data\.properties\.sizeGb: cannot shrink a volume from 2 GiB to 1 GiB/,
      );
    },
  );

  await tt.test('detach: the disk leaves the guest, the volume stays', async () => {
    shape = { ...shape, attached: false };
    const from = logSize(log);
    await apply(shape);
    await waitForLine(log, /STRATUS-DISKS \[\]/, from);
    assert.ok(existsSync(join(t.stateDir, 'volumes', `${data.id}.qcow2`)));
  });

  await tt.test('powerState shutoff, then running; a flavor change resizes in place', async () => {
    shape = { ...shape, power: 'shutoff' };
    await apply(shape);
    assert.equal(res('srv')!.attributes.status, 'SHUTOFF');
    const empty = await plan(shape);
    assert.equal(empty.code, 0, `plan after the shutoff is empty:\n${empty.stdout}\n${empty.stderr}`);
    // Back on with the larger flavor, in one apply: the domain is redefined while it is off.
    shape = { ...shape, power: 'running', flavor: 'two' };
    const p = await plan(shape);
    assert.match(p.stdout, /srv will be updated in place/);
    const from = logSize(log);
    await apply(shape);
    assert.equal(res('srv')!.id, srv.id, 'not replaced');
    const uuid = await run('virsh', ['-c', 'qemu:///system', 'domuuid', `stratus-${srv.id}`]);
    assert.equal(uuid.stdout.trim(), srv.id, 'the same domain');
    assert.equal(res('srv')!.attributes.vcpus, 2);
    await waitForLine(log, /STRATUS-CPUS n=2/, from);
    const disk = await run('qemu-img', [
      'info',
      '-U',
      '--output=json',
      join(t.stateDir, 'instances', srv.id, 'disk.qcow2'),
    ]);
    assert.equal(JSON.parse(disk.stdout)['virtual-size'], 2 * GIB, "root disk grown to the flavor's 2 GiB");
  });

  await tt.test('deleting the server leaves the volume until it is deleted', async () => {
    const ids = stateIds(state).map((r) => r.id);
    shape = { ...shape, server: false };
    await apply(shape);
    assert.equal(res('srv'), undefined);
    assert.ok(existsSync(join(t.stateDir, 'volumes', `${data.id}.qcow2`)));
    const destroyed = await t.stratus('destroy', '-auto-approve', '-state', state, stackFile);
    assert.equal(destroyed.code, 0, `${destroyed.stdout}\n${destroyed.stderr}`);
    assert.equal(existsSync(join(t.stateDir, 'volumes', `${data.id}.qcow2`)), false);
    assert.deepEqual(hostObjectsFor(ids), []);
  });
});
