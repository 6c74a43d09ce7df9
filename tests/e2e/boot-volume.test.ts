/**
 * Boot from volume on the small busybox guest (issue 14, block_device_mapping_v2): one server whose root
 * disk is a volume cloned from the guest image. It boots (its ready line), the domain's first disk is the
 * volume's qcow2 file (no overlay of its own), and the flavor's larger disk does not grow it. The guest
 * writes a marker past the image's end on its root disk; deleting the server leaves the volume with the
 * marker, and destroying the stack leaves nothing.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { ApiRecord } from '@stratus/model';
import { AgentClient } from '@stratus/sdk/client';
import { type AgentEnv, agentEnv, hostObjectsFor, IMAGE, run, stateIds, waitForReady } from './helpers.js';

const GIB = 1024 ** 3;
/** Where the guest writes its marker on the root disk: 900 MiB in, past the image's partition. */
const MARK_MIB = 900;
const MARK = 'STRATUS-BFV-DATA-7f3a';

// The guest writes the marker onto its root disk (the volume), flushes it, and says so on the console.
const USER_DATA = `#!/bin/sh
printf '%s' '${MARK}' | dd of=/dev/vda bs=1M seek=${MARK_MIB} conv=notrunc,fsync 2>/dev/null
sync
echo "STRATUS-BFV-MARKED size=$(cat /sys/block/vda/size)" >/dev/ttyS0
`;

function stack(withServer: boolean): string {
  const userData = USER_DATA.split('\n')
    .map((l) => `        ${l}`)
    .join('\n');
  return `name: boot-volume
resources:
  img:
    type: image
    properties: { source: ${IMAGE} }
  big:
    type: flavor
    properties: { vcpus: 1, ramMb: 192, diskGb: 2 }
  net:
    type: network
  sub:
    type: subnet
    properties: { network: "\${net}", cidr: 10.157.0.0/24 }
  root:
    type: volume
    properties: { sizeGb: 1, image: "\${img}" }
${
  withServer
    ? `  srv:
    type: server
    properties:
      name: bfv
      bootVolume: \${root}
      flavor: \${big}
      networks: [{ subnet: "\${sub}" }]
      userData: |
${userData}
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

async function apply(withServer: boolean): Promise<void> {
  writeFileSync(stackFile, stack(withServer));
  const r = await t.stratus('apply', '-auto-approve', '-no-color', '-state', state, stackFile);
  assert.equal(r.code, 0, `apply failed:\n${r.stdout}\n${r.stderr}`);
}

/** Waits (at most 15 minutes: only a hung guest takes that long) for a console line matching `re`. */
async function waitForLine(log: string, re: RegExp): Promise<string> {
  const deadline = Date.now() + 900_000;
  for (;;) {
    const text = existsSync(log) ? readFileSync(log, 'utf8') : '';
    const line = text.split(/\r?\n/).find((l) => re.test(l));
    if (line) return line;
    assert.ok(Date.now() < deadline, `no line matching ${re} in ${log}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** The bytes of the volume file at the marker's place, read through qemu-io (the file is qcow2). */
async function markerIn(file: string): Promise<string> {
  const r = await run('qemu-io', [
    '-r',
    '-U',
    '-f',
    'qcow2',
    '-c',
    `read -v ${MARK_MIB * 1024 * 1024} ${MARK.length}`,
    file,
  ]);
  assert.equal(r.code, 0, r.stderr);
  // Hex dump lines: "38400000:  53 54 ...  ST..."; the bytes are the two-digit groups after the offset.
  const bytes = r.stdout
    .split('\n')
    .flatMap(
      (l) => /^[0-9a-f]+:((?: [0-9a-f]{2})+)/.exec(l.replace(/:\s+/, ': '))?.[1]?.trim().split(' ') ?? [],
    )
    .map((h) => Number.parseInt(h, 16));
  return Buffer.from(bytes).toString('latin1');
}

before(() => {
  t = agentEnv('boot-volume');
  stackFile = join(t.dir, 'stack.yaml');
  state = join(t.dir, 'state.json');
});

after(async () => {
  await t.cleanup([state]);
});

test('a server boots from a volume cloned from an image; the volume and its data outlive it', async (tt) => {
  await apply(true);
  const srv = res('srv')!;
  const vol = res('root')!;
  const volFile = join(t.stateDir, 'volumes', `${vol.id}.qcow2`);
  const log = String(srv.attributes.consoleLog);

  await tt.test('the guest boots from the volume', async () => {
    const ready = await waitForReady(log);
    assert.match(ready.ip ?? '', /^10\.157\.0\.\d+$/);
    const marked = await waitForLine(log, /STRATUS-BFV-MARKED size=\d+/);
    // The guest's root disk is the volume's 1 GiB, not the flavor's 2 GiB.
    assert.match(marked, new RegExp(`size=${GIB / 512}\\b`));
  });

  await tt.test("the domain's root disk is the volume file; no overlay is made", async () => {
    const xml = await run('virsh', ['-c', 'qemu:///system', 'dumpxml', `stratus-${srv.id}`]);
    assert.equal(xml.code, 0, xml.stderr);
    const disks = [...xml.stdout.matchAll(/<disk type='file' device='disk'>([\s\S]*?)<\/disk>/g)].map(
      (m) => m[1]!,
    );
    assert.ok(disks.length >= 1, xml.stdout);
    assert.match(disks[0]!, new RegExp(`<source file='${volFile.replace(/[.]/g, '\\.')}'`));
    assert.match(disks[0]!, /<target dev='vda' bus='virtio'\/>/);
    assert.equal(existsSync(join(t.stateDir, 'instances', srv.id, 'disk.qcow2')), false);
    const info = await run('qemu-img', ['info', '-U', '--output=json', volFile]);
    assert.equal(JSON.parse(info.stdout)['virtual-size'], GIB, 'the flavor disk did not grow the volume');
    // The agent lists the server among the volume's attachments, at its root device: in-use.
    const client = new AgentClient({
      socket: t.env.STRATUS_AGENT_SOCKET!,
      tokenFile: join(t.stateDir, 'token'),
    });
    const live = await client.get<ApiRecord>(`/v1/volumes/${vol.id}`);
    assert.equal(live.status.status, 'in-use');
    assert.deepEqual(live.status.attachments, [{ server: srv.id, device: 'vda', attachment: '' }]);
    const p = await t.stratus('plan', '-no-color', '-detailed-exitcode', '-state', state, stackFile);
    assert.equal(p.code, 0, `plan after apply is empty:\n${p.stdout}\n${p.stderr}`);
  });

  await tt.test('deleting the server leaves the volume and the data the guest wrote', async () => {
    await apply(false);
    assert.equal(res('srv'), undefined);
    assert.ok(existsSync(volFile));
    assert.equal(await markerIn(volFile), MARK);
    const list = await run('virsh', ['-c', 'qemu:///system', 'list', '--all', '--name']);
    assert.ok(!list.stdout.includes(srv.id), 'the domain is gone');
  });

  await tt.test('destroy leaves nothing', async () => {
    const ids = stateIds(state).map((r) => r.id);
    const destroyed = await t.stratus('destroy', '-auto-approve', '-state', state, stackFile);
    assert.equal(destroyed.code, 0, `${destroyed.stdout}\n${destroyed.stderr}`);
    assert.equal(existsSync(volFile), false);
    assert.deepEqual(hostObjectsFor([...ids, srv.id]), []);
  });
});
