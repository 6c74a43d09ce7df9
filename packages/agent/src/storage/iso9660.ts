/**
 * Packs a few small files into an ISO 9660 image in memory, with Rock Ridge names (Linux readers) and a
 * Joliet tree (Windows readers), without running genisoimage: starting genisoimage cost a server's
 * create about 30-40 ms of its path on a 2-core host, to pack a few kilobytes.
 *
 * What is written follows ECMA-119 (ISO 9660), SUSP 1.10 and RRIP 1.10 (Rock Ridge, "RRIP_1991A"), and
 * Microsoft's Joliet specification (UCS-2 level 3), laid out as genisoimage 1.1 does with `-r -J -l
 * -ldots -allow-lowercase -allow-multidot` (the options Nova gives it for a config drive):
 * - sectors 0-15: system area, zero; 16: primary volume descriptor; 17: Joliet supplementary volume
 *   descriptor; 18: set terminator; 19: the root's Rock Ridge continuation area (its "ER" entry, which
 *   does not fit in the root's own record; Linux turns Rock Ridge on only when it finds it);
 * - the path tables (primary L and M, Joliet L and M), the primary directories, the Joliet directories,
 *   the file data (each distinct content once, both trees pointing at it), then 150 sectors of zeros
 *   (genisoimage's default padding against read-ahead past the end).
 * Rock Ridge: every primary record has PX (mode, links, uid 0, gid 0) and TF (modify, access, change
 * times); names have NM. Modes are those of `-r`: directories 0555, files 0444.
 * Plain ISO 9660 names keep their case and dots (up to 31 characters; characters other than letters,
 * digits, `.` and `_` become `_`); a file's gets `;1`, and a `.` when it has none.
 */

/** One file of an image: its path relative to the root, `/`-separated, and its contents. */
export type IsoFileEntry = readonly [path: string, data: string | Uint8Array];

/** What {@link buildIso9660} packs. */
export interface Iso9660Content {
  /** The volume identifier guests look for (e.g. `config-2`): 1-16 characters, printable ASCII. */
  label: string;
  /** The files; directories are implied by their paths. */
  files: Iterable<IsoFileEntry>;
  /** Recording time of every directory, file and the volume (default: now). */
  time?: Date;
}

const SECTOR = 2048;
/** Sectors of zeros after the data, as genisoimage pads by default. */
const PAD_SECTORS = 150;
/** Joliet's limit on a name, in UTF-16 code units (genisoimage without -joliet-long). */
const MAX_NAME = 64;
/**
 * A name's limit in UTF-8 bytes: its Rock Ridge NM entry shares a record of at most 255 bytes with the
 * fixed part (33), the plain identifier (up to 35 with padding), PX (36), TF (26) and NM's header (5).
 */
const MAX_NAME_BYTES = 120;
/** `-l`: plain ISO 9660 names up to 31 characters. */
const MAX_ISO_NAME = 31;
/** The Rock Ridge extension identifier, description and source of RRIP 1.10 (RRIP 1.12, section 5.5). */
const RRIP_ID = 'RRIP_1991A';
const RRIP_DES = 'THE ROCK RIDGE INTERCHANGE PROTOCOL PROVIDES SUPPORT FOR POSIX FILE SYSTEM SEMANTICS';
const RRIP_SRC =
  'PLEASE CONTACT DISC PUBLISHER FOR SPECIFICATION SOURCE.  SEE PUBLISHER IDENTIFIER IN PRIMARY VOLUME DESCRIPTOR FOR CONTACT INFORMATION.';
const MODE_DIR = 0o40555;
const MODE_FILE = 0o100444;
const FLAG_DIR = 2;

