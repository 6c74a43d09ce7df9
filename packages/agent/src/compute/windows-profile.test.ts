// The Windows guest profile (issue 13, Deliver 1): every combination of Secure Boot, TPM, virtio vs
// SATA/e1000e and kvm vs qemu renders a domain that libvirt's own schema accepts (virt-xml-validate),
// with the Hyper-V enlightenments under kvm and never under qemu (TCG). Pure: no libvirt daemon needed.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { run } from '../host/exec.js';
import { serverTap } from '../host/names.js';
import { hardwareOf } from '../services/hardware.js';
import type { ImageRecord, ServerRecord } from '../services/records.js';
import { buildDomainXml, domainHardware, nvramPath, tpmStatePath } from './domain-xml.js';
import {
  OVMF_CODE,
  OVMF_CODE_SECURE,
  OVMF_VARS_MS_TEMPLATE,
  OVMF_VARS_TEMPLATE,
  profileFor,
  windowsProfile,
} from './profiles/index.js';
import type { DomainSpec } from './types.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stratus-winxml-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function spec(over: Partial<DomainSpec> = {}): DomainSpec {
  const serverId = over.serverId ?? randomUUID();
  return {
    serverId,
    name: 'win-1',
    vcpus: 2,
    memoryMiB: 4096,
    virtType: 'qemu',
    osType: 'windows',
    machine: 'q35',
    firmware: 'uefi',
    rootDisk: `/var/lib/stratus/instances/${serverId}/disk.qcow2`,
    configDrive: `/var/lib/stratus/instances/${serverId}/config.iso`,
    nics: [{ mac: 'fa:16:3e:00:00:01', bridge: 'brq0123456789a', tap: serverTap(serverId, 0) }],
    consoleLog: `/var/lib/stratus/instances/${serverId}/console.log`,
    vnc: true,
    ...over,
  };
}

async function validate(xml: string): Promise<void> {
  const file = join(dir, `${randomUUID()}.xml`);
  await writeFile(file, xml);
  await run('virt-xml-validate', [file, 'domain']);
}

const HYPERV =
  /<hyperv mode="custom">[\s\S]*<relaxed state="on"\/>[\s\S]*<spinlocks state="on" retries="8191"\/>[\s\S]*<\/hyperv>/;

for (const virtType of ['qemu', 'kvm'] as const)
  for (const secureBoot of [false, true])
    for (const tpm of [false, true])
      for (const bus of ['virtio', 'sata'] as const) {
        const label = `${virtType}, secureBoot ${secureBoot ? 'on' : 'off'}, tpm ${tpm ? 'on' : 'off'}, ${bus === 'sata' ? 'SATA + e1000e' : 'virtio'}`;
        test(`Windows domain XML validates against libvirt's schema: ${label}`, async () => {
          const s = spec({
            virtType,
            secureBoot,
            tpm,
            ...(bus === 'sata' ? { hardware: { diskBus: 'sata', nicModel: 'e1000e' } } : {}),
          });
          const xml = buildDomainXml(s);
          await validate(xml);
          assert.match(xml, new RegExp(`<domain type="${virtType}">`));
          assert.match(xml, /<type arch="x86_64" machine="q35">hvm<\/type>/);
          // UEFI: the Secure Boot build with Microsoft's keys, or plain OVMF; SMM on either way.
          const [code, vars] = secureBoot
            ? [OVMF_CODE_SECURE, OVMF_VARS_MS_TEMPLATE]
            : [OVMF_CODE, OVMF_VARS_TEMPLATE];
          assert.match(
            xml,
            new RegExp(
              `<loader readonly="yes" secure="${secureBoot ? 'yes' : 'no'}" type="pflash">${code}</loader>`,
            ),
          );
          assert.match(xml, new RegExp(`<nvram template="${vars}">${nvramPath(s)}</nvram>`));
          assert.match(xml, /<smm state="on"\/>/);
          // TPM 2.0 through swtpm, or none.
          assert.equal(
            /<tpm model="tpm-crb">\s*<backend type="emulator" version="2.0"\/>\s*<\/tpm>/.test(xml),
            tpm,
          );
          // Windows' clock: local time, RTC catch-up, PIT delay, no HPET; hypervclock with Hyper-V only.
          assert.match(
            xml,
            /<clock offset="localtime">\s*<timer name="rtc" tickpolicy="catchup"\/>\s*<timer name="pit" tickpolicy="delay"\/>\s*<timer name="hpet" present="no"\/>/,
          );
          assert.equal(HYPERV.test(xml), virtType === 'kvm');
          assert.equal(/hypervclock/.test(xml), virtType === 'kvm');
          if (virtType === 'qemu') assert.doesNotMatch(xml, /hyperv/i);
          // VNC with a VGA card and a USB tablet.
          assert.match(xml, /<graphics type="vnc">/);
          assert.match(xml, /<video>\s*<model type="vga"\/>/);
          assert.match(xml, /<input type="tablet" bus="usb"\/>/);
          // Disks and NIC: virtio, or SATA and e1000e for images without virtio drivers.
          // The config drive: a read-only virtio disk, or a SATA CD-ROM (QEMU has no read-only SATA disks).
          const [root, drive] = bus === 'sata' ? ['sda', 'sdb'] : ['vda', 'vdb'];
          assert.match(xml, new RegExp(`<target dev="${root}" bus="${bus}"/>`));
          assert.match(
            xml,
            new RegExp(
              `<disk type="file" device="${bus === 'sata' ? 'cdrom' : 'disk'}">\\s*<driver[^>]*/>\\s*<source file="${s.configDrive}"/>\\s*<target dev="${drive}" bus="${bus}"/>\\s*<readonly/>`,
            ),
          );
          assert.match(xml, new RegExp(`<model type="${bus === 'sata' ? 'e1000e' : 'virtio'}"/>`));
        });
      }

