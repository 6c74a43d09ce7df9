import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { run } from '../host/exec.js';
import { METADATA_NS, serverTap } from '../host/names.js';
import {
  buildDeviceXml,
  buildDomainXml,
  domainHardware,
  nvramPath,
  OVMF_CODE,
  OVMF_VARS_TEMPLATE,
  SMBIOS_SYSTEM,
} from './domain-xml.js';
import { serverIdFromXml } from './libvirt.js';
import { linuxProfile, profileFor } from './profiles/index.js';
import type { DomainSpec } from './types.js';
import { xmlEscape, xmlUnescape } from './xml.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stratus-domxml-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function spec(over: Partial<DomainSpec> = {}): DomainSpec {
  const serverId = over.serverId ?? randomUUID();
  return {
    serverId,
    name: 'web-1',
    vcpus: 2,
    memoryMiB: 512,
    virtType: 'qemu',
    machine: 'pc',
    firmware: 'bios',
    rootDisk: `/var/lib/stratus/instances/${serverId}/disk.qcow2`,
    configDrive: `/var/lib/stratus/instances/${serverId}/config.iso`,
    nics: [
      { mac: '52:54:00:12:34:56', bridge: 'brq0123456789a', tap: serverTap(serverId, 0), model: 'virtio' },
      { mac: 'fa:16:3e:00:00:01', bridge: 'brq0123456789b', tap: serverTap(serverId, 1), model: 'e1000e' },
    ],
    consoleLog: `/var/lib/stratus/instances/${serverId}/console.log`,
    ...over,
  };
}

/** Runs virt-xml-validate (libvirt's RELAX NG schema, through xmllint) on a rendered domain. */
async function validate(xml: string): Promise<void> {
  const file = join(dir, `${randomUUID()}.xml`);
  await writeFile(file, xml);
  try {
    await run('virt-xml-validate', [file, 'domain']);
  } catch (e) {
    const msg = (e as Error).message;
    if (/xmllint: not found/.test(msg)) {
      assert.fail('virt-xml-validate needs xmllint: install the Debian package libxml2-utils');
    }
    throw e;
  }
}

const cases: [string, Partial<DomainSpec>][] = [
  ['bios/pc under TCG', {}],
  ['bios/pc under KVM', { virtType: 'kvm' }],
  ['uefi/q35 under TCG', { firmware: 'uefi', machine: 'q35', nvram: '/var/lib/stratus/x/OVMF_VARS.fd' }],
  [
    'uefi/q35 under KVM, default nvram, no config drive',
    { firmware: 'uefi', machine: 'q35', virtType: 'kvm', configDrive: null },
  ],
  ['uefi/q35, no NICs', { firmware: 'uefi', machine: 'q35', nics: [] }],
  ['an ISO as CD-ROM (ide on pc), VNC on a socket', { cdrom: '/var/lib/stratus/images/iso-1', vnc: true }],
  [
    'an install: installer, driver and answer CD-ROMs (ide on pc)',
    {
      cdrom: '/var/lib/stratus/images/iso-1',
      extraCdroms: ['/var/lib/stratus/images/iso-2', '/var/lib/stratus/i/answer.iso'],
    },
  ],
  [
    'an install on q35 (sata CD-ROMs)',
    {
      firmware: 'uefi',
      machine: 'q35',
      cdrom: '/var/lib/stratus/images/iso-1',
      extraCdroms: ['/var/lib/stratus/images/iso-2', '/var/lib/stratus/i/answer.iso'],
    },
  ],
  [
    'a NIC on an Open vSwitch bridge',
    {
      nics: [
        {
          mac: '52:54:00:12:34:57',
          bridge: 'br-int',
          virtualport: 'openvswitch',
          tap: 'tapovs0',
        },
        {
          mac: '52:54:00:12:34:58',
          bridge: 'br-int',
          virtualport: 'openvswitch',
          softwareChecksums: true,
          tap: 'tapovs1',
        },
      ],
    },
  ],
];