interface FileNode {
  kind: 'file';
  name: string;
  /** Its identifier in each tree (primary, Joliet). */
  id: [Buffer, Buffer];
  data: Buffer;
  /** Set by the layout: the first sector of the data (shared by files with the same content). */
  extent: number;
}
interface DirNode {
  kind: 'dir';
  name: string;
  parent: DirNode | null;
  /** Its identifier in each tree (primary, Joliet); the root's is one zero byte. */
  id: [Buffer, Buffer];
  children: Map<string, DirNode | FileNode>;
  /** Its children in the order of each tree's records (ECMA-119 9.3). */
  sorted: [(DirNode | FileNode)[], (DirNode | FileNode)[]];
  /** Per tree (primary, Joliet): its path table number, first sector and size in bytes. */
  at: [Placed, Placed];
}
interface Placed {
  number: number;
  extent: number;
  size: number;
}
type Tree = 0 | 1;
const PRIMARY: Tree = 0;
const JOLIET: Tree = 1;
const TREES = [PRIMARY, JOLIET] as const;
/** The sector of the root's Rock Ridge continuation area. */
const CE_SECTOR = 19;

/**
 * The ISO 9660 image of `content`, as bytes (the whole image is built in memory: meant for config drives
 * and answer media, kilobytes to a few megabytes).
 *
 * @throws Error naming the path when a path is empty, absolute, has an empty, `.` or `..` component, a
 *   component longer than 64 UTF-16 code units or 120 bytes of UTF-8, or a control character; when a path
 *   is given twice, or is both a file and a directory; when the label is empty, longer than 16 characters
 *   or not printable ASCII.
 */
export function buildIso9660(content: Iso9660Content): Buffer {
  const label = content.label;
  if (!/^[\x20-\x7e]{1,16}$/.test(label))
    throw new Error(`ISO volume label ${JSON.stringify(label)}: 1-16 printable ASCII characters`);
  const time = content.time ?? new Date();
  const root = tree(content.files);
  const all: DirNode[] = [];
  const collect = (d: DirNode) => {
    all.push(d);
    assignIdentifiers(d);
    for (const c of d.children.values()) if (c.kind === 'dir') collect(c);
  };
  collect(root);
  for (const d of all)
    for (const tr of TREES)
      d.sorted[tr] = [...d.children.values()].sort((a, b) => compareIds(a.id[tr], b.id[tr], tr));
  // Directories in path table order, per tree (ECMA-119 6.9.1): by depth, then by parent's number, then
  // by identifier; a breadth-first walk over sorted children gives that order.
  const dirs = TREES.map((tr) => {
    const out = [root];
    for (let i = 0; i < out.length; i++)
      out.push(...out[i]!.sorted[tr].filter((c): c is DirNode => c.kind === 'dir'));
    return out;
  });

  // Fixed sectors (16-19), then path tables, then directories, then data. Path table and directory
  // sizes depend on names and extensions only, so they are known before any sector number is.
  let next = CE_SECTOR + 1;
  const pathTables = TREES.map((tr) => {
    const size = dirs[tr]!.reduce((n, d) => n + pathRecordLength(d.id[tr].length), 0);
    const sectors = Math.ceil(size / SECTOR);
    const placed = { size, l: next, m: next + sectors };
    next += 2 * sectors;
    return placed;
  });
  for (const tr of TREES)
    for (const [i, d] of dirs[tr]!.entries()) {
      d.at[tr] = { number: i + 1, extent: next, size: packedSize(dirRecords(tr, d, time)) };
      next += d.at[tr].size / SECTOR;
    }
  // File data: each distinct content once, both trees' records pointing at it.
  const data = new Map<string, { extent: number; bytes: Buffer }>();
  for (const d of all)
    for (const f of d.sorted[PRIMARY])
      if (f.kind === 'file') {
        const key = f.data.toString('latin1');
        let at = data.get(key);
        if (!at) {
          at = { extent: next, bytes: f.data };
          data.set(key, at);
          next += Math.ceil(f.data.length / SECTOR);
        }
        f.extent = at.extent;
      }
  const total = next + PAD_SECTORS;

  const image = Buffer.alloc(total * SECTOR);
  for (const tr of TREES) volumeDescriptor(image, 16 + tr, tr, label, total, pathTables[tr]!, root, time);
  image.set([255, ...Buffer.from('CD001', 'latin1'), 1], 18 * SECTOR);
  extensionsReference().copy(image, CE_SECTOR * SECTOR);
  for (const tr of TREES) {
    let l = pathTables[tr]!.l * SECTOR;
    let m = pathTables[tr]!.m * SECTOR;
    for (const d of dirs[tr]!) {
      const parent = (d.parent ?? d).at[tr].number;
      l += pathRecord(image, l, d.id[tr], d.at[tr].extent, parent, 'LE');
      m += pathRecord(image, m, d.id[tr], d.at[tr].extent, parent, 'BE');
    }
    for (const d of dirs[tr]!) {
      let at = d.at[tr].extent * SECTOR;
      for (const r of dirRecords(tr, d, time)) {
        at = recordStart(at, r.length);
        r.copy(image, at);
        at += r.length;
      }
    }
  }
  for (const { extent, bytes } of data.values()) bytes.copy(image, extent * SECTOR);
  return image;
}

