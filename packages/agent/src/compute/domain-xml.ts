/**
 * Rendering of a server's libvirt domain XML from a {@link DomainSpec}: a pure function, so what the agent
 * would define is testable without libvirt. Every value is validated or escaped; nothing from a user
 * (the server name above all) can add elements or attributes.
 */
import { isAbsolute } from 'node:path';
import { InvalidRequest } from '../errors.js';
import { assertId, domainName, METADATA_NS } from '../host/names.js';
import { type ClockTimer, type GuestHardware, profileFor } from './profiles/index.js';
import type { DiskDevice, DomainDevice, DomainNic, DomainSpec } from './types.js';

/** A read-only CD-ROM drive holding an ISO image. */
interface CdromDevice extends Omit<DiskDevice, 'kind' | 'bus'> {
  kind: 'cdrom';
  bus: 'sata' | 'ide' | 'scsi';
}

import { element, tag } from './xml.js';

export { OVMF_CODE, OVMF_VARS_TEMPLATE } from './profiles/index.js';

/** Where libvirt keeps variable stores when a spec names none. */
export const DEFAULT_NVRAM_DIR = '/var/lib/libvirt/qemu/nvram';

/**
 * The SMBIOS system strings Nova gives its guests (`nova/version.py` vendor and product,
 * `_get_guest_config_sysinfo` in `nova/virt/libvirt/driver.py`); serial and UUID are the server id.
 * cloud-init recognises OpenStack by the product name (`DataSourceOpenStack.detect_openstack`,
 * `dscheck_OpenStack` in `ds-identify`), also when the guest has no config drive.
 */
export const SMBIOS_SYSTEM = {
  manufacturer: 'OpenStack Foundation',
  product: 'OpenStack Nova',
  family: 'Virtual Machine',
} as const;

/** The XML prefix bound to {@link METADATA_NS} inside `<metadata>`. */
export const METADATA_PREFIX = 'stratus';

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
const IFNAME_RE = /^[A-Za-z0-9_.-]{1,15}$/;

/** The variable store path of a UEFI domain: the spec's, or libvirt's conventional one. */
export function nvramPath(spec: Pick<DomainSpec, 'serverId' | 'nvram'>): string {
  return spec.nvram ?? `${DEFAULT_NVRAM_DIR}/${domainName(spec.serverId)}_VARS.fd`;
}

/** Where libvirt keeps the swtpm state of domains (its `swtpm_storage`, one folder per domain UUID). */
export const TPM_STATE_DIR = '/var/lib/libvirt/swtpm';

/** The TPM state folder of a server's domain (libvirt names it by the domain UUID, the server id). */
export function tpmStatePath(serverId: string): string {
  assertId(serverId);
  return `${TPM_STATE_DIR}/${serverId}`;
}

/**
 * Renders the domain XML of a server. Throws on a spec that is a programming error (bad id, relative path,
 * malformed MAC, ...): callers build specs from validated resources, so these never reach a user.
 */