for (const [label, over] of cases) {
  test(`domain XML validates against libvirt's schema: ${label}`, async () => {
    const s = spec(over);
    const xml = buildDomainXml(s);
    const hw = domainHardware(s);
    await validate(xml);
    assert.match(xml, new RegExp(`<domain type="${s.virtType}">`));
    assert.match(xml, new RegExp(`<type arch="x86_64" machine="${hw.machine}">hvm</type>`));
    assert.match(xml, new RegExp(`<name>stratus-${s.serverId}</name>`));
    assert.match(xml, new RegExp(`<uuid>${s.serverId}</uuid>`));
    assert.equal(serverIdFromXml(xml), s.serverId);
    assert.match(xml, /<on_poweroff>destroy<\/on_poweroff>/);
    assert.match(xml, /<on_reboot>restart<\/on_reboot>/);
    assert.match(xml, /<clock offset="utc"\/>/);
    assert.match(xml, new RegExp(`<log file="${s.consoleLog}" append="on"/>`));
    assert.match(xml, /<target dev="vda" bus="virtio"\/>/);
    assert.doesNotMatch(xml, /hyperv/i);
    assert.match(xml, /<smbios mode="sysinfo"\/>\s*<\/os>/);
    assert.match(xml, new RegExp(`<entry name="serial">${s.serverId}</entry>`));
    if (s.virtType === 'kvm') assert.match(xml, /<cpu mode="host-passthrough"/);
    else assert.doesNotMatch(xml, /<cpu|host-passthrough|host-model/);
    if (s.firmware === 'uefi') {
      assert.match(xml, new RegExp(`<loader readonly="yes" secure="no" type="pflash">${OVMF_CODE}</loader>`));
      assert.match(xml, new RegExp(`<nvram template="${OVMF_VARS_TEMPLATE}">${nvramPath(s)}</nvram>`));
      assert.equal(/<smm state="on"\/>/.test(xml), hw.machine === 'q35');
    } else {
      assert.doesNotMatch(xml, /<loader|<nvram|<smm/);
    }
    if (s.configDrive) {
      assert.match(xml, /<target dev="vdb" bus="virtio"\/>\s*<readonly\/>/);
    } else {
      assert.doesNotMatch(xml, /vdb/);
    }
    assert.equal((xml.match(/<interface type="bridge">/g) ?? []).length, s.nics.length);
    for (const nic of s.nics) {
      assert.match(xml, new RegExp(`<mac address="${nic.mac}"/>\\s*<source bridge="${nic.bridge}"/>`));
      assert.match(
        xml,
        new RegExp(`<target dev="${nic.tap}"/>\\s*<model type="${nic.model ?? hw.nicModel}"/>`),
      );
      assert.equal(xml.includes(`<virtualport type="openvswitch"/>`), nic.virtualport === 'openvswitch');
      // Offloads off only where the switch loses checksum metadata, and only on virtio NICs.
      const offloadsOff = new RegExp(
        `<target dev="${nic.tap}"/>\\s*<model type="virtio"/>\\s*<driver>\\s*<host csum="off" gso="off"[^>]*/>\\s*<guest csum="off"`,
      );
      assert.equal(
        offloadsOff.test(xml),
        nic.softwareChecksums === true && (nic.model ?? hw.nicModel) === 'virtio',
      );
    }
  });
}

test('default nvram path is per domain under libvirt nvram dir', () => {
  const id = randomUUID();
  assert.equal(nvramPath({ serverId: id }), `/var/lib/libvirt/qemu/nvram/stratus-${id}_VARS.fd`);
  assert.equal(nvramPath({ serverId: id, nvram: '/x/v.fd' }), '/x/v.fd');
});

test('names with markup are escaped and cannot inject elements', async () => {
  const name = `a<&'"b</title><devices><disk type='file'/>`;
  const s = spec({ name });
  const xml = buildDomainXml(s);
  await validate(xml);
  assert.match(
    xml,
    /<title>a&lt;&amp;&apos;&quot;b&lt;\/title&gt;&lt;devices&gt;&lt;disk type=&apos;file&apos;\/&gt;<\/title>/,
  );
  assert.equal((xml.match(/<devices>/g) ?? []).length, 1);
  assert.equal((xml.match(/<disk /g) ?? []).length, 2);
  assert.equal(xmlUnescape(xmlEscape(name)), name);
  assert.throws(() => buildDomainXml(spec({ name: 'bad\u0001name' })), /XML cannot carry/);
});

test('metadata carries the server id in the Stratus namespace', () => {
  const s = spec();
  const xml = buildDomainXml(s);
  assert.match(xml, new RegExp(`<stratus:instance xmlns:stratus="${METADATA_NS}">`));
  assert.match(xml, new RegExp(`<stratus:id>${s.serverId}</stratus:id>`));
  // libvirt may rebind the namespace to another prefix; the reader follows the binding.
  const other = xml.replace(/stratus:/g, 'x:').replace('xmlns:stratus=', 'xmlns:x=');
  assert.equal(serverIdFromXml(other), s.serverId);
  assert.equal(serverIdFromXml(xml.replace(METADATA_NS, 'https://example.invalid/ns')), null);
});