/** The directory tree of `files`, checked. */
function tree(files: Iterable<IsoFileEntry>): DirNode {
  const placed = (): [Placed, Placed] => [
    { number: 0, extent: 0, size: 0 },
    { number: 0, extent: 0, size: 0 },
  ];
  const dir = (name: string, parent: DirNode | null): DirNode => ({
    kind: 'dir',
    name,
    parent,
    id: [Buffer.from([0]), Buffer.from([0])],
    children: new Map(),
    sorted: [[], []],
    at: placed(),
  });
  const root = dir('', null);
  for (const [path, data] of files) {
    const parts = path.split('/');
    const bad = parts.find(
      (p) =>
        p === '' ||
        p === '.' ||
        p === '..' ||
        p.length > MAX_NAME ||
        Buffer.byteLength(p) > MAX_NAME_BYTES ||
        /[\x00-\x1f\x7f]/.test(p),
    );
    if (bad !== undefined)
      throw new Error(
        `ISO file path ${JSON.stringify(path)}: each component must be 1-${MAX_NAME} characters (${MAX_NAME_BYTES} bytes of UTF-8), not . or .., without control characters`,
      );
    let d = root;
    for (const [i, name] of parts.entries()) {
      const existing = d.children.get(name);
      if (i === parts.length - 1) {
        if (existing)
          throw new Error(`ISO file path ${JSON.stringify(path)} is given twice, or is also a directory`);
        d.children.set(name, {
          kind: 'file',
          name,
          id: [Buffer.alloc(0), Buffer.alloc(0)],
          data:
            typeof data === 'string'
              ? Buffer.from(data)
              : Buffer.from(data.buffer, data.byteOffset, data.byteLength),
          extent: 0,
        });
      } else if (existing?.kind === 'file') {
        throw new Error(
          `ISO file path ${JSON.stringify(path)}: ${parts.slice(0, i + 1).join('/')} is a file`,
        );
      } else {
        const sub = existing ?? dir(name, d);
        d.children.set(name, sub);
        d = sub;
      }
    }
  }
  return root;
}

/**
 * Sets the identifiers of a directory's children in both trees.
 * - Plain ISO 9660, unique within the directory: the name with each UTF-8 byte other than letters,
 *   digits, `.` and `_` as `_`, at most 31 characters; a file's as base `.` extension (the extension
 *   after the last dot, maybe empty), the base shortened to fit, then `;1`. A name that collides after
 *   that (ignoring case) gets 000, 001, ... in place of its base's last three characters.
 * - Joliet: the name in UCS-2, the characters Joliet forbids (`*`, `:`, `;`, `?`, `\`) as `_`, without
 *   a version (as genisoimage writes them).
 */