export function buildDomainXml(spec: DomainSpec): string {
  validateSpec(spec);
  const hw = domainHardware(spec);
  const uefi = hw.uefi;
  const lines: string[] = [];
  const add = (depth: number, s: string) => lines.push(`${'  '.repeat(depth)}${s}`);

  add(0, tag('domain', { type: spec.virtType }));
  add(1, element('name', domainName(spec.serverId)));
  add(1, element('uuid', spec.serverId));
  add(1, element('title', spec.name));
  add(1, '<metadata>');
  add(2, tag(`${METADATA_PREFIX}:instance`, { [`xmlns:${METADATA_PREFIX}`]: METADATA_NS }));
  add(3, element(`${METADATA_PREFIX}:id`, spec.serverId));
  add(3, element(`${METADATA_PREFIX}:name`, spec.name));
  add(2, `</${METADATA_PREFIX}:instance>`);
  add(1, '</metadata>');
  add(1, element('memory', spec.memoryMiB, { unit: 'MiB' }));
  add(1, element('currentMemory', spec.memoryMiB, { unit: 'MiB' }));
  add(1, element('vcpu', spec.vcpus, { placement: 'static' }));
  add(1, tag('sysinfo', { type: 'smbios' }));
  add(2, '<system>');
  add(3, element('entry', SMBIOS_SYSTEM.manufacturer, { name: 'manufacturer' }));
  add(3, element('entry', SMBIOS_SYSTEM.product, { name: 'product' }));
  add(3, element('entry', spec.serverId, { name: 'serial' }));
  add(3, element('entry', spec.serverId, { name: 'uuid' }));
  add(3, element('entry', SMBIOS_SYSTEM.family, { name: 'family' }));
  add(2, '</system>');
  add(1, '</sysinfo>');

  add(1, '<os>');
  add(2, element('type', 'hvm', { arch: 'x86_64', machine: hw.machine }));
  if (uefi) {
    add(
      2,
      element('loader', uefi.loader, {
        readonly: 'yes',
        secure: uefi.secureBoot ? 'yes' : 'no',
        type: 'pflash',
      }),
    );
    // libvirt copies the template on first start and chowns the copy for QEMU.
    add(2, element('nvram', nvramPath(spec), { template: uefi.nvramTemplate }));
  }
  // With a boot CD-ROM the disks carry the boot order themselves (the CD-ROM first, then the root disk):
  // `<boot dev='cdrom'/>` would boot whichever CD-ROM libvirt lists first, and a config drive or driver
  // ISO is a CD-ROM too on SATA and IDE.
  if (spec.cdrom === undefined) add(2, tag('boot', { dev: 'hd' }, true));
  add(2, tag('smbios', { mode: 'sysinfo' }, true));
  add(1, '</os>');

  add(1, '<features>');
  add(2, '<acpi/>');
  add(2, '<apic/>');
  // Hyper-V enlightenments only under KVM: QEMU refuses them under TCG (see GuestHardware.hyperv).
  const hyperv = hw.hyperv && spec.virtType === 'kvm';
  if (hyperv) for (const l of HYPERV_LINES) add(2, l);
  // SMM is how q35 firmware protects its variable store.
  if (uefi?.smm && hw.machine === 'q35') add(2, tag('smm', { state: 'on' }, true));
  add(1, '</features>');

  // TCG cannot emulate the host CPU (`-cpu host` needs KVM), so qemu domains keep libvirt's default model.
  if (spec.virtType === 'kvm')
    add(1, tag('cpu', { mode: 'host-passthrough', check: 'none', migratable: 'on' }, true));

  const timers: ClockTimer[] = [
    ...hw.timers,
    ...(hyperv ? [{ name: 'hypervclock' as const, present: true }] : []),
  ];
  if (timers.length === 0) add(1, tag('clock', { offset: hw.clock }, true));
  else {
    add(1, tag('clock', { offset: hw.clock }));
    for (const t of timers)
      add(
        2,
        tag(
          'timer',
          {
            name: t.name,
            tickpolicy: t.tickpolicy,
            present: t.present === undefined ? undefined : t.present ? 'yes' : 'no',
          },
          true,
        ),
      );
    add(1, '</clock>');
  }
  add(1, element('on_poweroff', 'destroy'));
  add(1, element('on_reboot', 'restart'));
  add(1, element('on_crash', 'destroy'));

  add(1, '<devices>');
  const prefix = hw.diskBus === 'virtio' ? 'vd' : hw.diskBus === 'ide' ? 'hd' : 'sd';
  const disks: (DiskDevice | CdromDevice)[] = [
    {
      kind: 'disk',
      path: spec.rootDisk,
      format: 'qcow2',
      target: `${prefix}a`,
      bus: hw.diskBus,
      ...(spec.cdrom !== undefined ? { bootOrder: 2 } : {}),
    },
  ];
  const cdromBus = spec.hardware?.cdromBus ?? (hw.machine === 'pc' ? 'ide' : 'sata');
  // On virtio and SCSI a plain read-only disk: no extra controller needed, and the guest finds it by its
  // ISO 9660 label `config-2` wherever it appears. QEMU has no read-only SATA or IDE disks ("readonly
  // sata disks are not supported"), so there it is a CD-ROM, as Nova attaches Windows guests' drives.
  if (spec.configDrive !== null) {
    if (hw.diskBus === 'virtio' || hw.diskBus === 'scsi')
      disks.push({
        kind: 'disk',
        path: spec.configDrive,
        format: 'raw',
        target: `${prefix}b`,
        bus: hw.diskBus,
        readonly: true,
      });
    else {
      if (cdromBus === 'ide' && hw.machine !== 'pc') throw new Error('an ide cdrom needs machine pc');
      disks.push({
        kind: 'cdrom',
        path: spec.configDrive,
        format: 'raw',
        target: cdromBus === 'ide' ? 'hdb' : 'sdb',
        bus: cdromBus,
      });
    }
  }
  // Attached volumes, so a redefinition (a resize, a repair) keeps them.
  for (const v of spec.volumes ?? []) {
    validateDisk(v);
    disks.push(v);
  }
  const cdroms = [...(spec.cdrom !== undefined ? [spec.cdrom] : []), ...(spec.extraCdroms ?? [])];
  if (cdroms.length) {
    if (cdromBus === 'ide' && hw.machine !== 'pc') throw new Error('an ide cdrom needs machine pc');
    // The boot CD-ROM (boot order 1) takes the lowest free name, the other media (an install's driver
    // and answer media, a driver ISO) the ones after it. A lone CD-ROM keeps the name it always had
    // (hdc, sdz).
    const used = new Set(disks.map((d) => d.target));
    const names =
      cdroms.length === 1
        ? cdromBus === 'ide'
          ? ['hdc', 'hdd']
          : ['sdz']
        : cdromBus === 'ide'
          ? ['hda', 'hdb', 'hdc', 'hdd']
          : ['sdv', 'sdw', 'sdx', 'sdy', 'sdz'];
    const free = names.filter((n) => !used.has(n));
    if (cdroms.length > free.length)
      throw new Error(`${cdroms.length} CD-ROMs do not fit on bus ${cdromBus}`);
    for (const [j, path] of cdroms.entries())
      disks.push({
        kind: 'cdrom',
        path,
        format: 'raw',
        target: free[j]!,
        bus: cdromBus,
        ...(j === 0 && spec.cdrom !== undefined ? { bootOrder: 1 } : {}),
      });
  }
  if (disks.some((d) => d.bus === 'scsi'))
    add(2, tag('controller', { type: 'scsi', model: 'virtio-scsi' }, true));
  for (const d of disks) for (const l of deviceLines(d)) add(2, l);
  for (const nic of spec.nics)
    for (const l of deviceLines({ kind: 'interface', ...nic, model: nic.model ?? hw.nicModel })) add(2, l);
  // A VNC display needs a video device: the profile's, else a plain VGA one (any OS drives it).
  const video =
    spec.hardware?.video === 'none' ? null : (spec.hardware?.video ?? hw.video ?? (spec.vnc ? 'vga' : null));
  if (spec.vnc && video) {
    add(2, tag('graphics', { type: 'vnc' }));
    add(3, tag('listen', { type: 'socket' }, true));
    add(2, '</graphics>');
  }
  if (video) {
    add(2, '<video>');
    add(3, tag('model', { type: video }, true));
    add(2, '</video>');
  }
  if (hw.tablet) add(2, tag('input', { type: 'tablet', bus: 'usb' }, true));
  // swtpm keeps the TPM's state in libvirt's per-domain directory (/var/lib/libvirt/swtpm/<uuid>).
  if (hw.tpm) {
    add(2, tag('tpm', { model: 'tpm-crb' }));
    add(3, tag('backend', { type: 'emulator', version: '2.0' }, true));
    add(2, '</tpm>');
  }
  if (spec.hardware?.guestAgent) {
    add(2, tag('channel', { type: 'unix' }));
    add(3, tag('target', { type: 'virtio', name: 'org.qemu.guest_agent.0' }, true));
    add(2, '</channel>');
  }
  // A pty serial port logged through virtlogd: `virsh console` keeps working and the log file (which
  // survives restarts, appended to) is what the agent and tests tail for the guest's ready line.
  add(2, tag('serial', { type: 'pty' }));
  add(3, tag('log', { file: spec.consoleLog, append: 'on' }, true));
  add(3, tag('target', { port: 0 }, true));
  add(2, '</serial>');
  add(2, tag('console', { type: 'pty' }));
  add(3, tag('target', { type: 'serial', port: 0 }, true));
  add(2, '</console>');
  add(2, tag('rng', { model: 'virtio' }));
  add(3, element('backend', '/dev/urandom', { model: 'random' }));
  add(2, '</rng>');
  add(2, tag('memballoon', { model: 'virtio' }, true));
  add(1, '</devices>');
  add(0, '</domain>');
  return `${lines.join('\n')}\n`;
}

