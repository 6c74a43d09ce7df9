/**
 * The Heat (HOT) intrinsic functions that may run on values known only after apply, so the engine can
 * compute them then (https://docs.openstack.org/heat/latest/template_guide/hot_spec.html#intrinsic-functions):
 * str_replace (and _strict, _vstr), list_join, str_split, repeat, map_merge, map_replace, digest,
 * filter, contains, equals, and the text the OS::Heat config types render (cloud-config, MIME
 * multipart) and the `networks` / `addresses` attributes of a server in Heat's shapes. The HOT loader
 * calls the same functions on values known when it loads (loaders/heat), and leaves a call to one of
 * these (named `heat:NAME`, a name no stack-file expression can spell) where an argument is known only
 * after apply. Pure; errors are FunctionError with Heat's wording, never quoting a value.
 */
import { createHash } from 'node:crypto';
import { stringify as yamlStringify } from '../util/yaml.generated.js';
import { FunctionError, kindOf as kindOfValue } from './function-error.js';

type Fn = (args: unknown[]) => unknown;

/** Heat's wording of a value's kind (`a boolean`). */
const kindOf = (v: unknown): string => kindOfValue(v, 'a boolean');

const isMap = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * A value as Heat puts it into a string: strings as they are, numbers and booleans as text, null as
 * the empty string, lists and maps as JSON (Heat json-dumps them since Newton).
 */
export function heatText(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v === null || v === undefined) return '';
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}

/** Heat's comparison for equals / contains / filter: structural equality of plain values. */
function same(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => same(x, b[i]));
  if (isMap(a) && isMap(b)) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => Object.hasOwn(b, k) && same(a[k], b[k]));
  }
  return false;
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * str_replace: every key of `params` in `template` replaced by its value in one pass, longer keys
 * first (so `$var1` is not replaced by `$var`'s value), as Heat does. `mode` strict: every key must
 * occur in the template; vstr: every value must be a string or number.
 */
function strReplace(name: string, args: unknown[], mode: 'plain' | 'strict' | 'vstr'): string {
  const [template, params] = args;
  if (typeof template !== 'string')
    throw new FunctionError(`${name}: "template" must be a string, got ${kindOf(template)}`);
  if (!isMap(params)) throw new FunctionError(`${name}: "params" must be a map, got ${kindOf(params)}`);
  const keys = Object.keys(params).filter((k) => k !== '');
  for (const k of keys) {
    const v = params[k];
    if (mode === 'vstr' && typeof v !== 'string' && typeof v !== 'number')
      throw new FunctionError(`${name}: the value of "${k}" must be a string or number, got ${kindOf(v)}`);
    if (mode === 'strict' && !template.includes(k))
      throw new FunctionError(`${name}: the key "${k}" does not occur in the template`);
  }
  if (keys.length === 0) return template;
  keys.sort((a, b) => b.length - a.length);
  const re = new RegExp(keys.map(escapeRe).join('|'), 'g');
  return template.replace(re, (m) => heatText(params[m]));
}

/** list_join: the delimiter, then one or more lists, joined into one string. */
function listJoin(args: unknown[]): string {
  if (args.length < 2) throw new FunctionError('list_join takes a delimiter and at least one list');
  const [delim, ...lists] = args;
  if (typeof delim !== 'string')
    throw new FunctionError(`list_join: the delimiter must be a string, got ${kindOf(delim)}`);
  const items: string[] = [];
  for (const [i, l] of lists.entries()) {
    if (!Array.isArray(l))
      throw new FunctionError(`list_join: argument ${i + 2} must be a list, got ${kindOf(l)}`);
    for (const x of l) items.push(heatText(x));
  }
  return items.join(delim);
}

/** str_split: delimiter, string, and optionally the index of the part wanted. */
function strSplit(args: unknown[]): unknown {
  if (args.length < 2 || args.length > 3)
    throw new FunctionError(
      `str_split takes 2 or 3 arguments (delimiter, string, index), got ${args.length}`,
    );
  const [delim, s, index] = args;
  if (typeof delim !== 'string' || delim === '')
    throw new FunctionError('str_split: the delimiter must be a non-empty string');
  if (typeof s !== 'string')
    throw new FunctionError(`str_split: the value must be a string, got ${kindOf(s)}`);
  const parts = s.split(delim);
  if (args.length === 2) return parts;
  const i = typeof index === 'string' && /^\d+$/.test(index) ? Number(index) : index;
  if (typeof i !== 'number' || !Number.isInteger(i) || i < 0)
    throw new FunctionError('str_split: the index must be a whole number, 0 or more');
  if (i >= parts.length)
    throw new FunctionError(`str_split: index ${i} is out of range: the string has ${parts.length} parts`);
  return parts[i];
}

/** Replaces every placeholder in strings (values and keys) of `t`, as repeat's template does. */
function substitute(t: unknown, subs: ReadonlyMap<string, string>): unknown {
  if (typeof t === 'string') {
    let s = t;
    for (const [k, v] of subs) s = s.split(k).join(v);
    return s;
  }
  if (Array.isArray(t)) return t.map((x) => substitute(x, subs));
  if (isMap(t)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(t)) out[substitute(k, subs) as string] = substitute(v, subs);
    return out;
  }
  return t;
}