test('Hyper-V: the profile asks for it, the builder renders it for kvm only; Linux never gets it', () => {
  const hw = windowsProfile.hardware({ machine: 'q35', firmware: 'uefi', virtType: 'qemu' });
  assert.equal(hw.hyperv, true);
  assert.equal(profileFor('windows'), windowsProfile);
  const kvm = buildDomainXml(spec({ virtType: 'kvm' }));
  const tcg = buildDomainXml(spec({ virtType: 'qemu' }));
  assert.match(kvm, HYPERV);
  assert.match(kvm, /<timer name="hypervclock" present="yes"\/>/);
  assert.doesNotMatch(tcg, /hyperv/i);
  const linux = buildDomainXml(spec({ virtType: 'kvm', osType: 'linux', vnc: false }));
  assert.doesNotMatch(linux, /hyperv|localtime|<tpm|tablet/i);
});

test('Windows defaults: UEFI on q35, a TPM, no Secure Boot; BIOS, pc and Secure Boot without UEFI are refused', () => {
  const hw = windowsProfile.hardware({ machine: 'q35', firmware: 'uefi', virtType: 'qemu' });
  assert.equal(hw.tpm, true);
  assert.equal(hw.uefi?.secureBoot, false);
  assert.equal(hw.clock, 'localtime');
  assert.equal(
    windowsProfile.hardware({ machine: 'q35', firmware: 'uefi', virtType: 'qemu', tpm: false }).tpm,
    false,
  );
  assert.throws(() => windowsProfile.hardware({ machine: 'pc', firmware: 'uefi', virtType: 'qemu' }), /q35/);
  // BIOS Windows (older images) is allowed on q35: no loader, no Secure Boot.
  assert.equal(windowsProfile.hardware({ machine: 'q35', firmware: 'bios', virtType: 'qemu' }).uefi, null);
  assert.throws(
    () => windowsProfile.hardware({ machine: 'q35', firmware: 'bios', virtType: 'qemu', secureBoot: true }),
    /Secure Boot needs firmware uefi/,
  );
  assert.equal(
    domainHardware(spec({ hardware: { video: 'qxl' } })).video,
    'vga',
    'video override is applied at render',
  );
  assert.match(buildDomainXml(spec({ hardware: { video: 'qxl' } })), /<model type="qxl"\/>/);
});

