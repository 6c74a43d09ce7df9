/**
 * Boot from volume at plan (Nova's boot_index 0 volume): exactly one root source (image, bootVolume or
 * installMedia); the boot volume counts as attached to its server (multiattach rules, no second
 * attachment to the same server); the guest facts and minimums come from the volume's source image,
 * following source volumes, reported at `bootVolume`; the flavor's disk never applies to it; a new boot
 * volume replaces the server, and the volume outlives it.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { formatDiagnostic } from '../diagnostics/index.js';
import { loadStackText } from '../loaders/stack-yaml.js';
import { checkStack } from './check.js';
import { checkProviders, removeWorlds, world } from './world.test-support.js';

after(removeWorlds);

const base = (o: { props?: string; minRam?: number; minDisk?: number; volSize?: number } = {}) => `
resources:
  img:
    type: image
    properties:
      source: /images/guest.qcow2
      properties: { ${o.props ?? 'os_type: linux'} }
${o.minRam ? `      minRamMb: ${o.minRam}\n` : ''}${o.minDisk ? `      minDiskGb: ${o.minDisk}\n` : ''}  net: { type: network }
  sub:
    type: subnet
    properties: { network: "\${net}", cidr: 10.3.0.0/24 }
  small:
    type: flavor
    properties: { vcpus: 1, ramMb: 256, diskGb: 1 }
  root:
    type: volume
    properties: { sizeGb: ${o.volSize ?? 2}, image: "\${img}" }
  copy:
    type: volume
    properties: { sizeGb: 3, volume: "\${root}" }
`;

const server = (name: string, props: string) => `  ${name}:
    type: server
    properties:
      flavor: \${small}
      networks: [{ subnet: "\${sub}" }]
${props
  .split('\n')
  .map((l) => `      ${l}`)
  .join('\n')}
`;

/** Loads and checks a stack; its diagnostics as `file:line:column: severity: field: message`. */
function check(yaml: string): string[] {
  const r = loadStackText(yaml, '/virtual/stack.yaml');
  const items = [...r.diagnostics.items];
  if (r.config) items.push(...checkStack(r.config, checkProviders).diagnostics.items);
  return items.map(formatDiagnostic);
}

describe('boot from volume: plan-time rules', () => {
  test('a server booting from a volume checks and plans; the flavor disk does not apply to it', () => {
    assert.deepEqual(check(base({ minDisk: 2 }) + server('web', 'bootVolume: ${copy}')), []);
  });

  test('image, bootVolume and installMedia: one root source, at the field with its line and column', () => {
    const lines = check(base() + server('web', 'image: ${img}\nbootVolume: ${root}'));
    assert.deepEqual(lines, [
      '/virtual/stack.yaml:27:7: error: resources.web.properties.bootVolume: conflicts with image: a server boots from an image (an overlay of it) or from a volume; set one of them',
    ]);
    const none = check(base() + server('web', 'name: web'));
    assert.equal(none.length, 1);
    assert.match(
      none[0]!,
      /resources\.web\.properties\.image: is required \(or bootVolume, to boot from a volume/,
    );
    const iso = check(
      `${base()}  iso: { type: image, properties: { source: /images/win.iso, diskFormat: iso } }\n${server('web', 'installMedia: ${iso}\nbootVolume: ${root}\nadminPass: Passw0rd!x')}`,
    );
    assert.ok(
      iso.some((l) => /resources\.web\.properties\.bootVolume: conflicts with installMedia/.test(l)),
      iso.join('\n'),
    );
  });

  test('a boot volume is attached: not to a second server or attachment without multiattach, never twice to its server', () => {
    const twice = check(base() + server('a', 'bootVolume: ${root}') + server('b', 'bootVolume: ${root}'));
    assert.deepEqual(twice, [
      "/virtual/stack.yaml:32:7: error: resources.b.properties.bootVolume: volume root is attached already (as server a's boot volume) and has no multiattach: a volume attaches to one server unless it sets multiattach: true",
    ]);
    const attachedElsewhere = check(
      `${base()}${server('a', 'bootVolume: ${root}')}${server('b', 'image: ${img}')}  att:
    type: volume_attachment
    properties: { server: "\${b}", volume: "\${root}" }
`,
    );
    assert.equal(attachedElsewhere.length, 1);
    assert.match(
      attachedElsewhere[0]!,
      /^\/virtual\/stack\.yaml:35:35: error: resources\.att\.properties\.volume: volume root is attached already \(as server a's boot volume\)/,
    );
    const own = check(
      `${base()}${server('a', 'bootVolume: ${root}')}  att:
    type: volume_attachment
    properties: { server: "\${a}", volume: "\${root}" }
`,
    );
    assert.equal(own.length, 1);
    assert.match(
      own[0]!,
      /resources\.att\.properties\.volume: volume root is server a's boot volume \(its root disk\) already/,
    );
    const multi = base()
      .replace('sizeGb: 2, image: "${img}"', 'sizeGb: 2, image: "${img}", multiattach: true')
      .concat(server('a', 'bootVolume: ${root}'), server('b', 'bootVolume: ${root}'));
    assert.deepEqual(check(multi), []);
  });

  test("guest facts and minimums come from the volume's source image (through a copy), at bootVolume", () => {
    const sb = check(base({ props: 'os_secure_boot: required' }) + server('web', 'bootVolume: ${copy}'));
    assert.equal(sb.length, 1);
    assert.match(
      sb[0]!,
      /^\/virtual\/stack\.yaml:26:7: error: resources\.web\.properties\.bootVolume: image img requires Secure Boot \(os_secure_boot required\), which needs UEFI, but a linux guest defaults to firmware bios/,
    );
    const ram = check(base({ minRam: 512 }) + server('web', 'bootVolume: ${copy}'));
    assert.equal(ram.length, 1);
    assert.match(
      ram[0]!,
      /resources\.web\.properties\.flavor: flavor small has 256 MiB of memory, but image img \(of boot volume copy\) needs at least minRamMb 512/,
    );
    const disk = check(base({ minDisk: 4 }) + server('web', 'bootVolume: ${copy}'));
    assert.equal(disk.length, 1, disk.join('\n'));
    assert.match(
      disk[0]!,
      /resources\.root\.properties\.sizeGb: a volume of 2 GiB cannot hold image img, which needs at least minDiskGb 4/,
    );
  });

  test('a new boot volume replaces the server; destroying the server leaves the volume', async () => {
    const w = world();
    const one = base() + server('web', 'bootVolume: ${root}');
    assert.equal((await w.apply(one)).ok, true);
    const swap = await w.plan(base() + server('web', 'bootVolume: ${copy}'));
    const web = swap.plan.changes.find((c) => c.name === 'web')!;
    assert.equal(web.action, 'replace');
    assert.deepEqual(
      web.changes.filter((c) => c.forcesReplace).map((c) => c.name),
      ['bootVolume'],
    );
    const gone = await w.plan(base());
    const actions = Object.fromEntries(
      gone.plan.changes.filter((c) => c.action !== 'no-op').map((c) => [c.name, c.action]),
    );
    assert.deepEqual(actions, { web: 'delete' });
  });
});
