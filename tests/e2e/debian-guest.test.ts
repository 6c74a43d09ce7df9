/**
 * A real Debian 12 guest with cloud-init 22.4 (scripts/build-debian-image.sh) against Stratus's config
 * drive (issue 12, Deliver 6 and its cloud-init acceptance): cloud-init takes the host name, the SSH key
 * of a key pair the agent generated and the user data from the drive; the flavor's 2 vCPUs reach the
 * guest and its root filesystem grows to the flavor's 3 GiB disk; SSH works with the generated private
 * key. SSH runs from the network's DHCP namespace, the only place with a route to the guest. Skips with
 * one line when the Debian image has not been built (it takes minutes; CI builds it).
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type AgentEnv, agentEnv, hostObjectsFor, ROOT, run, stateIds, waitForReady } from './helpers.js';

const DEBIAN = join(ROOT, 'build/images/stratus-debian.qcow2');
const skip = existsSync(DEBIAN) ? false : `needs ${DEBIAN}: run scripts/build-debian-image.sh`;

let t: AgentEnv;
let stack: string;
let state: string;

const STACK = `name: debian
resources:
  img:
    type: image
    properties:
      source: ${DEBIAN}
  deploy:
    type: keypair
  medium:
    type: flavor
    properties: { vcpus: 2, ramMb: 768, diskGb: 3 }
  net:
    type: network
  sub:
    type: subnet
    properties:
      network: \${net}
      cidr: 10.88.0.0/24
  ssh:
    type: security_group
    properties:
      description: SSH from the subnet (the test connects from the DHCP namespace)
      rules:
        - { direction: ingress, protocol: tcp, portRangeMin: 22, portRangeMax: 22, remoteIpPrefix: 10.88.0.0/24 }
        - { direction: egress }
  deb:
    type: server
    timeouts: { create: 40m }
    properties:
      name: deb-one
      image: \${img}
      flavor: \${medium}
      keyPair: \${deploy}
      networks:
        - subnet: \${sub}
      securityGroups: ["\${ssh}"]
      userData: |
        #cloud-config
        write_files:
          - path: /var/tmp/stratus-user-data
            content: "user data ran\\n"
        runcmd:
          - [sh, -c, "echo STRATUS-USERDATA-RAN > /dev/ttyS0"]
`;

type Res = { name: string; id: string; attributes: Record<string, unknown> };
const byName = (name: string): Res =>
  (JSON.parse(readFileSync(state, 'utf8')).resources as Res[]).find((r) => r.name === name)!;

before(() => {
  if (skip) return;
  t = agentEnv('debian');
  stack = join(t.dir, 'stack.yaml');
  state = join(t.dir, 'state.json');
  writeFileSync(stack, STACK);
});

after(async () => {
  if (!skip) await t.cleanup([state]);
});

test('Debian 12 + cloud-init: host name, SSH key and user data from the config drive; flavor size in the guest', {
  skip,
}, async () => {
  const applied = await t.stratus('apply', '--auto-approve', '--state', state, stack);
  assert.equal(applied.code, 0, `apply failed:\n${applied.stdout}\n${applied.stderr}`);
  const deb = byName('deb');
  const consoleLog = String(deb.attributes.consoleLog);
  // Generous: systemd and cloud-init under TCG on a busy 2-core host take minutes.
  const ready = await waitForReady(consoleLog, 1_800_000);
  assert.equal(ready.hostname, 'deb-one', 'cloud-init set the host name from the config drive');
  assert.equal(ready.ip, deb.attributes.accessIpV4);
  assert.match(readFileSync(consoleLog, 'utf8'), /STRATUS-USERDATA-RAN/, 'the user data ran');

  const key = join(t.dir, 'id_deploy');
  writeFileSync(key, String(byName('deploy').attributes.privateKey));
  chmodSync(key, 0o600);
  const ns = `qdhcp-${byName('net').id}`;
  const ssh = (command: string) =>
    run('ip', [
      'netns',
      'exec',
      ns,
      'ssh',
      '-i',
      key,
      '-o',
      'StrictHostKeyChecking=no',
      '-o',
      'UserKnownHostsFile=/dev/null',
      '-o',
      'BatchMode=yes',
      '-o',
      'ConnectTimeout=60',
      `debian@${deb.attributes.accessIpV4}`,
      command,
    ]);
  const got = await ssh('hostname; nproc; cat /var/tmp/stratus-user-data; df -B1M --output=size / | tail -1');
  assert.equal(got.code, 0, `ssh failed: ${got.stderr}`);
  const [hostname, nproc, userData, rootMib] = got.stdout
    .trim()
    .split('\n')
    .map((l) => l.trim());
  assert.equal(hostname, 'deb-one');
  assert.equal(nproc, '2');
  assert.equal(userData, 'user data ran');
  // growpart + resize2fs: about 3 GiB less the boot partition and filesystem overhead.
  assert.ok(Number(rootMib) > 2600 && Number(rootMib) <= 3072, `root filesystem ${rootMib} MiB`);

  const ids = stateIds(state).map((r) => r.id);
  const destroyed = await t.stratus('destroy', '--auto-approve', '--state', state, stack);
  assert.equal(destroyed.code, 0, `${destroyed.stdout}\n${destroyed.stderr}`);
  assert.deepEqual(hostObjectsFor(ids), []);
});