test('invalid specs are refused', () => {
  const id = randomUUID();
  const bad: [Partial<DomainSpec>, RegExp][] = [
    [{ serverId: 'Not-A-UUID' }, /invalid resource id/],
    [{ serverId: id, rootDisk: 'relative/disk.qcow2' }, /rootDisk must be an absolute path/],
    [{ serverId: id, consoleLog: '/var/lib/../../etc/x' }, /consoleLog/],
    [
      { serverId: id, nics: [{ mac: '01:00:5e:00:00:01', bridge: 'br0', tap: 'tapx', model: 'virtio' }] },
      /unicast/,
    ],
    [
      { serverId: id, nics: [{ mac: '52:54:00:00:00:01', bridge: 'br 0', tap: 'tapx', model: 'virtio' }] },
      /bridge/,
    ],
    [
      { serverId: id, nics: [{ mac: '52:54:00:00:00:01', bridge: 'br0', tap: 'vnet0', model: 'virtio' }] },
      /libvirt/,
    ],
  ];
  for (const [over, re] of bad) assert.throws(() => buildDomainXml(spec(over)), re);
});

test('SMBIOS names the platform as Nova does, and libvirt hands it to QEMU as the system table', async () => {
  assert.deepEqual(SMBIOS_SYSTEM, {
    manufacturer: 'OpenStack Foundation',
    product: 'OpenStack Nova',
    family: 'Virtual Machine',
  });
  const s = spec({ name: 'smbios-1' });
  const xml = buildDomainXml(s);
  await validate(xml);
  const sysinfo = /<sysinfo type="smbios">\s*<system>([\s\S]*?)<\/system>\s*<\/sysinfo>/.exec(xml);
  assert.ok(sysinfo, `no <sysinfo type="smbios"><system> in:\n${xml}`);
  const entries = [...(sysinfo[1] ?? '').matchAll(/<entry name="([a-z]+)">([^<]*)<\/entry>/g)].map((m) => [
    m[1],
    m[2],
  ]);
  assert.deepEqual(Object.fromEntries(entries), {
    manufacturer: 'OpenStack Foundation',
    product: 'OpenStack Nova',
    serial: s.serverId,
    uuid: s.serverId,
    family: 'Virtual Machine',
  });
  assert.match(xml, /<os>[\s\S]*<smbios mode="sysinfo"\/>[\s\S]*<\/os>/);

  // What the guest sees is QEMU's SMBIOS type 1 table (its /sys/class/dmi/id/product_name); libvirt's own
  // translation of the definition shows that table without defining or starting anything.
  const file = join(dir, `${s.serverId}.xml`);
  await writeFile(file, xml);
  const { stdout } = await run('virsh', ['-c', 'qemu:///system', 'domxml-to-native', 'qemu-argv', file]);
  const smbios = /-smbios '?(type=1,[^'\n]*)'?/.exec(stdout)?.[1];
  assert.ok(smbios, `no -smbios type=1 in QEMU's arguments:\n${stdout}`);
  assert.deepEqual(Object.fromEntries(smbios.split(',').map((kv) => kv.split('=') as [string, string])), {
    type: '1',
    manufacturer: 'OpenStack Foundation',
    product: 'OpenStack Nova',
    serial: s.serverId,
    uuid: s.serverId,
    family: 'Virtual Machine',
  });
});

test('the Linux profile decides the hardware: virtio, no video, UTC; UEFI on q35 with SMM, never a silent machine change', () => {
  assert.equal(profileFor('linux'), linuxProfile);
  assert.deepEqual(linuxProfile.hardware({ machine: 'pc', firmware: 'bios', virtType: 'qemu' }), {
    machine: 'pc',
    uefi: null,
    diskBus: 'virtio',
    nicModel: 'virtio',
    video: null,
    clock: 'utc',
    timers: [],
    tpm: false,
    hyperv: false,
    tablet: false,
  });
  const uefi = linuxProfile.hardware({ machine: 'q35', firmware: 'uefi', virtType: 'kvm' });
  assert.equal(uefi.machine, 'q35');
  // The machine is what the plan showed, never changed here: UEFI on pc is refused (the model's check
  // refuses it at plan time already).
  assert.throws(() => linuxProfile.hardware({ machine: 'pc', firmware: 'uefi', virtType: 'kvm' }), /q35/);
  assert.deepEqual(uefi.uefi, {
    loader: OVMF_CODE,
    nvramTemplate: OVMF_VARS_TEMPLATE,
    secureBoot: false,
    smm: true,
  });
  // A TPM only when asked; Secure Boot needs UEFI.
  assert.equal(
    linuxProfile.hardware({ machine: 'pc', firmware: 'bios', virtType: 'qemu', tpm: true }).tpm,
    true,
  );
  assert.throws(
    () => linuxProfile.hardware({ machine: 'pc', firmware: 'bios', virtType: 'qemu', secureBoot: true }),
    /Secure Boot needs firmware uefi/,
  );
});