/**
 * The Hyper-V enlightenments of a Windows guest under KVM (libvirt's `<hyperv>` features, as
 * virt-manager and Nova's libvirt driver enable them for Windows): relaxed timing, virtual APIC,
 * paravirtual spinlocks (8191 retries), VP index, runtime, SynIC with its timers, reset and the TSC
 * frequency MSRs that hypervclock needs.
 */
const HYPERV_LINES = [
  '<hyperv mode="custom">',
  '  <relaxed state="on"/>',
  '  <vapic state="on"/>',
  '  <spinlocks state="on" retries="8191"/>',
  '  <vpindex state="on"/>',
  '  <runtime state="on"/>',
  '  <synic state="on"/>',
  '  <stimer state="on"/>',
  '  <reset state="on"/>',
  '  <frequencies state="on"/>',
  '</hyperv>',
];

/** The virtual hardware a domain gets: its guest profile's answer to the server's request. */
export function domainHardware(
  spec: Pick<DomainSpec, 'osType' | 'machine' | 'firmware' | 'virtType' | 'hardware' | 'secureBoot' | 'tpm'>,
): GuestHardware {
  const hw = profileFor(spec.osType ?? 'linux').hardware(spec);
  const o = spec.hardware ?? {};
  if (o.diskBus === 'ide' && hw.machine !== 'pc')
    throw new InvalidRequest(`disk bus ide needs machine pc (q35 has no IDE controller), got ${hw.machine}`, {
      field: ['image'],
    });
  return {
    ...hw,
    ...(o.diskBus ? { diskBus: o.diskBus } : {}),
    ...(o.nicModel ? { nicModel: o.nicModel } : {}),
  };
}