/** Most results repeat may make (a guard against a template that multiplies into millions). */
const REPEAT_LIMIT = 100_000;

/** repeat: `template` once per combination of the `for_each` lists (their cartesian product). */
function repeat(args: unknown[]): unknown[] {
  const [spec] = args;
  if (args.length !== 1 || !isMap(spec))
    throw new FunctionError('repeat takes a map with "for_each" and "template"');
  const forEach = spec.for_each;
  if (!isMap(forEach)) throw new FunctionError('repeat: "for_each" must be a map of placeholders to lists');
  const vars = Object.entries(forEach);
  let combos: [string, string][][] = [[]];
  for (const [k, l] of vars) {
    if (!Array.isArray(l)) throw new FunctionError(`repeat: the value of "${k}" in for_each must be a list`);
    if (combos.length * l.length > REPEAT_LIMIT)
      throw new FunctionError(`repeat: more than ${REPEAT_LIMIT} combinations`);
    combos = combos.flatMap((c) => l.map((x) => [...c, [k, heatText(x)] as [string, string]]));
  }
  return combos.map((c) => substitute(spec.template, new Map(c)));
}

function mapMerge(args: unknown[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [i, m] of args.entries()) {
    if (m === null) continue;
    if (!isMap(m)) throw new FunctionError(`map_merge: argument ${i + 1} must be a map, got ${kindOf(m)}`);
    for (const [k, v] of Object.entries(m)) {
      if (k === '__proto__')
        Object.defineProperty(out, k, { value: v, writable: true, enumerable: true, configurable: true });
      else out[k] = v;
    }
  }
  return out;
}

/** map_replace: keys and/or values of a map renamed by the `keys` / `values` maps. */
function mapReplace(args: unknown[]): Record<string, unknown> {
  const [m, spec] = args;
  if (!isMap(m)) throw new FunctionError(`map_replace: the first argument must be a map, got ${kindOf(m)}`);
  if (!isMap(spec))
    throw new FunctionError('map_replace: the second argument must be a map with keys/values');
  for (const k of Object.keys(spec))
    if (k !== 'keys' && k !== 'values')
      throw new FunctionError(`map_replace: unknown key "${k}"; expected keys, values`);
  const keys = spec.keys ?? {};
  const values = spec.values ?? {};
  if (!isMap(keys) || !isMap(values)) throw new FunctionError('map_replace: keys and values must be maps');
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(m)) {
    const nk = Object.hasOwn(keys, k) ? heatText(keys[k]) : k;
    if (Object.hasOwn(out, nk))
      throw new FunctionError(`map_replace: the key "${nk}" would appear twice in the result`);
    const vk = typeof v === 'string' || typeof v === 'number' ? String(v) : undefined;
    out[nk] = vk !== undefined && Object.hasOwn(values, vk) ? values[vk] : v;
  }
  return out;
}