function assignIdentifiers(d: DirNode): void {
  const taken = new Set<string>();
  const children = [...d.children.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const c of children) {
    // Each byte of the UTF-8 name outside letters, digits, `.` and `_` becomes `_` (as genisoimage does).
    const plain = Buffer.from(c.name)
      .toString('latin1')
      .replace(/[^A-Za-z0-9._]/g, '_');
    // A file's identifier is base.extension (the dot always there); the extension is what follows the
    // last dot. Both fit in 31 characters, the base shortened first.
    const dot = c.kind === 'file' ? plain.lastIndexOf('.') : -1;
    const ext = c.kind === 'file' ? (dot < 0 ? '' : plain.slice(dot + 1, dot + MAX_ISO_NAME)) : null;
    const room = ext === null ? MAX_ISO_NAME : MAX_ISO_NAME - 1 - ext.length;
    const base = (dot < 0 ? plain : plain.slice(0, dot)).slice(0, room);
    const ident = (b: string) => (ext === null ? b : `${b}.${ext}`);
    let name = ident(base);
    // Collisions get 000, 001, ... in place of the base's last three characters, as genisoimage does.
    for (let n = 0; taken.has(name.toUpperCase()); n++)
      name = ident(base.slice(0, Math.min(base.length, room - 3)) + String(n).padStart(3, '0'));
    taken.add(name.toUpperCase());
    c.id = [Buffer.from(ext === null ? name : `${name};1`, 'latin1'), ucs2(c.name.replace(/[*:;?\\]/g, '_'))];
  }
}

/**
 * Orders identifiers as ECMA-119 9.3 orders directory records: a plain identifier's name, then its
 * extension, each compared as if padded with spaces; Joliet names by their UCS-2 bytes.
 */
function compareIds(a: Buffer, b: Buffer, tr: Tree): number {
  if (tr === JOLIET) return Buffer.compare(a, b);
  const split = (x: Buffer) => {
    const s = x.toString('latin1').replace(/;\d+$/, '');
    const dot = s.lastIndexOf('.');
    return dot < 0 ? [s, ''] : [s.slice(0, dot), s.slice(dot + 1)];
  };
  const [an, ae] = split(a);
  const [bn, be] = split(b);
  const padCmp = (x: string, y: string) => {
    const n = Math.max(x.length, y.length);
    const px = x.padEnd(n, ' ');
    const py = y.padEnd(n, ' ');
    return px < py ? -1 : px > py ? 1 : 0;
  };
  return padCmp(an!, bn!) || padCmp(ae!, be!);
}

/** A string in UCS-2 big-endian, as Joliet stores names and labels. */
function ucs2(s: string): Buffer {
  const b = Buffer.from(s, 'utf16le');
  return b.swap16();
}

/** Where a record of `length` bytes goes at offset `at` or later: never across a sector boundary (ECMA-119 6.8.1.1). */
const recordStart = (at: number, length: number): number =>
  Math.floor(at / SECTOR) === Math.floor((at + length - 1) / SECTOR) ? at : Math.ceil(at / SECTOR) * SECTOR;

/** Bytes of a directory's records once packed into sectors, in whole sectors. */
function packedSize(records: Buffer[]): number {
  let at = 0;
  for (const r of records) at = recordStart(at, r.length) + r.length;
  return Math.ceil(at / SECTOR) * SECTOR;
}

/**
 * The records of directory `d` in one tree: `.`, `..`, then its children in order; in the primary tree
 * with Rock Ridge entries, the root's `.` also with SP and the CE pointing at the ER (SUSP 5.3, 5.1).
 */
function dirRecords(tr: Tree, d: DirNode, time: Date): Buffer[] {
  const rr = tr === PRIMARY;
  const links = (x: DirNode) => 2 + [...x.children.values()].filter((c) => c.kind === 'dir').length;
  const parent = d.parent ?? d;
  const ofDir = (id: Buffer, x: DirNode, susp: Buffer[]) =>
    record(id, x.at[tr].extent, x.at[tr].size, FLAG_DIR, time, susp);
  const dirEntries = (x: DirNode, before: Buffer[] = [], after: Buffer[] = []) =>
    rr ? [...before, px(MODE_DIR, links(x)), tf(time), ...after] : [];
  const out = [
    ofDir(
      Buffer.from([0]),
      d,
      dirEntries(d, d.parent === null ? [sp(), ce(CE_SECTOR, 0, extensionsReference().length)] : []),
    ),
    ofDir(Buffer.from([1]), parent, dirEntries(parent)),
  ];
  for (const c of d.sorted[tr])
    out.push(
      c.kind === 'dir'
        ? ofDir(c.id[tr], c, dirEntries(c, [], [nm(c.name)]))
        : record(
            c.id[tr],
            c.extent,
            c.data.length,
            0,
            time,
            rr ? [px(MODE_FILE, 1), tf(time), nm(c.name)] : [],
          ),
    );
  return out;
}