test('extra CD-ROMs (a driver ISO) follow the boot CD-ROM on its bus; paths are checked', async () => {
  const s = spec({
    cdrom: '/var/lib/stratus/images/win.iso',
    extraCdroms: ['/var/lib/stratus/images/virtio-win.iso'],
    hardware: { diskBus: 'sata', nicModel: 'e1000e' },
  });
  const xml = buildDomainXml(s);
  await validate(xml);
  // The installer boots first (per-device boot order), not the config drive, a CD-ROM too on SATA.
  assert.doesNotMatch(xml, /<boot dev=/);
  assert.match(
    xml,
    /<source file="\/var\/lib\/stratus\/images\/win.iso"\/>\s*<target dev="sdv" bus="sata"\/>\s*<boot order="1"\/>[\s\S]*<source file="\/var\/lib\/stratus\/images\/virtio-win.iso"\/>\s*<target dev="sdw" bus="sata"\/>\s*<readonly\/>/,
  );
  assert.match(xml, /<target dev="sda" bus="sata"\/>\s*<boot order="2"\/>/);
  assert.equal((xml.match(/<boot order=/g) ?? []).length, 2);
  // The installer, the drivers, and the config drive (a CD-ROM on SATA).
  assert.equal((xml.match(/device="cdrom"/g) ?? []).length, 3);
  // Without a boot CD-ROM, an extra one does not become a boot device.
  const only = buildDomainXml(spec({ extraCdroms: ['/isos/drivers.iso'] }));
  await validate(only);
  assert.doesNotMatch(only, /<boot order=/);
  assert.match(only, /<boot dev="hd"\/>/);
  assert.throws(() => buildDomainXml(spec({ extraCdroms: ['relative.iso'] })), /extraCdroms\[0\]/);
  assert.throws(
    () => buildDomainXml(spec({ extraCdroms: ['/a', '/b', '/c', '/d', '/e', '/f'] })),
    /do not fit/,
  );
});

test('the TPM state folder is per server, under libvirt swtpm storage', () => {
  const id = randomUUID();
  assert.equal(tpmStatePath(id), `/var/lib/libvirt/swtpm/${id}`);
  assert.throws(() => tpmStatePath('../x'), /invalid resource id/);
});

/** A server record's spec and an image record with `properties`, as the agent keeps them. */
function records(
  server: Partial<ServerRecord['spec']>,
  properties: Record<string, string>,
): [ServerRecord['spec'], ImageRecord] {
  const s = {
    image: 'i',
    networks: [],
    configDrive: true,
    powerState: 'running',
    metadata: {},
    publicKeys: {},
    ...server,
  };
  const image = { id: 'i', spec: { source: '/x', properties } } as unknown as ImageRecord;
  return [s as ServerRecord['spec'], image];
}

test('firmware precedence: the server field wins over the image hw_firmware_type; left out, the image decides, then the OS', () => {
  const fw = (server: Partial<ServerRecord['spec']>, props: Record<string, string>) => {
    const h = hardwareOf(...records(server, props));
    return `${h.firmware}/${h.machine}`;
  };
  // The server says bios: bios, even where the image says uefi (issue 12's leftover).
  assert.equal(fw({ firmware: 'bios' }, { hw_firmware_type: 'uefi' }), 'bios/pc');
  assert.equal(fw({ firmware: 'uefi' }, { hw_firmware_type: 'bios' }), 'uefi/q35');
  assert.equal(fw({}, { hw_firmware_type: 'uefi' }), 'uefi/q35');
  assert.equal(fw({}, {}), 'bios/pc');
  // Windows: UEFI on q35 unless the server or image says otherwise.
  assert.equal(fw({}, { os_type: 'windows' }), 'uefi/q35');
  assert.equal(fw({ osType: 'windows' }, {}), 'uefi/q35');
  assert.equal(fw({ osType: 'windows' }, { hw_firmware_type: 'bios' }), 'bios/q35');
  assert.equal(fw({ osType: 'linux' }, { os_type: 'windows' }), 'bios/pc', 'the server osType wins too');
  // Secure Boot and TPM: server field, else image property, else the profile's default.
  const h = (server: Partial<ServerRecord['spec']>, props: Record<string, string>) =>
    hardwareOf(...records(server, props));
  assert.equal(h({}, { os_secure_boot: 'required', hw_firmware_type: 'uefi' }).secureBoot, true);
  assert.equal(h({ secureBoot: false }, { os_secure_boot: 'required' }).secureBoot, false);
  assert.equal(h({}, { os_type: 'windows' }).tpm, true);
  assert.equal(h({ tpm: false }, { os_type: 'windows' }).tpm, false);
  assert.equal(h({}, { hw_tpm_version: '2.0' }).tpm, true);
  assert.equal(h({}, {}).tpm, false);
});
