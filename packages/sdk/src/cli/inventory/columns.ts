/**
 * The columns `stratus list` shows per type, after the OpenStack CLI's (`openstack server list`: ID,
 * Name, Status, Networks, Image, Flavor). A type added to the registry without columns here is listed
 * with ID, Name and Owner.
 */
import type { ApiRecord } from '@stratus/model';
import { formatBytes } from '@stratus/util';

/** A column: its header and the cell of one record. */
export interface Column {
  header: string;
  cell(r: ApiRecord): string;
}

const str = (v: unknown): string => (v === undefined || v === null ? '' : String(v));
const attr = (r: ApiRecord, name: string): unknown => r.status[name] ?? r.spec[name];

const ID: Column = { header: 'ID', cell: (r) => r.id };
const NAME: Column = { header: 'Name', cell: (r) => str(r.spec.name) };
const STATUS: Column = { header: 'Status', cell: (r) => str(r.status.status) };
const HOST: Column = { header: 'Host', cell: (r) => str(r.host) };

/** `net-id=10.20.0.3` per NIC, one per line, as Nova's `networks` column. */
function addresses(r: ApiRecord): string {
  const a = r.status.addresses as { network?: string; ip?: string }[] | undefined;
  return (a ?? []).map((n) => `${n.network ?? '?'}=${n.ip ?? '?'}`).join('\n');
}

function size(bytes: unknown): string {
  return typeof bytes === 'number' ? formatBytes(bytes) : '';
}

/** Columns per type (before Owner, which every table ends with). */
export const COLUMNS: Record<string, Column[]> = {
  server: [
    ID,
    NAME,
    {
      header: 'Status',
      cell: (r) => [r.status.status, r.status.guestStatus].filter((x) => x !== undefined).join('\n'),
    },
    HOST,
    { header: 'Networks', cell: addresses },
    { header: 'Image', cell: (r) => str(r.spec.image) },
    {
      header: 'Flavor',
      cell: (r) => str(r.spec.flavor) || `${str(attr(r, 'vcpus'))} vCPU, ${str(attr(r, 'memoryMb'))} MiB`,
    },
  ],
  network: [
    ID,
    NAME,
    STATUS,
    HOST,
    { header: 'MTU', cell: (r) => str(attr(r, 'mtu')) },
    { header: 'Bridge', cell: (r) => str(r.status.bridge) },
  ],
  subnet: [
    ID,
    NAME,
    { header: 'Network', cell: (r) => str(r.spec.network) },
    { header: 'Subnet', cell: (r) => str(r.spec.cidr) },
    { header: 'Gateway', cell: (r) => str(attr(r, 'gatewayIp')) },
  ],
  image: [
    ID,
    NAME,
    STATUS,
    HOST,
    { header: 'Format', cell: (r) => str(r.status.format) },
    { header: 'Size', cell: (r) => size(r.status.sizeBytes) },
  ],
  keypair: [
    ID,
    NAME,
    { header: 'Fingerprint', cell: (r) => str(r.status.fingerprint) },
    { header: 'Type', cell: (r) => str(r.status.type) },
  ],
  flavor: [
    ID,
    NAME,
    { header: 'VCPUs', cell: (r) => str(r.spec.vcpus) },
    { header: 'RAM', cell: (r) => (r.spec.ramMb === undefined ? '' : `${str(r.spec.ramMb)} MiB`) },
    { header: 'Disk', cell: (r) => (r.spec.diskGb === undefined ? '' : `${str(r.spec.diskGb)} GiB`) },
  ],
  // As `openstack server group list` shows them.
  server_group: [
    ID,
    NAME,
    { header: 'Policy', cell: (r) => str(r.spec.policy) },
    {
      header: 'Members',
      cell: (r) => (Array.isArray(r.status.members) ? r.status.members.join(', ') : ''),
    },
  ],
};

/** The columns of `type`. */
export function columnsOf(type: string): Column[] {
  return COLUMNS[type] ?? [ID, NAME];
}