/** A directory record (ECMA-119 9.1) with System Use entries `susp`. */
function record(id: Buffer, extent: number, size: number, flags: number, time: Date, susp: Buffer[]): Buffer {
  const head = 33 + id.length + (id.length % 2 === 0 ? 1 : 0);
  const suspLength = susp.reduce((n, e) => n + e.length, 0);
  let length = head + suspLength;
  length += length % 2;
  if (length > 255)
    throw new Error(`ISO 9660 record of ${id.toString('latin1')} is too long (${length} bytes)`);
  const r = Buffer.alloc(length);
  r[0] = length;
  both32(r, 2, extent);
  both32(r, 10, size);
  dirTime(r, 18, time);
  r[25] = flags;
  both16(r, 28, 1);
  r[32] = id.length;
  id.copy(r, 33);
  let at = head;
  for (const e of susp) at += e.copy(r, at);
  return r;
}

/** A path table record (ECMA-119 9.4) written at `at`; its length. */
function pathRecord(
  image: Buffer,
  at: number,
  id: Buffer,
  extent: number,
  parent: number,
  order: 'LE' | 'BE',
): number {
  image[at] = id.length;
  if (order === 'LE') {
    image.writeUInt32LE(extent, at + 2);
    image.writeUInt16LE(parent, at + 6);
  } else {
    image.writeUInt32BE(extent, at + 2);
    image.writeUInt16BE(parent, at + 6);
  }
  id.copy(image, at + 8);
  return pathRecordLength(id.length);
}

const pathRecordLength = (idLength: number) => 8 + idLength + (idLength % 2);

/** A primary (type 1) or Joliet supplementary (type 2) volume descriptor (ECMA-119 8.4, 8.5) at `sector`. */
function volumeDescriptor(
  image: Buffer,
  sector: number,
  tr: Tree,
  label: string,
  total: number,
  pathTable: { size: number; l: number; m: number },
  root: DirNode,
  time: Date,
): void {
  const v = image.subarray(sector * SECTOR, (sector + 1) * SECTOR);
  const text = (at: number, length: number, s: string) => {
    if (tr === PRIMARY) v.write(s.padEnd(length, ' '), at, length, 'latin1');
    else ucs2(s.padEnd(length / 2, ' ')).copy(v, at, 0, length);
  };
  v[0] = tr === PRIMARY ? 1 : 2;
  v.write('CD001', 1, 'latin1');
  v[6] = 1;
  text(8, 32, 'LINUX');
  text(40, 32, label);
  both32(v, 80, total);
  if (tr === JOLIET) v.write('%/E', 88, 'latin1');
  both16(v, 120, 1);
  both16(v, 124, 1);
  both16(v, 128, SECTOR);
  both32(v, 132, pathTable.size);
  v.writeUInt32LE(pathTable.l, 140);
  v.writeUInt32BE(pathTable.m, 148);
  record(Buffer.from([0]), root.at[tr].extent, root.at[tr].size, FLAG_DIR, time, []).copy(v, 156);
  for (const [at, length] of [
    [190, 128],
    [318, 128],
    [446, 128],
    [574, 128],
    [702, 37],
    [739, 37],
    [776, 37],
  ] as const)
    text(at, length, '');
  volumeTime(v, 813, time);
  volumeTime(v, 830, time);
  volumeTime(v, 847, null);
  volumeTime(v, 864, null);
  v[881] = 1;
}

