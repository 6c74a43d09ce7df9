import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type ConfigDriveContent,
  configDriveFiles,
  metaDataJson,
  networkDataJson,
} from '../configdrive/index.js';
import { MetadataTree } from './documents.js';

const content: ConfigDriveContent = {
  metaData: metaDataJson({
    uuid: '0f6e1f5e-6a5c-4e2c-9d7b-6d9f1c2b3a41',
    name: 'web',
    hostname: 'web-1',
    publicKeys: { deploy: 'ssh-ed25519 AAAAC3 deploy' },
    adminPass: 'sEcret-pass-1',
  }),
  userData: '#!/bin/sh\necho hello\n',
  networkData: networkDataJson([
    {
      mac: 'fa:16:3e:00:00:01',
      ip: '10.1.0.10',
      cidr: '10.1.0.0/24',
      gateway: '10.1.0.1',
      dnsNameservers: [],
      networkId: '11111111-2222-4333-8444-555555555555',
      mtu: 1500,
    },
  ]),
};
const tree = new MetadataTree(content);
const body = (path: string) => {
  const r = tree.get(path);
  assert.equal(r.status, 200, `${path} answered ${r.status}`);
  return Buffer.from(r.body).toString('utf8');
};

test("OpenStack: /openstack lists the versions cloud-init chooses from; each file is the config drive's, without admin_pass", () => {
  const versions = body('/openstack').trim().split('\n');
  // The versions the issue names (cloud-init 22.4 picks the newest it knows: 2018-08-27).
  for (const v of ['latest', '2012-08-10', '2013-04-04', '2015-10-15', '2016-06-30', '2018-08-27'])
    assert.ok(versions.includes(v), `${v} is listed`);
  assert.equal(body('/openstack/'), body('/openstack'));
  for (const v of versions)
    for (const f of ['meta_data.json', 'user_data', 'network_data.json', 'vendor_data.json']) {
      const onDrive = configDriveFiles(content).find(([p]) => p === `openstack/${v}/${f}`);
      const r = tree.get(`/openstack/${v}/${f}`);
      if (!onDrive) {
        assert.equal(r.status, 404, `${v}/${f} is on the service only if it is on the drive`);
        continue;
      }
      if (f === 'meta_data.json') {
        const served = JSON.parse(Buffer.from(r.body).toString('utf8'));
        const { admin_pass: _gone, ...drive } = JSON.parse(Buffer.from(onDrive[1]).toString('utf8'));
        assert.deepEqual(served, drive, `${v}/${f}`);
        assert.equal(served.admin_pass, undefined, 'the admin password is not served');
        assert.equal(r.contentType, 'application/json');
      } else assert.equal(Buffer.from(r.body).toString('utf8'), Buffer.from(onDrive[1]).toString('utf8'));
    }
  assert.equal(JSON.parse(body('/openstack/2018-08-27/meta_data.json')).hostname, 'web-1');
  assert.equal(body('/openstack/latest/user_data'), '#!/bin/sh\necho hello\n');
  assert.deepEqual(body('/openstack/latest').trim().split('\n').sort(), [
    'meta_data.json',
    'network_data.json',
    'password',
    'user_data',
    'vendor_data.json',
    'vendor_data2.json',
  ]);
  // The password path came with 2013-04-04 (Nova's GRIZZLY): listed from there on, not before.
  assert.deepEqual(body('/openstack/2012-08-10').trim().split('\n'), ['meta_data.json', 'user_data']);
  assert.deepEqual(body('/openstack/2013-04-04').trim().split('\n'), [
    'meta_data.json',
    'password',
    'user_data',
  ]);
});

test('EC2: versions, meta-data walked as cloud-init materializes it, user-data', () => {
  assert.deepEqual(body('/').trim().split('\n'), ['2009-04-04', 'latest']);
  assert.equal(body('/latest'), 'meta-data/\nuser-data\n');
  const keys = body('/latest/meta-data/').split('\n');
  for (const k of ['instance-id', 'hostname', 'local-hostname', 'placement/', 'public-keys/'])
    assert.ok(keys.includes(k), `meta-data lists ${k}: ${keys}`);
  assert.equal(body('/latest/meta-data/instance-id'), '0f6e1f5e-6a5c-4e2c-9d7b-6d9f1c2b3a41');
  assert.equal(body('/2009-04-04/meta-data/hostname'), 'web-1');
  assert.equal(body('/latest/meta-data/placement/availability-zone'), 'nova');
  // Nova's listing of keys: `<index>=<name>`, then `<index>/openssh-key`.
  assert.equal(body('/latest/meta-data/public-keys/'), '0=deploy');
  assert.equal(body('/latest/meta-data/public-keys/0/'), 'openssh-key');
  assert.equal(body('/latest/meta-data/public-keys/0/openssh-key'), 'ssh-ed25519 AAAAC3 deploy');
  assert.equal(body('/latest/user-data'), '#!/bin/sh\necho hello\n');
});

test('paths outside the tree are 404; without user data there is none', () => {
  for (const p of [
    '/openstack/1999-01-01/meta_data.json',
    // Listed, but answered by the service (it holds the state): the tree alone has no password.
    '/openstack/latest/password',
    '/openstack/latest/meta_data.json/x',
    '/openstack/latest/../latest/meta_data.json',
    '/latest/meta-data/constructor',
    '/latest/meta-data/public-keys/0/_name',
    '/latest/meta-data/hostname/x',
    '/1.0/meta-data/hostname',
    '/latest/other',
  ])
    assert.equal(tree.get(p).status, 404, p);
  const bare = new MetadataTree({ ...content, userData: undefined });
  assert.equal(bare.get('/openstack/latest/user_data').status, 404);
  assert.equal(bare.get('/latest/user-data').status, 404);
  assert.equal(Buffer.from(bare.get('/latest').body).toString('utf8'), 'meta-data/\n');
});

test('injected files: served at the content_path meta_data.json gives; the admin password never', () => {
  const withFiles = new MetadataTree({
    ...content,
    metaData: metaDataJson({
      uuid: '0f6e1f5e-6a5c-4e2c-9d7b-6d9f1c2b3a41',
      name: 'web',
      hostname: 'web-1',
      publicKeys: {},
      adminPass: 'sEcret-pass-1',
      files: ['/etc/motd'],
    }),
    content: ['hello from personality\n'],
  });
  const meta = JSON.parse(
    Buffer.from(withFiles.get('/openstack/latest/meta_data.json').body).toString('utf8'),
  );
  assert.deepEqual(meta.files, [{ path: '/etc/motd', content_path: '/content/0000' }]);
  assert.equal(meta.admin_pass, undefined);
  const r = withFiles.get(`/openstack${meta.files[0].content_path}`);
  assert.equal(r.status, 200);
  assert.equal(Buffer.from(r.body).toString('utf8'), 'hello from personality\n');
  for (const p of ['/openstack/content/0001', '/openstack/content', '/openstack/content/0000/x'])
    assert.equal(withFiles.get(p).status, 404, p);
  // The version listing is unchanged: content is no version.
  assert.ok(!Buffer.from(withFiles.get('/openstack').body).toString('utf8').includes('content'));
});