/** The lines of one device element (relative indentation, two spaces per level). */
function deviceLines(d: DomainDevice | CdromDevice): string[] {
  if (d.kind === 'disk' || d.kind === 'cdrom') {
    return [
      tag('disk', { type: 'file', device: d.kind }),
      `  ${tag('driver', { name: 'qemu', type: d.format, discard: d.readonly || d.kind === 'cdrom' ? undefined : 'unmap' }, true)}`,
      `  ${tag('source', { file: d.path }, true)}`,
      `  ${tag('target', { dev: d.target, bus: d.bus }, true)}`,
      ...(d.serial !== undefined ? [`  ${element('serial', d.serial)}`] : []),
      ...(d.alias !== undefined ? [`  ${tag('alias', { name: d.alias }, true)}`] : []),
      ...(d.bootOrder !== undefined ? [`  ${tag('boot', { order: String(d.bootOrder) }, true)}`] : []),
      ...(d.readonly || d.kind === 'cdrom' ? ['  <readonly/>'] : []),
      '</disk>',
    ];
  }
  return [
    tag('interface', { type: 'bridge' }),
    `  ${tag('mac', { address: d.mac }, true)}`,
    `  ${tag('source', { bridge: d.bridge }, true)}`,
    ...(d.virtualport ? [`  ${tag('virtualport', { type: d.virtualport }, true)}`] : []),
    `  ${tag('target', { dev: d.tap }, true)}`,
    `  ${tag('model', { type: d.model }, true)}`,
    // Checksum and segmentation offloads off between guest and host: see NicBinding.softwareChecksums.
    ...(d.softwareChecksums && d.model === 'virtio'
      ? [
          '  <driver>',
          `    ${tag('host', { csum: 'off', gso: 'off', tso4: 'off', tso6: 'off', ecn: 'off', ufo: 'off' }, true)}`,
          `    ${tag('guest', { csum: 'off', tso4: 'off', tso6: 'off', ecn: 'off', ufo: 'off' }, true)}`,
          '  </driver>',
        ]
      : []),
    '</interface>',
  ];
}

/**
 * The XML of one device for libvirt's attach/detach (`virsh attach-device`), validated like a domain's:
 * the same renderer the domain definition uses, so an attached device looks exactly like a defined one.
 */