/** A System Use entry (SUSP 4.1): signature, length, version 1, then `bodyLength` zero bytes to fill. */
function entry(signature: string, bodyLength: number): Buffer {
  const e = Buffer.alloc(4 + bodyLength);
  e.write(signature, 0, 'latin1');
  e[2] = e.length;
  e[3] = 1;
  return e;
}

/** SUSP "SP": the System Use Sharing Protocol is in use, no bytes skipped (SUSP 5.3). */
function sp(): Buffer {
  const e = entry('SP', 3);
  e.set([0xbe, 0xef, 0], 4);
  return e;
}

/** SUSP "CE": the rest of the entries are `length` bytes at `offset` in sector `sector` (SUSP 5.1). */
function ce(sector: number, offset: number, length: number): Buffer {
  const e = entry('CE', 24);
  both32(e, 4, sector);
  both32(e, 12, offset);
  both32(e, 20, length);
  return e;
}

/** SUSP "ER": the extension in use is Rock Ridge 1.10 (SUSP 5.5), then "ST", the end of the entries. */
function extensionsReference(): Buffer {
  const texts = [RRIP_ID, RRIP_DES, RRIP_SRC].map((t) => Buffer.from(t, 'latin1'));
  const body = Buffer.concat(texts);
  const er = entry('ER', 4 + body.length);
  er.set([...texts.map((t) => t.length), 1], 4);
  body.copy(er, 8);
  return Buffer.concat([er, entry('ST', 0)]);
}

/** RRIP "PX": POSIX mode and link count, owner and group 0 (RRIP 1.10 4.1.1: 36 bytes). */
function px(mode: number, links: number): Buffer {
  const e = entry('PX', 32);
  both32(e, 4, mode);
  both32(e, 12, links);
  return e;
}

/** RRIP "TF": modification, access and attribute-change times, 7-byte form (RRIP 1.10 4.1.6). */
function tf(time: Date): Buffer {
  const e = entry('TF', 1 + 3 * 7);
  e[4] = 0x02 | 0x04 | 0x08;
  for (let i = 0; i < 3; i++) dirTime(e, 5 + 7 * i, time);
  return e;
}

/** RRIP "NM": the POSIX name, UTF-8 (RRIP 1.10 4.1.4). */
function nm(name: string): Buffer {
  const n = Buffer.from(name, 'utf8');
  const e = entry('NM', 1 + n.length);
  n.copy(e, 5);
  return e;
}

/** A both-byte-order 32-bit number (ECMA-119 7.3.3). */
function both32(b: Buffer, at: number, n: number): void {
  b.writeUInt32LE(n, at);
  b.writeUInt32BE(n, at + 4);
}

/** A both-byte-order 16-bit number (ECMA-119 7.2.3). */
function both16(b: Buffer, at: number, n: number): void {
  b.writeUInt16LE(n, at);
  b.writeUInt16BE(n, at + 2);
}

/** A 7-byte recording time in UTC (ECMA-119 9.1.5). */
function dirTime(b: Buffer, at: number, t: Date): void {
  b.set(
    [
      t.getUTCFullYear() - 1900,
      t.getUTCMonth() + 1,
      t.getUTCDate(),
      t.getUTCHours(),
      t.getUTCMinutes(),
      t.getUTCSeconds(),
      0,
    ],
    at,
  );
}

/** A 17-byte volume time in UTC (ECMA-119 8.4.26.1); `null` is "not specified" (digits 0, offset 0). */
function volumeTime(b: Buffer, at: number, t: Date | null): void {
  const two = (n: number) => String(n).padStart(2, '0');
  const digits = t
    ? `${String(t.getUTCFullYear()).padStart(4, '0')}${two(t.getUTCMonth() + 1)}${two(t.getUTCDate())}${two(t.getUTCHours())}${two(t.getUTCMinutes())}${two(t.getUTCSeconds())}${two(Math.floor(t.getUTCMilliseconds() / 10))}`
    : '0000000000000000';
  b.write(digits, at, 16, 'latin1');
  b[at + 16] = 0;
}