test('device XML for attach/detach: a disk and an Open vSwitch NIC, as the domain definition renders them', () => {
  assert.equal(
    buildDeviceXml({
      kind: 'disk',
      path: '/var/lib/stratus/volumes/v1.qcow2',
      format: 'qcow2',
      target: 'vdc',
      bus: 'virtio',
    }),
    [
      '<disk type="file" device="disk">',
      '  <driver name="qemu" type="qcow2" discard="unmap"/>',
      '  <source file="/var/lib/stratus/volumes/v1.qcow2"/>',
      '  <target dev="vdc" bus="virtio"/>',
      '</disk>',
      '',
    ].join('\n'),
  );
  assert.equal(
    buildDeviceXml({
      kind: 'disk',
      path: '/x/seed.iso',
      format: 'raw',
      target: 'sdb',
      bus: 'sata',
      readonly: true,
    }),
    [
      '<disk type="file" device="disk">',
      '  <driver name="qemu" type="raw"/>',
      '  <source file="/x/seed.iso"/>',
      '  <target dev="sdb" bus="sata"/>',
      '  <readonly/>',
      '</disk>',
      '',
    ].join('\n'),
  );
  const nic = buildDeviceXml({
    kind: 'interface',
    mac: 'fa:16:3e:00:00:02',
    bridge: 'br-int',
    virtualport: 'openvswitch',
    tap: 'tapabc0',
    model: 'virtio',
  });
  assert.equal(
    nic,
    [
      '<interface type="bridge">',
      '  <mac address="fa:16:3e:00:00:02"/>',
      '  <source bridge="br-int"/>',
      '  <virtualport type="openvswitch"/>',
      '  <target dev="tapabc0"/>',
      '  <model type="virtio"/>',
      '</interface>',
      '',
    ].join('\n'),
  );
  // The same lines sit in a full definition.
  const s = spec({
    nics: [
      {
        mac: 'fa:16:3e:00:00:02',
        bridge: 'br-int',
        virtualport: 'openvswitch',
        tap: 'tapabc0',
        model: 'virtio',
      },
    ],
  });
  const full = buildDomainXml(s).replace(/^ +/gm, '');
  assert.ok(full.includes(nic.replace(/^ +/gm, '')));
  assert.throws(
    () => buildDeviceXml({ kind: 'disk', path: 'rel.qcow2', format: 'qcow2', target: 'vdc', bus: 'virtio' }),
    /absolute/,
  );
  assert.throws(
    () =>
      buildDeviceXml({ kind: 'disk', path: '/x.qcow2', format: 'qcow2', target: 'vdc/../x', bus: 'virtio' }),
    /device name/,
  );
  assert.throws(
    () =>
      buildDeviceXml({
        kind: 'interface',
        mac: '01:00:5e:00:00:01',
        bridge: 'br0',
        tap: 'tapx',
        model: 'virtio',
      }),
    /unicast/,
  );
});