const DIGESTS = new Set(['md5', 'sha1', 'sha224', 'sha256', 'sha384', 'sha512']);

function digest(args: unknown[]): string {
  if (args.length !== 2) throw new FunctionError('digest takes 2 arguments: the algorithm and the value');
  const [alg, v] = args;
  if (typeof alg !== 'string' || !DIGESTS.has(alg))
    throw new FunctionError(`digest: the algorithm must be one of ${[...DIGESTS].join(', ')}`);
  if (typeof v !== 'string') throw new FunctionError(`digest: the value must be a string, got ${kindOf(v)}`);
  return createHash(alg).update(v, 'utf8').digest('hex');
}

function filter(args: unknown[]): unknown[] {
  if (args.length !== 2) throw new FunctionError('filter takes 2 arguments: the values to remove and a list');
  const [remove, l] = args;
  if (!Array.isArray(remove)) throw new FunctionError('filter: the values to remove must be a list');
  if (!Array.isArray(l))
    throw new FunctionError(`filter: the second argument must be a list, got ${kindOf(l)}`);
  return l.filter((x) => !remove.some((r) => same(r, x)));
}

function contains(args: unknown[]): boolean {
  if (args.length !== 2) throw new FunctionError('contains takes 2 arguments: a value and a sequence');
  const [v, seq] = args;
  if (typeof seq === 'string') return typeof v === 'string' && seq.includes(v);
  if (!Array.isArray(seq))
    throw new FunctionError(`contains: the sequence must be a list, got ${kindOf(seq)}`);
  return seq.some((x) => same(x, v));
}

/** The user data of OS::Heat::CloudConfig: `#cloud-config` and the map as YAML. */
export function cloudConfigText(cfg: unknown): string {
  if (cfg !== null && !isMap(cfg)) throw new FunctionError(`cloud_config must be a map, got ${kindOf(cfg)}`);
  return `#cloud-config\n${yamlStringify(cfg ?? {}, { lineWidth: 0 })}`;
}

/** The MIME subtype a part gets when it names none: from its first line, as cloud-init reads it. */
function subtypeOf(text: string): string {
  if (text.startsWith('#cloud-config')) return 'cloud-config';
  if (text.startsWith('#!')) return 'x-shellscript';
  if (text.startsWith('#include')) return 'x-include-url';
  if (text.startsWith('#cloud-boothook')) return 'cloud-boothook';
  if (text.startsWith('Content-Type: multipart/')) return 'x-multipart';
  return 'plain';
}

/**
 * The user data of OS::Heat::MultipartMime: a MIME multipart/mixed message of the parts (`config`,
 * `filename`, `subtype`, `type` text|multipart), which cloud-init runs part by part. The boundary is
 * derived from the content, so the same parts always give the same text (and plans stay empty).
 */
export function multipartText(parts: unknown): string {
  if (!Array.isArray(parts)) throw new FunctionError(`parts must be a list, got ${kindOf(parts)}`);
  const items = parts.map((p, i) => {
    if (!isMap(p)) throw new FunctionError(`parts[${i}] must be a map with config`);
    const config = heatText(p.config);
    const type = p.type ?? 'text';
    if (type !== 'text' && type !== 'multipart')
      throw new FunctionError(`parts[${i}].type must be text or multipart`);
    return { config, type, filename: p.filename, subtype: p.subtype };
  });
  const boundary = `===============${createHash('sha256').update(JSON.stringify(items)).digest('hex').slice(0, 19)}==`;
  const out = [`Content-Type: multipart/mixed; boundary="${boundary}"`, 'MIME-Version: 1.0', ''];
  items.forEach((p, i) => {
    out.push(`--${boundary}`);
    if (p.type === 'multipart') {
      // A nested message is included as it is, with its own headers.
      out.push(p.config);
      return;
    }
    const subtype = typeof p.subtype === 'string' ? p.subtype : subtypeOf(p.config);
    const filename = typeof p.filename === 'string' ? p.filename : `part${i + 1}`;
    out.push(
      `Content-Type: text/${subtype}; charset="utf-8"`,
      'MIME-Version: 1.0',
      'Content-Transfer-Encoding: 8bit',
      `Content-Disposition: attachment; filename="${filename}"`,
      '',
      p.config,
    );
  });
  out.push(`--${boundary}--`, '');
  return out.join('\n');
}

