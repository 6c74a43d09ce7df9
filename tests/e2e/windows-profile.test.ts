/**
 * The Windows guest profile booted for real (issue 13, Deliver 1), with the project's UEFI test image
 * standing in for Windows (no Windows media can be had here): an image with `os_type=windows`,
 * `hw_disk_bus=sata`, `hw_vif_model=e1000e` and `os_secure_boot=required` gives a q35 domain with OVMF's
 * Secure Boot build and Microsoft's keys (so shim, GRUB and the kernel must all pass signature checks),
 * SMM, a swtpm TPM 2.0, a local-time clock, SATA disks and an e1000e NIC; under TCG no Hyper-V. The guest
 * reaches its ready line with the address DHCP gave it, and answers HTTP from the network's namespace; destroy
 * removes the TPM state and the UEFI variable store. One guest; every limit only ends a hang.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  type AgentEnv,
  agentEnv,
  hostObjectsFor,
  httpGetInNetns,
  IMAGE,
  run,
  stateIds,
  waitForReady,
} from './helpers.js';

let t: AgentEnv;
let stack: string;
let state: string;

const STACK = `name: winprofile
resources:
  img:
    type: image
    properties:
      source: ${IMAGE}
      properties:
        os_type: windows
        hw_disk_bus: sata
        hw_vif_model: e1000e
        os_secure_boot: required
  net:
    type: network
    properties: { mtu: 1500 }
  sub:
    type: subnet
    properties:
      network: \${net}
      cidr: 10.86.0.0/24
  http:
    type: security_group
    properties:
      description: tcp from the subnet (the test probe from the DHCP namespace)
      rules:
        - { direction: ingress, protocol: tcp, remoteIpPrefix: 10.86.0.0/24 }
        - { direction: egress }
  win:
    type: server
    timeouts: { create: 40m }
    properties:
      image: \${img}
      memoryMb: 512
      networks:
        - subnet: \${sub}
      securityGroups: ["\${http}"]
`;

before(() => {
  assert.ok(existsSync(IMAGE), `guest image missing: run scripts/build-guest-image.sh (${IMAGE})`);
  t = agentEnv('winprofile');
  stack = join(t.dir, 'stack.yaml');
  state = join(t.dir, 'state.json');
  writeFileSync(stack, STACK);
});

after(async () => {
  await t.cleanup([state]);
});

type Res = { name: string; id: string; attributes: Record<string, unknown> };
const byName = (name: string): Res =>
  (JSON.parse(readFileSync(state, 'utf8')).resources as Res[]).find((r) => r.name === name)!;

/** GET / from the network's DHCP namespace, retried once a second until it answers or `tries` run out. */
async function httpUntilAnswered(ns: string, ip: string, tries: number): Promise<string> {
  let last = '';
  for (let i = 0; i < tries; i++) {
    const r = await httpGetInNetns(ns, `http://${ip}/`);
    if (r.code === 0) return r.stdout.trim();
    last = r.stderr;
    await new Promise((res) => setTimeout(res, 1000));
  }
  throw new Error(`no HTTP answer from ${ip} in ${ns}: ${last}`);
}

test('a Windows-profile server (q35, UEFI Secure Boot, TPM 2.0, SATA, e1000e) boots under TCG; destroy removes TPM state and NVRAM', async (ctx) => {
  await t.startAgent();
  const applied = await t.stratus('apply', '--auto-approve', '--state', state, stack);
  assert.equal(applied.code, 0, `apply failed:\n${applied.stdout}\n${applied.stderr}`);
  const win = byName('win');
  const a = win.attributes;
  // The hardware the agent chose from the image's properties, reported as the server's computed inputs.
  assert.equal(a.osType, 'windows');
  assert.equal(a.firmware, 'uefi');
  assert.equal(a.machine, 'q35');
  assert.equal(a.secureBoot, true);
  assert.equal(a.tpm, true);

  const domain = `stratus-${win.id}`;
  const xml = (await run('virsh', ['-c', 'qemu:///system', 'dumpxml', domain])).stdout;
  assert.match(xml, /<domain type='(qemu|kvm)'/);
  const kvm = /<domain type='kvm'/.test(xml);
  ctx.diagnostic(
    `domain type ${kvm ? 'kvm' : 'qemu'} (the agent's probe), server hypervisor ${a.hypervisor}`,
  );
  assert.equal(a.hypervisor, kvm ? 'kvm' : 'qemu');
  assert.match(xml, /machine='pc-q35-[^']*'/);
  assert.match(
    xml,
    /<loader readonly='yes' secure='yes' type='pflash'>\/usr\/share\/OVMF\/OVMF_CODE_4M\.ms\.fd<\/loader>/,
  );
  assert.match(xml, /<nvram template='\/usr\/share\/OVMF\/OVMF_VARS_4M\.ms\.fd'>([^<]+)<\/nvram>/);
  const nvram = /<nvram[^>]*>([^<]+)<\/nvram>/.exec(xml)![1]!;
  assert.match(xml, /<smm state='on'\/>/);
  assert.match(xml, /<tpm model='tpm-crb'>\s*<backend type='emulator' version='2\.0'/);
  assert.match(xml, /<clock offset='localtime'>/);
  assert.match(xml, /<timer name='hpet' present='no'\/>/);
  assert.match(xml, /<input type='tablet' bus='usb'>/);
  assert.match(xml, /<target dev='sda' bus='sata'\/>/);
  assert.match(xml, /<model type='e1000e'\/>/);
  // Hyper-V only where the domain type is kvm; this host's choice is detected, not assumed.
  assert.equal(/<hyperv/.test(xml), kvm);

  // The guest: ready line with the config drive's hostname and the SATA disk, its lease, HTTP.
  // OVMF with SMM and Secure Boot is slow under TCG on a loaded host: the limit only ends a hang.
  const ready = await waitForReady(a.consoleLog as string, 1_800_000);
  ctx.diagnostic(`ready line: ${JSON.stringify(ready)}`);
  assert.match(ready.disks ?? '', /\bsda\b/);
  assert.equal(ready.ip, a.accessIpV4);
  const ns = `qdhcp-${byName('net').id}`;
  assert.equal(await httpUntilAnswered(ns, a.accessIpV4 as string, 300), ready.hostname);

  // Per-server state on the host while it exists: the variable store and the swtpm state folder.
  const tpmDir = `/var/lib/libvirt/swtpm/${win.id}`;
  assert.ok(existsSync(nvram), `variable store ${nvram}`);
  assert.ok(existsSync(tpmDir), `TPM state ${tpmDir}`);

  const ids = stateIds(state).map((r) => r.id);
  const destroyed = await t.stratus('destroy', '--auto-approve', '--state', state, stack);
  assert.equal(destroyed.code, 0, `${destroyed.stdout}\n${destroyed.stderr}`);
  assert.deepEqual(hostObjectsFor(ids), []);
  assert.ok(!existsSync(nvram), `variable store ${nvram} removed`);
  assert.ok(!existsSync(tpmDir), `TPM state ${tpmDir} removed`);
});
