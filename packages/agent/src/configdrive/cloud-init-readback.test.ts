/**
 * Reads a real config drive ISO back the way cloud-init 22.4 (Debian 12's) does, and checks that the
 * network configuration it would apply comes from network_data.json: static addresses, routes, MTU, DNS
 * and the second NIC. The reading rules restate cloud-init's `sources/helpers/openstack.py` at tag 22.4
 * (`OS_VERSIONS`, `BaseReader._find_working_version`, `ConfigDriveReader._fetch_available_versions`,
 * `read_v2`, `convert_net_json`) for the link and network types Stratus writes.
 */
import assert from 'node:assert/strict';
import { access, chmod, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { run } from '../host/exec.js';
import { buildConfigDrive } from './iso.js';
import { metaDataJson, networkDataJson } from './metadata.js';

/** cloud-init 22.4's `OS_VERSIONS`, oldest first: the dated versions it knows. */
const CLOUD_INIT_22_4_OS_VERSIONS = [
  '2012-08-10',
  '2013-04-04',
  '2013-10-17',
  '2015-10-15',
  '2016-06-30',
  '2016-10-06',
  '2017-02-22',
  '2018-08-27',
];

/** Nova's `OPENSTACK_VERSIONS` (nova/api/metadata/base.py), restated here so the test does not trust the code. */
const NOVA_OPENSTACK_VERSIONS = [...CLOUD_INIT_22_4_OS_VERSIONS, '2020-10-14', '2025-04-04'];

/** `_find_working_version`: the newest known version that is present, else `latest`. */
function selectVersion(available: readonly string[], known: readonly string[]): string {
  for (const v of [...known].reverse()) if (available.includes(v)) return v;
  return 'latest';
}

let dir: string;
before(async () => {
  dir = await mkdtemp('/var/tmp/stratus-configdrive-readback-');
  // The builder refuses a place QEMU's user could not reach.
  await chmod(dir, 0o755);
});
after(async () => {
  // The extracted tree keeps the ISO's read-only modes; make it removable for any user.
  await run('chmod', ['-R', 'u+rwX', dir]).catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
});

const UUID = '0b7e9a52-3c1d-4f6e-9a8b-7c6d5e4f3a21';
const NET_A = '11111111-2222-4333-8444-555555555555';
const NET_B = '66666666-7777-4888-8999-aaaaaaaaaaaa';
const MAC_A = 'fa:16:3e:0a:00:05';
const MAC_B = 'fa:16:3e:0b:00:09';

/** Builds a drive through the agent's builder and unpacks it with xorriso (Rock Ridge names, as a mount). */
async function buildAndExtract(name: string): Promise<{ iso: string; root: string; userData: string }> {
  const iso = join(dir, `${name}.iso`);
  const root = join(dir, `${name}-tree`);
  const userData = '#cloud-config\nruncmd: [[touch, /run/stratus-ok]]\n';
  await buildConfigDrive(iso, {
    metaData: metaDataJson({
      uuid: UUID,
      name: 'web 1',
      hostname: 'web-1',
      publicKeys: { k: 'ssh-ed25519 AAAA k' },
    }),
    userData,
    networkData: networkDataJson([
      {
        mac: MAC_A,
        ip: '10.20.0.5',
        cidr: '10.20.0.0/24',
        gateway: '10.20.0.1',
        dnsNameservers: ['10.20.0.2'],
        networkId: NET_A,
        mtu: 1450,
      },
      {
        mac: MAC_B,
        ip: '192.168.7.9',
        cidr: '192.168.7.0/26',
        gateway: '192.168.7.1',
        dnsNameservers: [],
        networkId: NET_B,
        mtu: 1500,
      },
    ]),
  });
  await run('xorriso', ['-osirrox', 'on', '-indev', iso, '-extract', '/', root]);
  return { iso, root, userData };
}

const exists = (p: string) =>
  access(p).then(
    () => true,
    () => false,
  );

type Json = Record<string, unknown>;

/** `valid_keys["subnet"]` of `convert_net_json`. */
const SUBNET_KEYS = [
  'type',
  'address',
  'netmask',
  'broadcast',
  'metric',
  'gateway',
  'pointopoint',
  'scope',
  'dns_nameservers',
  'dns_search',
  'routes',
];

/** `convert_net_json` for `vif` links and `ipv4` / `ipv4_dhcp` networks; anything else fails the test. */
function convertNetJson(networkJson: Json): Json[] {
  const links = (networkJson.links ?? []) as Json[];
  const networks = (networkJson.networks ?? []) as Json[];
  const services = (networkJson.services ?? []) as Json[];
  const config: Json[] = links.map((link) => {
    assert.equal(link.type, 'vif', 'this reader covers vif links only');
    const subnets = networks
      .filter((n) => n.link === link.id)
      .map((n) => {
        const subnet: Json = {};
        // Only the keys cloud-init's network config knows are kept (network_id, services, ... are dropped).
        for (const k of SUBNET_KEYS) if (k in n) subnet[k] = n[k];
        if (n.type === 'ipv4_dhcp') return { ...subnet, type: 'dhcp4' };
        assert.equal(n.type, 'ipv4', 'this reader covers ipv4 and ipv4_dhcp networks only');
        return { ...subnet, type: 'static', address: n.ip_address, ipv4: true };
      });
    return {
      type: 'physical',
      mac_address: String(link.ethernet_mac_address).toLowerCase(),
      ...('mtu' in link ? { mtu: link.mtu } : {}),
      subnets,
    };
  });
  for (const service of services) config.push({ ...service, type: 'nameserver' });
  return config;
}

test('cloud-init 22.4 picks a version with network_data.json and gets both NICs statically from it', async () => {
  const { iso, root, userData } = await buildAndExtract('two-nics');

  // cloud-init finds the drive by its filesystem label.
  const { stdout: pvd } = await run('isoinfo', ['-d', '-i', iso]);
  assert.match(pvd, /^Volume id: config-2$/m);

  // _fetch_available_versions lists every entry of openstack/ (sorted); _find_working_version picks.
  const available = (await readdir(join(root, 'openstack'))).sort();
  assert.deepEqual(available, [...NOVA_OPENSTACK_VERSIONS, 'latest']);
  const version = selectVersion(available, CLOUD_INIT_22_4_OS_VERSIONS);
  assert.equal(version, '2018-08-27');
  // The old drive (2012-08-10 and latest only) made the same rule pick 2012-08-10, which has no network data.
  assert.equal(selectVersion(['2012-08-10', 'latest'], CLOUD_INIT_22_4_OS_VERSIONS), '2012-08-10');

  // read_v2: meta_data.json is required; the others are optional and read from the same version.
  const base = join(root, 'openstack', version);
  const metadata = JSON.parse(await readFile(join(base, 'meta_data.json'), 'utf8')) as Json;
  assert.equal(metadata.uuid, UUID); // cloud-init's instance-id
  assert.equal(metadata.hostname, 'web-1'); // cloud-init's local-hostname
  assert.equal(await readFile(join(base, 'user_data'), 'utf8'), userData);
  assert.deepEqual(JSON.parse(await readFile(join(base, 'vendor_data.json'), 'utf8')), {});
  assert.deepEqual(JSON.parse(await readFile(join(base, 'vendor_data2.json'), 'utf8')), { static: {} });
  assert.ok(await exists(join(base, 'network_data.json')), `no network_data.json in openstack/${version}`);
  const networkData = JSON.parse(await readFile(join(base, 'network_data.json'), 'utf8')) as Json;

  const config = convertNetJson(networkData);
  const physical = config.filter((c) => c.type === 'physical');
  assert.equal(physical.length, 2, 'both NICs are configured, not only the first');
  assert.deepEqual(
    physical.find((c) => c.mac_address === MAC_A),
    {
      type: 'physical',
      mac_address: MAC_A,
      mtu: 1450,
      subnets: [
        {
          type: 'static',
          address: '10.20.0.5',
          netmask: '255.255.255.0',
          routes: [{ network: '0.0.0.0', netmask: '0.0.0.0', gateway: '10.20.0.1' }],
          ipv4: true,
        },
      ],
    },
  );
  assert.deepEqual(
    physical.find((c) => c.mac_address === MAC_B),
    {
      type: 'physical',
      mac_address: MAC_B,
      mtu: 1500,
      subnets: [
        { type: 'static', address: '192.168.7.9', netmask: '255.255.255.192', routes: [], ipv4: true },
      ],
    },
  );
  assert.deepEqual(
    config.filter((c) => c.type === 'nameserver'),
    [{ type: 'nameserver', address: '10.20.0.2' }],
  );
});

test('older and newer readers also find network_data.json in the version they pick', async () => {
  const { root } = await buildAndExtract('readers');
  const available = (await readdir(join(root, 'openstack'))).sort();
  // A reader knows a prefix of Nova's list (or versions Nova never wrote); network_data.json exists from
  // 2015-10-15 on, so every reader that knows 2015-10-15 must find it.
  const readers: [string, string[], string, boolean][] = [
    ['knows Folsom..Havana', NOVA_OPENSTACK_VERSIONS.slice(0, 3), '2013-10-17', false],
    ['knows up to Liberty', NOVA_OPENSTACK_VERSIONS.slice(0, 4), '2015-10-15', true],
    ['knows up to Newton', NOVA_OPENSTACK_VERSIONS.slice(0, 6), '2016-10-06', true],
    ['knows up to Victoria', NOVA_OPENSTACK_VERSIONS.slice(0, 9), '2020-10-14', true],
    ['knows a version newer than the drive', [...NOVA_OPENSTACK_VERSIONS, '2030-01-01'], '2025-04-04', true],
    ['knows no dated version', [], 'latest', true],
  ];
  for (const [label, known, want, hasNetworkData] of readers) {
    const version = selectVersion(available, known);
    assert.equal(version, want, label);
    assert.equal(await exists(join(root, 'openstack', version, 'network_data.json')), hasNetworkData, label);
    assert.ok(await exists(join(root, 'openstack', version, 'meta_data.json')), label);
  }
  for (const v of ['2009-04-04', 'latest']) {
    const ec2 = JSON.parse(await readFile(join(root, 'ec2', v, 'meta-data.json'), 'utf8')) as Json;
    assert.equal(ec2['instance-id'], UUID);
    assert.ok(await exists(join(root, 'ec2', v, 'user-data')));
  }
  // Rock Ridge modes let any guest user read the files.
  assert.equal((await stat(join(root, 'openstack', 'latest', 'network_data.json'))).mode & 0o444, 0o444);
});
