import assert from 'node:assert/strict';
import { chmod, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { run } from '../host/exec.js';
import { buildConfigDrive } from './iso.js';
import { configDriveFiles } from './layout.js';
import { ec2MetaDataJson, metaDataJson, networkDataJson } from './metadata.js';

let dir: string;
before(async () => {
  dir = await mkdtemp('/var/tmp/stratus-configdrive-test-');
  await chmod(dir, 0o755);
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const UUID = '6f1c2a34-5b6d-4e7f-8a9b-0c1d2e3f4a5b';
const NET_A = '11111111-2222-4333-8444-555555555555';
const NET_B = '66666666-7777-4888-8999-aaaaaaaaaaaa';

test('meta_data.json uses Nova field names', () => {
  const meta = metaDataJson({
    uuid: UUID,
    name: 'web 1',
    hostname: 'web-1',
    publicKeys: { mykey: 'ssh-ed25519 AAAA test@host' },
    projectId: 'p1',
  });
  assert.deepEqual(meta, {
    uuid: UUID,
    name: 'web 1',
    hostname: 'web-1',
    launch_index: 0,
    availability_zone: 'nova',
    project_id: 'p1',
    public_keys: { mykey: 'ssh-ed25519 AAAA test@host' },
    keys: [{ name: 'mykey', type: 'ssh', data: 'ssh-ed25519 AAAA test@host' }],
    meta: {},
    devices: [],
  });
  assert.deepEqual(ec2MetaDataJson(meta), {
    'instance-id': UUID,
    hostname: 'web-1',
    'local-hostname': 'web-1',
    'ami-launch-index': 0,
    placement: { 'availability-zone': 'nova' },
    'public-keys': { '0': { _name: '0=mykey', 'openssh-key': 'ssh-ed25519 AAAA test@host' } },
  });
});

test('network_data.json follows Nova: links, static/dhcp networks, dns services', () => {
  const data = networkDataJson([
    {
      mac: 'FA:16:3E:00:00:01',
      ip: '10.20.0.5',
      cidr: '10.20.0.0/24',
      gateway: '10.20.0.1',
      dnsNameservers: ['10.20.0.2', '9.9.9.9'],
      networkId: NET_A,
      mtu: 1450,
      portId: 'port-1',
    },
    {
      mac: 'fa:16:3e:00:00:02',
      ip: '192.168.7.9',
      cidr: '192.168.7.0/26',
      gateway: '192.168.7.1',
      dnsNameservers: ['9.9.9.9'],
      networkId: NET_B,
      mtu: 1500,
    },
    {
      mac: 'fa:16:3e:00:00:03',
      ip: '172.16.0.10',
      cidr: '172.16.0.0/16',
      gateway: null,
      dnsNameservers: [],
      networkId: NET_B,
      mtu: 1500,
      dhcp: true,
    },
  ]);
  assert.deepEqual(data.links, [
    { id: 'interface0', vif_id: 'port-1', type: 'vif', ethernet_mac_address: 'fa:16:3e:00:00:01', mtu: 1450 },
    { id: 'interface1', type: 'vif', ethernet_mac_address: 'fa:16:3e:00:00:02', mtu: 1500 },
    { id: 'interface2', type: 'vif', ethernet_mac_address: 'fa:16:3e:00:00:03', mtu: 1500 },
  ]);
  assert.deepEqual(data.networks, [
    {
      id: 'network0',
      link: 'interface0',
      type: 'ipv4',
      network_id: NET_A,
      ip_address: '10.20.0.5',
      netmask: '255.255.255.0',
      routes: [{ network: '0.0.0.0', netmask: '0.0.0.0', gateway: '10.20.0.1' }],
      services: [
        { type: 'dns', address: '10.20.0.2' },
        { type: 'dns', address: '9.9.9.9' },
      ],
    },
    {
      id: 'network1',
      link: 'interface1',
      type: 'ipv4',
      network_id: NET_B,
      ip_address: '192.168.7.9',
      netmask: '255.255.255.192',
      routes: [], // only the first NIC gets the default route
      services: [{ type: 'dns', address: '9.9.9.9' }],
    },
    { id: 'network2', link: 'interface2', type: 'ipv4_dhcp', network_id: NET_B },
  ]);
  assert.deepEqual(data.services, [
    { type: 'dns', address: '10.20.0.2' },
    { type: 'dns', address: '9.9.9.9' },
  ]);
  const nic = {
    mac: 'fa:16:3e:00:00:01',
    ip: '10.0.0.5',
    cidr: '10.0.0.0/24',
    gateway: null,
    dnsNameservers: [],
    networkId: NET_A,
    mtu: 1500,
  };
  assert.throws(() => networkDataJson([{ ...nic, ip: '10.0.1.5' }]), /not in/);
  assert.throws(() => networkDataJson([{ ...nic, mac: 'nope' }]), /MAC/);
  assert.throws(() => networkDataJson([{ ...nic, mtu: 10 }]), /mtu/);
});

test('config drive layout: every version Nova writes, each file from the version that introduced it', () => {
  const vendorData = { v: 1 };
  const files = configDriveFiles({
    metaData: { uuid: UUID },
    networkData: { links: [] },
    userData: '#!/bin/sh\n',
    vendorData,
  });
  const names = files.map(([n]) => n);
  // Nova's metadata_for_config_drive: EC2 versions first, then OpenStack versions oldest first, then latest.
  const v1 = ['meta_data.json', 'user_data'];
  const v3 = [...v1, 'vendor_data.json'];
  const v4 = [...v3, 'network_data.json'];
  const v6 = [...v4, 'vendor_data2.json'];
  const expected: [string, string[]][] = [
    ['2012-08-10', v1],
    ['2013-04-04', v1],
    ['2013-10-17', v3],
    ['2015-10-15', v4],
    ['2016-06-30', v4],
    ['2016-10-06', v6],
    ['2017-02-22', v6],
    ['2018-08-27', v6],
    ['2020-10-14', v6],
    ['2025-04-04', v6],
    ['latest', v6],
  ];
  assert.deepEqual(names, [
    'ec2/2009-04-04/user-data',
    'ec2/2009-04-04/meta-data.json',
    'ec2/latest/user-data',
    'ec2/latest/meta-data.json',
    ...expected.flatMap(([version, inVersion]) => inVersion.map((f) => `openstack/${version}/${f}`)),
  ]);
  assert.equal(new Set(names).size, names.length);
  const file = (name: string) => files.find(([n]) => n === name)?.[1] as string | undefined;
  for (const [version, inVersion] of expected) {
    if (inVersion.includes('vendor_data.json'))
      assert.deepEqual(JSON.parse(file(`openstack/${version}/vendor_data.json`)!), vendorData);
    if (inVersion.includes('network_data.json'))
      assert.deepEqual(JSON.parse(file(`openstack/${version}/network_data.json`)!), { links: [] });
    // Nova's default vendor data provider (StaticJSON) puts the static document under `static`.
    if (inVersion.includes('vendor_data2.json'))
      assert.deepEqual(JSON.parse(file(`openstack/${version}/vendor_data2.json`)!), { static: vendorData });
    assert.equal(file(`openstack/${version}/user_data`), '#!/bin/sh\n');
  }
  assert.equal(file('ec2/2009-04-04/meta-data.json'), file('ec2/latest/meta-data.json'));
  assert.equal(JSON.parse(file('ec2/latest/meta-data.json')!)['instance-id'], UUID);

  const noUser = configDriveFiles({ metaData: {}, networkData: {} }).map(([n]) => n);
  assert.ok(!noUser.some((n) => n.includes('user')));
  assert.equal(noUser.length, names.length - 2 - expected.length);
  assert.ok(
    !names.some((n) => n.endsWith('/password')),
    'Nova serves password from the metadata service only',
  );
});

test('meta_data.json of each version has the keys Nova gives that version', () => {
  const metaData = metaDataJson({
    uuid: UUID,
    name: 'web-1',
    hostname: 'web-1',
    publicKeys: { k: 'ssh-ed25519 AAAA k' },
    projectId: 'p1',
    randomSeed: 'c2VlZA==',
    adminPass: 'hunter2-not-logged',
  });
  const files = configDriveFiles({ metaData, networkData: {} });
  const keysOf = (version: string) =>
    Object.keys(
      JSON.parse(files.find(([n]) => n === `openstack/${version}/meta_data.json`)![1] as string),
    ).sort();
  const base = [
    'admin_pass',
    'availability_zone',
    'hostname',
    'keys',
    'launch_index',
    'meta',
    'name',
    'public_keys',
    'uuid',
  ];
  assert.deepEqual(keysOf('2012-08-10'), base);
  assert.deepEqual(keysOf('2013-04-04'), [...base, 'random_seed'].sort());
  assert.deepEqual(keysOf('2013-10-17'), [...base, 'random_seed'].sort());
  assert.deepEqual(keysOf('2015-10-15'), [...base, 'project_id', 'random_seed'].sort());
  for (const v of ['2016-06-30', '2018-08-27', '2025-04-04', 'latest'])
    assert.deepEqual(keysOf(v), [...base, 'devices', 'project_id', 'random_seed'].sort());
  const latest = JSON.parse(files.find(([n]) => n === 'openstack/latest/meta_data.json')![1] as string);
  assert.deepEqual(latest, metaData);
});

test('buildConfigDrive writes a config-2 ISO a guest can read', async () => {
  const iso = join(dir, 'srv', 'config.iso');
  const metaData = metaDataJson({
    uuid: UUID,
    name: 'web-1',
    hostname: 'web-1',
    publicKeys: { k: 'ssh-rsa AAA' },
  });
  const networkData = networkDataJson([
    {
      mac: 'fa:16:3e:00:00:01',
      ip: '10.20.0.5',
      cidr: '10.20.0.0/24',
      gateway: '10.20.0.1',
      dnsNameservers: [],
      networkId: NET_A,
      mtu: 1500,
    },
  ]);
  const userData = '#!/bin/sh\necho "hello <world> & ünïcode"\n';
  await buildConfigDrive(iso, { metaData, userData, networkData, vendorData: { x: 1 } });

  const { stdout: pvd } = await run('isoinfo', ['-d', '-i', iso]);
  assert.match(pvd, /^Volume id: config-2$/m);
  assert.match(pvd, /Rock Ridge signatures version/);
  assert.match(pvd, /Joliet with UCS level/);
  const { stdout: files } = await run('isoinfo', ['-R', '-f', '-i', iso]);
  for (const f of [
    '/openstack/latest/meta_data.json',
    '/openstack/latest/user_data',
    '/openstack/latest/network_data.json',
    '/openstack/latest/vendor_data.json',
    '/openstack/2012-08-10/meta_data.json',
    '/openstack/2015-10-15/network_data.json',
    '/openstack/2018-08-27/vendor_data2.json',
    '/openstack/2020-10-14/network_data.json',
    '/ec2/2009-04-04/meta-data.json',
    '/ec2/latest/meta-data.json',
  ]) {
    assert.ok(files.split('\n').includes(f), `${f} missing from ISO:\n${files}`);
  }
  const extract = async (path: string) => (await run('isoinfo', ['-R', '-x', path, '-i', iso])).stdout;
  assert.deepEqual(JSON.parse(await extract('/openstack/latest/meta_data.json')), metaData);
  assert.deepEqual(JSON.parse(await extract('/openstack/latest/network_data.json')), networkData);
  assert.deepEqual(JSON.parse(await extract('/openstack/latest/vendor_data.json')), { x: 1 });
  assert.equal(await extract('/openstack/latest/user_data'), userData);
  assert.equal(JSON.parse(await extract('/ec2/latest/meta-data.json'))['instance-id'], UUID);

  assert.equal((await stat(iso)).mode & 0o777, 0o600);
  assert.deepEqual(await readdir(join(dir, 'srv')), ['config.iso']);

  // Rebuilding replaces it; without user data there is no user_data file.
  await buildConfigDrive(iso, { metaData, networkData });
  const { stdout: files2 } = await run('isoinfo', ['-R', '-f', '-i', iso]);
  assert.ok(!files2.includes('user_data'));
  assert.deepEqual(await readdir(join(dir, 'srv')), ['config.iso']);
});

test('what cloudbase-init reads: meta_data.json keys, user data as given (#ps1_sysnative, #cloud-config, multipart), injected files', () => {
  // BaseOpenStackService: uuid (instance id), hostname, public_keys and keys (ssh), admin_pass (or
  // meta.admin_pass), meta.admin_username; get_content(name) reads openstack/content/<name>.
  const meta = metaDataJson({
    uuid: UUID,
    name: 'Win Server 1',
    hostname: 'win-server-1',
    publicKeys: { ops: 'ssh-rsa AAAAB3 ops' },
    adminPass: 'Adm1n-Pass!',
    meta: { admin_username: 'Admin' },
    launchIndex: 0,
    files: ['/etc/motd', 'C:\\ProgramData\\stratus\\note.txt'],
  });
  assert.equal(meta.uuid, UUID);
  assert.equal(meta.hostname, 'win-server-1');
  assert.equal(meta.name, 'Win Server 1');
  assert.deepEqual(meta.public_keys, { ops: 'ssh-rsa AAAAB3 ops' });
  assert.deepEqual(meta.keys, [{ name: 'ops', type: 'ssh', data: 'ssh-rsa AAAAB3 ops' }]);
  assert.equal(meta.admin_pass, 'Adm1n-Pass!');
  assert.equal(meta.launch_index, 0);
  assert.equal(meta.availability_zone, 'nova');
  assert.deepEqual(meta.meta, { admin_username: 'Admin' });
  assert.deepEqual(meta.files, [
    { path: '/etc/motd', content_path: '/content/0000' },
    { path: 'C:\\ProgramData\\stratus\\note.txt', content_path: '/content/0001' },
  ]);
  // Without injected files Nova leaves the key out.
  assert.equal('files' in metaDataJson({ uuid: UUID, name: 'n', hostname: 'n', publicKeys: {} }), false);

  const multipart = [
    'Content-Type: multipart/mixed; boundary="==B=="',
    'MIME-Version: 1.0',
    '',
    '--==B==',
    'Content-Type: text/x-shellscript; charset="us-ascii"',
    '',
    '#ps1_sysnative',
    'Write-Host hi',
    '--==B==',
    'Content-Type: text/cloud-config; charset="us-ascii"',
    '',
    '#cloud-config',
    'set_timezone: UTC',
    '--==B==--',
    '',
  ].join('\r\n');
  for (const userData of [
    '#ps1_sysnative\r\nWrite-Host "ünïcode"\r\n',
    '#cloud-config\nusers: []\n',
    multipart,
  ]) {
    const files = configDriveFiles({
      metaData: meta,
      networkData: { links: [] },
      userData,
      content: ['motd', 'note'],
    });
    const file = (n: string) => files.find(([p]) => p === n)?.[1];
    // Byte for byte, CRLF and all: cloudbase-init picks the plugin by the first line / MIME parts.
    for (const v of ['latest', '2013-04-04', '2018-08-27'])
      assert.equal(file(`openstack/${v}/user_data`), userData);
    assert.equal(file('ec2/latest/user-data'), userData);
    assert.equal(file('openstack/content/0000'), 'motd');
    assert.equal(file('openstack/content/0001'), 'note');
    // The contents sit outside the versions, once each.
    assert.equal(files.filter(([p]) => p.includes('/content/')).length, 2);
    assert.deepEqual(JSON.parse(String(file('openstack/2012-08-10/meta_data.json'))).files, meta.files);
  }
});