export function buildDeviceXml(d: DomainDevice): string {
  if (d.kind === 'disk') validateDisk(d);
  else validateNic(d, 0);
  return `${deviceLines(d).join('\n')}\n`;
}

function validateDisk(d: DiskDevice): void {
  assertPath('path', d.path);
  if (!/^(vd|sd)[a-z]{1,2}$/.test(d.target))
    throw new Error(`disk target ${JSON.stringify(d.target)} is not a device name`);
  if (d.format !== 'qcow2' && d.format !== 'raw') throw new Error(`bad disk format ${d.format}`);
  if (!['virtio', 'sata', 'scsi', 'ide'].includes(d.bus)) throw new Error(`bad disk bus ${d.bus}`);
  // virtio-blk serials hold 20 bytes; user aliases must start with ua- (libvirt's rule).
  if (d.serial !== undefined && !/^[A-Za-z0-9-]{1,20}$/.test(d.serial))
    throw new Error(`disk serial ${JSON.stringify(d.serial)} is not 1-20 of [A-Za-z0-9-]`);
  if (d.alias !== undefined && !/^ua-[A-Za-z0-9_-]{1,60}$/.test(d.alias))
    throw new Error(`disk alias ${JSON.stringify(d.alias)} is not a libvirt user alias (ua-...)`);
}

/**
 * Refuses specs that would make unsafe XML (ids, paths, interface names, MACs). Sizes and counts are not
 * checked here: they come from requests validated by the model's schema, whose limits are the only ones.
 */
function validateSpec(spec: DomainSpec): void {
  assertId(spec.serverId);
  if (spec.virtType !== 'kvm' && spec.virtType !== 'qemu') throw new Error(`bad virtType ${spec.virtType}`);
  if (spec.machine !== 'pc' && spec.machine !== 'q35') throw new Error(`bad machine ${spec.machine}`);
  if (spec.firmware !== 'bios' && spec.firmware !== 'uefi') throw new Error(`bad firmware ${spec.firmware}`);
  assertPath('rootDisk', spec.rootDisk);
  assertPath('consoleLog', spec.consoleLog);
  if (spec.configDrive !== null) assertPath('configDrive', spec.configDrive);
  if (spec.cdrom !== undefined) assertPath('cdrom', spec.cdrom);
  for (const [i, p] of (spec.extraCdroms ?? []).entries()) assertPath(`extraCdroms[${i}]`, p);
  if (spec.nvram !== undefined) assertPath('nvram', spec.nvram);
  spec.nics.forEach(validateNic);
}

function validateNic(nic: DomainNic, i: number): void {
  // libvirt refuses multicast MACs (low bit of the first octet set).
  if (!MAC_RE.test(nic.mac) || (Number.parseInt(nic.mac.slice(0, 2), 16) & 1) === 1) {
    throw new Error(`nics[${i}].mac ${JSON.stringify(nic.mac)} is not a lower-case unicast MAC`);
  }
  for (const [field, name] of [
    ['bridge', nic.bridge],
    ['tap', nic.tap],
  ] as const) {
    if (!IFNAME_RE.test(name))
      throw new Error(`nics[${i}].${field} ${JSON.stringify(name)} is not an interface name`);
  }
  // libvirt treats vnet*/macvtap*/macvlan* target names as its own and would rename the tap.
  if (/^(vnet|macvtap|macvlan)/.test(nic.tap))
    throw new Error(`nics[${i}].tap ${nic.tap} uses a libvirt prefix`);
  if (nic.model !== undefined && !['virtio', 'e1000e', 'e1000', 'rtl8139'].includes(nic.model))
    throw new Error(`nics[${i}].model ${nic.model} unknown`);
  if (nic.virtualport !== undefined && nic.virtualport !== 'openvswitch')
    throw new Error(`nics[${i}].virtualport ${nic.virtualport} unknown`);
}

function assertPath(field: string, p: string): void {
  if (typeof p !== 'string' || !isAbsolute(p) || p.includes('\0') || p.split('/').includes('..')) {
    throw new Error(`${field} must be an absolute path without '..', got ${JSON.stringify(p)}`);
  }
}
