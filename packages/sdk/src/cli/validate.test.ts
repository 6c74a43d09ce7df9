import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { runCli } from './testing.js';

const root = mkdtempSync(join(tmpdir(), 'stratus-validate-'));
after(() => rmSync(root, { recursive: true, force: true }));

const GOOD = `resources:
  img:
    type: image
    properties:
      source: ./guest.qcow2
  net:
    type: network
  sub:
    type: subnet
    properties:
      network: \${net}
      cidr: 10.20.0.0/24
  web:
    type: server
    properties:
      image: \${img}
      networks:
        - subnet: \${sub}
`;

/** Each bad stack: what to change in GOOD, and the location, field and message the error must name. */
const CASES: { name: string; yaml: string; where: string; field: string; message: RegExp }[] = [
  {
    name: 'unknown resource type',
    yaml: GOOD.replace('    type: network', '    type: netwrok'),
    where: '7:5',
    field: 'resources.net.type',
    message: /unknown resource type "netwrok"/,
  },
  {
    name: 'missing required field',
    yaml: GOOD.replace('      cidr: 10.20.0.0/24\n', ''),
    where: '10:5',
    field: 'resources.sub.properties.cidr',
    message: /is required/,
  },
  {
    name: 'reference to a missing resource',
    yaml: GOOD.replace('image: ${img}', 'image: ${imgx}'),
    where: '16:7',
    field: 'resources.web.properties.image',
    message: /\$\{imgx\} names no resource/,
  },
  {
    name: 'dependency cycle',
    yaml: `${GOOD}    dependsOn: [web2]\n  web2:\n    type: network\n    dependsOn: [web]\n`,
    where: '19:17',
    field: 'resources.web.dependsOn[0]',
    message: /dependency cycle: web -> web2 -> web/,
  },
  {
    name: 'firmware uefi on machine pc (cannot be honoured: UEFI needs q35)',
    yaml: GOOD.replace(
      '      image: ${img}\n',
      '      image: ${img}\n      firmware: uefi\n      machine: pc\n',
    ),
    where: '18:7',
    field: 'resources.web.properties.machine',
    message: /firmware uefi cannot run on machine pc/,
  },
  {
    name: 'a flavor and an inline size together',
    yaml: `${GOOD.replace('      image: ${img}\n', '      image: ${img}\n      flavor: ${small}\n      vcpus: 2\n')}  small:\n    type: flavor\n    properties: { vcpus: 2, ramMb: 512 }\n`,
    where: '18:7',
    field: 'resources.web.properties.vcpus',
    message: /conflicts with flavor/,
  },
  {
    name: 'invalid CIDR',
    yaml: GOOD.replace('cidr: 10.20.0.0/24', 'cidr: 10.20.0.0/33'),
    where: '12:7',
    field: 'resources.sub.properties.cidr',
    message: /must be an IPv4 CIDR/,
  },
  {
    name: 'CIDR with host bits',
    yaml: GOOD.replace('cidr: 10.20.0.0/24', 'cidr: 10.20.0.7/24'),
    where: '12:7',
    field: 'resources.sub.properties.cidr',
    message: /host bits set/,
  },
  {
    name: 'IP range outside its subnet',
    yaml: GOOD.replace(
      'cidr: 10.20.0.0/24\n',
      'cidr: 10.20.0.0/24\n      allocationPools:\n        - start: 10.20.0.10\n          end: 10.21.0.20\n',
    ),
    where: '15:11',
    field: 'resources.sub.properties.allocationPools[0].end',
    message: /10\.21\.0\.20 is outside the subnet 10\.20\.0\.0\/24/,
  },
  // Issue 7, finding 1: dnsmasq reads `12h` as a lease time; the host name derives from the name.
  {
    name: 'server name whose host name dnsmasq refuses',
    yaml: GOOD.replace('      image: ${img}\n', '      name: "12h"\n      image: ${img}\n'),
    where: '16:7',
    field: 'resources.web.properties.name',
    message: /guest host name "12h".*dnsmasq reads it as a lease time/,
  },
  // Issue 7, finding 2.
  {
    name: 'subnet with no room for a server',
    yaml: GOOD.replace('cidr: 10.20.0.0/24', 'cidr: 10.62.1.0/30'),
    where: '12:7',
    field: 'resources.sub.properties.cidr',
    message: /the gateway takes 10\.62\.1\.1 and the DHCP port 10\.62\.1\.2, leaving none for a server/,
  },
  // Issue 7, finding 6.
  {
    name: 'timeout beyond 24h',
    yaml: GOOD.replace('    type: network\n', '    type: network\n    timeouts: {create: 600h}\n'),
    where: '8:16',
    field: 'resources.net.timeouts.create',
    message: /600h is longer than the limit of 24h/,
  },
];

describe('bad input fails validate and plan with file:line:column and field, changing nothing', () => {
  for (const c of CASES) {
    test(c.name, async () => {
      const dir = mkdtempSync(join(root, 'case-'));
      const file = join(dir, 'stack.yaml');
      writeFileSync(file, c.yaml);
      const agentDir = join(dir, 'agent');
      const env = { STRATUS_AGENT_STATE_DIR: agentDir };
      for (const cmd of ['validate', 'plan']) {
        const r = await runCli([cmd, file], { env });
        assert.equal(r.code, 1, `${cmd} exit code; stderr: ${r.stderr}`);
        const expected = `${file}:${c.where}: error: ${c.field}: `;
        const line = r.stderr.split('\n').find((l) => l.startsWith(expected));
        assert.ok(line, `${cmd}: expected a line starting with ${expected}\ngot:\n${r.stderr}`);
        assert.match(line, c.message);
        assert.match(r.stderr, /nothing was changed/);
      }
      // Nothing was created: no agent was started, no state written.
      assert.equal(existsSync(agentDir), false);
      assert.deepEqual(readdirSync(dir), ['stack.yaml']);
    });
  }

  test('several problems in one file are all reported', async () => {
    const dir = mkdtempSync(join(root, 'multi-'));
    const file = join(dir, 'stack.yaml');
    writeFileSync(
      file,
      GOOD.replace('type: network', 'type: netwrok').replace('10.20.0.0/24', '10.20.0.0/33'),
    );
    const r = await runCli(['validate', file]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /resources\.net\.type/);
    assert.match(r.stderr, /resources\.sub\.properties\.cidr/);
    assert.match(r.stderr, /2 errors; nothing was changed/);
  });

  test('a valid stack validates', async () => {
    const dir = mkdtempSync(join(root, 'ok-'));
    writeFileSync(join(dir, 'stack.yaml'), GOOD);
    const r = await runCli(['validate', dir]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /is valid \(4 resources\)/);
  });

  test('unknown flags are usage errors', async () => {
    const r = await runCli(['plan', '--bogus']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Unknown option '--bogus'/);
  });
});