/**
 * A server's `networks` attribute in Heat's shape, `{NETWORK: [ADDRESS, ...]}`, keyed by each
 * network's name and by its id, from the server's addresses (`[{network, ip}]`); `names` pairs
 * network ids with their names in the template.
 */
function networks(args: unknown[]): Record<string, string[]> {
  const [addresses, names] = args;
  const out: Record<string, string[]> = {};
  const byId = new Map<string, string>();
  for (const p of Array.isArray(names) ? names : [])
    if (Array.isArray(p) && typeof p[0] === 'string' && typeof p[1] === 'string') byId.set(p[0], p[1]);
  for (const a of Array.isArray(addresses) ? addresses : []) {
    if (!isMap(a) || typeof a.network !== 'string' || typeof a.ip !== 'string') continue;
    for (const k of new Set([a.network, byId.get(a.network) ?? a.network])) {
      out[k] ??= [];
      out[k].push(a.ip);
    }
  }
  return out;
}

/** A server's `addresses` attribute in Heat's (Nova's) shape: `{NETWORK: [{addr, version, OS-EXT-IPS-MAC:mac_addr}]}`. */
function addresses(args: unknown[]): Record<string, unknown[]> {
  const [list, names] = args;
  const out: Record<string, unknown[]> = {};
  const byId = new Map<string, string>();
  for (const p of Array.isArray(names) ? names : [])
    if (Array.isArray(p) && typeof p[0] === 'string' && typeof p[1] === 'string') byId.set(p[0], p[1]);
  for (const a of Array.isArray(list) ? list : []) {
    if (!isMap(a) || typeof a.network !== 'string') continue;
    const k = byId.get(a.network) ?? a.network;
    out[k] ??= [];
    out[k].push({
      addr: a.ip,
      version: 4,
      'OS-EXT-IPS-MAC:mac_addr': a.mac,
      'OS-EXT-IPS:type': 'fixed',
    });
  }
  return out;
}

/** The Heat functions the engine can call at apply, by their engine name (`heat:NAME`). */
export const HEAT_FUNCTIONS: Readonly<Record<string, Fn>> = {
  'heat:str_replace': (a) => strReplace('str_replace', a, 'plain'),
  'heat:str_replace_strict': (a) => strReplace('str_replace_strict', a, 'strict'),
  'heat:str_replace_vstr': (a) => strReplace('str_replace_vstr', a, 'vstr'),
  'heat:list_join': listJoin,
  'heat:str_split': strSplit,
  'heat:repeat': repeat,
  'heat:map_merge': mapMerge,
  'heat:map_replace': mapReplace,
  'heat:digest': digest,
  'heat:filter': filter,
  'heat:contains': contains,
  'heat:equals': (a) => {
    if (a.length !== 2) throw new FunctionError('equals takes 2 arguments');
    return same(a[0], a[1]);
  },
  'heat:cloud_config': (a) => cloudConfigText(a[0]),
  'heat:multipart': (a) => multipartText(a[0]),
  'heat:networks': networks,
  'heat:addresses': addresses,
  /** A value as Heat puts it into a string (list_join's elements, str_replace's values). */
  'heat:text': (a) => heatText(a[0]),
};
