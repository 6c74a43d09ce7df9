/**
 * Rendering of a server's libvirt domain XML from a {@link DomainSpec}: a pure function, so what the agent
 * would define is testable without libvirt. Every value is validated or escaped; nothing from a user
 * (the server name above all) can add elements or attributes.
 */
import { isAbsolute } from 'node:path';
import { assertId, domainName, METADATA_NS } from '../host/names.js';
import type { DomainNic, DomainSpec } from './types.js';
import { element, tag } from './xml.js';

/** UEFI firmware code (without Secure Boot, so it runs on `pc` and `q35`), mapped read-only. */
export const OVMF_CODE = '/usr/share/OVMF/OVMF_CODE_4M.fd';
/** Template libvirt copies to a domain's variable store the first time the domain starts. */
export const OVMF_VARS_TEMPLATE = '/usr/share/OVMF/OVMF_VARS_4M.fd';
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

/**
 * Renders the domain XML of a server. Throws on a spec that is a programming error (bad id, relative path,
 * malformed MAC, ...): callers build specs from validated resources, so these never reach a user.
 */
export function buildDomainXml(spec: DomainSpec): string {
  validateSpec(spec);
  const uefi = spec.firmware === 'uefi';
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
  add(2, element('type', 'hvm', { arch: 'x86_64', machine: spec.machine }));
  if (uefi) {
    add(2, element('loader', OVMF_CODE, { readonly: 'yes', secure: 'no', type: 'pflash' }));
    // libvirt copies the template on first start and chowns the copy for QEMU.
    add(2, element('nvram', nvramPath(spec), { template: OVMF_VARS_TEMPLATE }));
  }
  add(2, tag('boot', { dev: 'hd' }, true));
  add(2, tag('smbios', { mode: 'sysinfo' }, true));
  add(1, '</os>');

  add(1, '<features>');
  add(2, '<acpi/>');
  add(2, '<apic/>');
  // SMM is how q35 firmware protects its variable store; OVMF_CODE_4M.fd also runs without it on pc.
  if (uefi && spec.machine === 'q35') add(2, tag('smm', { state: 'on' }, true));
  add(1, '</features>');

  // TCG cannot emulate the host CPU (`-cpu host` needs KVM), so qemu domains keep libvirt's default model.
  // Hyper-V enlightenments are never emitted: QEMU refuses them under TCG and Linux guests do not need them.
  if (spec.virtType === 'kvm')
    add(1, tag('cpu', { mode: 'host-passthrough', check: 'none', migratable: 'on' }, true));

  add(1, tag('clock', { offset: 'utc' }, true));
  add(1, element('on_poweroff', 'destroy'));
  add(1, element('on_reboot', 'restart'));
  add(1, element('on_crash', 'destroy'));

  add(1, '<devices>');
  add(2, tag('disk', { type: 'file', device: 'disk' }));
  add(3, tag('driver', { name: 'qemu', type: 'qcow2', discard: 'unmap' }, true));
  add(3, tag('source', { file: spec.rootDisk }, true));
  add(3, tag('target', { dev: 'vda', bus: 'virtio' }, true));
  add(2, '</disk>');
  if (spec.configDrive !== null) {
    // A plain read-only virtio disk rather than a CD-ROM: no IDE/SATA controller needed, and the guest
    // finds it by its ISO 9660 label `config-2` wherever it appears.
    add(2, tag('disk', { type: 'file', device: 'disk' }));
    add(3, tag('driver', { name: 'qemu', type: 'raw' }, true));
    add(3, tag('source', { file: spec.configDrive }, true));
    add(3, tag('target', { dev: 'vdb', bus: 'virtio' }, true));
    add(3, '<readonly/>');
    add(2, '</disk>');
  }
  for (const nic of spec.nics) {
    add(2, tag('interface', { type: 'bridge' }));
    add(3, tag('mac', { address: nic.mac }, true));
    add(3, tag('source', { bridge: nic.bridge }, true));
    add(3, tag('target', { dev: nic.tap }, true));
    add(3, tag('model', { type: nic.model }, true));
    add(2, '</interface>');
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

function validateSpec(spec: DomainSpec): void {
  assertId(spec.serverId);
  if (typeof spec.name !== 'string' || spec.name.length === 0 || spec.name.length > 255) {
    throw new Error(`server name must be 1-255 characters, got ${JSON.stringify(spec.name)}`);
  }
  if (!Number.isInteger(spec.vcpus) || spec.vcpus < 1 || spec.vcpus > 255) {
    throw new Error(`vcpus must be an integer 1-255, got ${spec.vcpus}`);
  }
  if (!Number.isInteger(spec.memoryMiB) || spec.memoryMiB < 16) {
    throw new Error(`memoryMiB must be an integer >= 16, got ${spec.memoryMiB}`);
  }
  if (spec.virtType !== 'kvm' && spec.virtType !== 'qemu') throw new Error(`bad virtType ${spec.virtType}`);
  if (spec.machine !== 'pc' && spec.machine !== 'q35') throw new Error(`bad machine ${spec.machine}`);
  if (spec.firmware !== 'bios' && spec.firmware !== 'uefi') throw new Error(`bad firmware ${spec.firmware}`);
  assertPath('rootDisk', spec.rootDisk);
  assertPath('consoleLog', spec.consoleLog);
  if (spec.configDrive !== null) assertPath('configDrive', spec.configDrive);
  if (spec.nvram !== undefined) assertPath('nvram', spec.nvram);
  if (spec.nics.length > 10) throw new Error(`at most 10 NICs, got ${spec.nics.length}`);
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
  if (nic.model !== 'virtio' && nic.model !== 'e1000e')
    throw new Error(`nics[${i}].model ${nic.model} unknown`);
}

function assertPath(field: string, p: string): void {
  if (typeof p !== 'string' || !isAbsolute(p) || p.includes('\0') || p.split('/').includes('..')) {
    throw new Error(`${field} must be an absolute path without '..', got ${JSON.stringify(p)}`);
  }
}