test('image hardware and consoles in the XML: CD-ROM boot first, VNC on a unix socket, hw_* overrides', async () => {
  const xml = buildDomainXml(
    spec({
      machine: 'q35',
      cdrom: '/var/lib/stratus/images/iso-1',
      vnc: true,
      hardware: { diskBus: 'sata', cdromBus: 'sata', nicModel: 'e1000e', video: 'virtio', guestAgent: true },
      nics: [{ mac: '52:54:00:12:34:56', bridge: 'brq0123456789a', tap: 'tap-x0' }],
    }),
  );
  // The ISO boots first, then the root disk, by per-device boot order (no <os><boot>).
  assert.doesNotMatch(xml, /<boot dev=/);
  assert.match(
    xml,
    /<disk type="file" device="cdrom">[\s\S]*?<source file="\/var\/lib\/stratus\/images\/iso-1"\/>[\s\S]*?<target dev="sdz" bus="sata"\/>\s*<boot order="1"\/>\s*<readonly\/>/,
  );
  assert.match(xml, /<target dev="sda" bus="sata"\/>\s*<boot order="2"\/>/);
  assert.match(xml, /<target dev="sda" bus="sata"\/>/);
  assert.match(xml, /<graphics type="vnc">\s*<listen type="socket"\/>/);
  assert.match(xml, /<model type="virtio"\/>\s*<\/video>/);
  assert.match(xml, /<model type="e1000e"\/>/);
  assert.match(xml, /name="org.qemu.guest_agent.0"/);
  await validate(xml);
  const scsi = buildDomainXml(
    spec({ machine: 'q35', vnc: true, hardware: { diskBus: 'scsi', nicModel: 'e1000' } }),
  );
  assert.match(scsi, /<controller type="scsi" model="virtio-scsi"\/>/);
  await validate(scsi);
  // No VNC without a video device; none of it by default.
  assert.doesNotMatch(buildDomainXml(spec({ vnc: true, hardware: { video: 'none' } })), /graphics|<video>/);
  assert.doesNotMatch(buildDomainXml(spec()), /graphics|<video>|cdrom/);
  // IDE disks exist on pc only.
  assert.throws(
    () => buildDomainXml(spec({ machine: 'q35', hardware: { diskBus: 'ide' } })),
    /ide needs machine pc/,
  );
});

test("attached volumes stay in the definition, with the volume's serial and a user alias; bad ones are refused", async () => {
  const vol = randomUUID();
  const disk = {
    kind: 'disk' as const,
    path: `/var/lib/stratus/volumes/${vol}.qcow2`,
    format: 'qcow2' as const,
    target: 'vdc',
    bus: 'virtio' as const,
    serial: vol.slice(0, 20),
    alias: `ua-${vol}`,
  };
  const xml = buildDomainXml(spec({ volumes: [disk] }));
  await validate(xml);
  assert.ok(xml.includes(`<source file="${disk.path}"/>`));
  assert.ok(xml.includes(`<serial>${vol.slice(0, 20)}</serial>`));
  assert.ok(xml.includes(`<alias name="ua-${vol}"/>`));
  // The hot-plugged device is the one the definition holds, line for line.
  const device = buildDeviceXml(disk)
    .trimEnd()
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');
  assert.ok(xml.includes(device), `definition holds\n${device}`);
  assert.throws(() => buildDeviceXml({ ...disk, serial: 'a'.repeat(21) }), /serial/);
  assert.throws(() => buildDeviceXml({ ...disk, alias: 'virtio-disk2' }), /alias/);
  assert.throws(() => buildDomainXml(spec({ volumes: [{ ...disk, target: 'vd1' }] })), /target/);
});

test('an install boots its installer (boot order 1, the root disk 2); its other media and a config drive do not boot', () => {
  const cds = (x: string) =>
    [
      ...x.matchAll(
        /<disk type="file" device="cdrom">[\s\S]*?<source file="([^"]+)"\/>\s*<target dev="([^"]+)"[^>]*\/>\s*(<boot order="(\d)"\/>)?/g,
      ),
    ].map((m) => [m[1]!, m[4] ?? '-'] as const);
  const media = { cdrom: '/i/installer.iso', extraCdroms: ['/i/drivers.iso', '/i/answer.iso'] };
  // BIOS with virtio disks (the config drive a virtio disk), and UEFI on SATA (the config drive a CD-ROM).
  for (const extra of [{}, { firmware: 'uefi', machine: 'q35', hardware: { diskBus: 'sata' } }] as const) {
    const xml = buildDomainXml(spec({ ...media, ...extra }));
    const found = cds(xml).filter(([p]) => p.startsWith('/i/'));
    assert.deepEqual(found, [
      ['/i/installer.iso', '1'],
      ['/i/drivers.iso', '-'],
      ['/i/answer.iso', '-'],
    ]);
    assert.equal((xml.match(/<boot order=/g) ?? []).length, 2, xml);
    assert.doesNotMatch(xml, /<boot dev=/);
  }
  assert.throws(
    () => buildDomainXml(spec({ hardware: { diskBus: 'ide' }, ...media })),
    /3 CD-ROMs do not fit on bus ide/,
  );
});
