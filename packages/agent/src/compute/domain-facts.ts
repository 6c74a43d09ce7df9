import { isResourceId, METADATA_NS } from '../host/names.js';
import type { DomainFacts } from './types.js';
import { xmlUnescape } from './xml.js';

/**
 * Reads the server id out of a domain XML's Stratus metadata (whatever prefix the namespace is bound to),
 * or returns null when there is none.
 */
export function serverIdFromXml(xml: string): string | null {
  const ns = METADATA_NS.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  const prefix = new RegExp(`xmlns:([A-Za-z_][\\w.-]*)=["']${ns}["']`).exec(xml)?.[1];
  if (prefix === undefined) return null;
  const id = new RegExp(`<${prefix}:id>([^<]*)</${prefix}:id>`).exec(xml)?.[1];
  if (id === undefined) return null;
  const value = xmlUnescape(id).trim();
  return isResourceId(value) ? value : null;
}

/** Reads an attribute of the first element matching `re`'s tag in `xml`. */
function attr(xml: string, name: string): string | null {
  return new RegExp(`\\b${name}=['"]([^'"]*)['"]`).exec(xml)?.[1] ?? null;
}

function text(xml: string, tag: string): string | null {
  return new RegExp(`<${tag}\\b[^>]*>([^<]*)</${tag}>`).exec(xml)?.[1]?.trim() ?? null;
}

const KIB: Record<string, number> = {
  KiB: 1,
  k: 1,
  MiB: 1024,
  M: 1024,
  GiB: 1024 * 1024,
  G: 1024 * 1024,
  b: 1 / 1024,
  bytes: 1 / 1024,
};

/**
 * Parses the facts Stratus needs from libvirt's domain XML (as libvirt writes it, so a few regular
 * expressions over its elements suffice): size, machine, firmware, disks and bridged NICs.
 */
export function parseDomainFacts(xml: string): DomainFacts {
  const memEl = /<memory\b[^>]*>[^<]*<\/memory>/.exec(xml)?.[0] ?? '';
  const unit = attr(memEl, 'unit') ?? 'KiB';
  const memoryMiB = Math.round((Number(text(memEl, 'memory')) * (KIB[unit] ?? 1)) / 1024);
  const typeEl = /<type\b[^>]*>hvm<\/type>/.exec(xml)?.[0] ?? '';
  const machine = (attr(typeEl, 'machine') ?? '').includes('q35') ? 'q35' : 'pc';
  const firmware =
    /<loader\b[^>]*type=['"]pflash['"]/.test(xml) || /<os\b[^>]*firmware=['"]efi['"]/.test(xml)
      ? 'uefi'
      : 'bios';
  const disks = [...xml.matchAll(/<disk\b[\s\S]*?<\/disk>/g)].flatMap(([d]) => {
    const path = /<source\b[^>]*\bfile=['"]([^'"]+)['"]/.exec(d)?.[1];
    const target = /<target\b[^>]*\bdev=['"]([^'"]+)['"]/.exec(d)?.[1];
    if (!path || !target) return [];
    return [
      {
        path: xmlUnescape(path),
        target,
        device: attr(d, 'device') ?? 'disk',
        readonly: /<readonly\s*\/>/.test(d),
      },
    ];
  });
  const nics = [...xml.matchAll(/<interface\b[\s\S]*?<\/interface>/g)].map(([n]) => ({
    mac: /<mac\b[^>]*\baddress=['"]([^'"]+)['"]/.exec(n)?.[1]?.toLowerCase() ?? '',
    bridge: /<source\b[^>]*\bbridge=['"]([^'"]+)['"]/.exec(n)?.[1] ?? null,
    tap: /<target\b[^>]*\bdev=['"]([^'"]+)['"]/.exec(n)?.[1] ?? null,
    model: /<model\b[^>]*\btype=['"]([^'"]+)['"]/.exec(n)?.[1] ?? null,
  }));
  const title = text(xml, 'title');
  return {
    uuid: (text(xml, 'uuid') ?? '').toLowerCase(),
    name: xmlUnescape(text(xml, 'name') ?? ''),
    title: title === null ? null : xmlUnescape(title),
    vcpus: Number(text(xml, 'vcpu') ?? '1'),
    memoryMiB,
    machine,
    firmware,
    disks,
    nics,
    stratusId: serverIdFromXml(xml),
  };
}
