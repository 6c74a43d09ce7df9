/**
 * Heat's own types computed by the loader: Value, RandomString, CloudConfig, SoftwareConfig, MultipartMime, None.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { Ref, type Value } from '../../engine/expr.js';
import { isSymbolic, type Taint } from '../../expand/evaluate.js';
import {
  type Decl,
  HeatError,
  index,
  isPlainMap,
  Reported,
  type TemplateScope,
  withTaint,
} from './common.js';
import type { HeatLoader } from './load.js';
import { convertParameter, PARAMETER_TYPES, type ParameterType } from './parameters.js';

export function heatResource(L: HeatLoader, scope: TemplateScope, decl: Decl): NonNullable<Decl['value']> {
  const { src } = scope;
  const field = `resources.${decl.name}`;
  const propsNode = src.get(decl.node, 'properties');
  const { values, ok, taint } = L.properties(scope, decl, propsNode, [], field);
  if (!ok) throw new Reported();
  const p = (k: string) => values.get(k)?.value;
  const known = (allowed: string[]) => {
    for (const [k, v] of values)
      if (!allowed.includes(k))
        throw new HeatError(`unknown property of ${decl.type}; properties: ${allowed.join(', ')}`, v.key);
  };
  const plain = (id: Value, attrs: Record<string, Value>, t: Taint = taint) => ({
    id,
    attrs: (attr: string, path: (string | number)[], node: unknown) => {
      if (!Object.hasOwn(attrs, attr))
        throw new HeatError(
          `${decl.type} ${decl.name} has no attribute ${attr} (attributes: ${Object.keys(attrs).join(', ') || 'none'})`,
          node,
        );
      return withTaint(index(attrs[attr]!, path, node), t);
    },
    taint: t,
  });
  switch (decl.type) {
    case 'OS::Heat::None':
      return plain(null, {});
    case 'OS::Heat::Value': {
      known(['value', 'type']);
      let v = p('value') ?? null;
      const t = p('type');
      if (t !== undefined) {
        if (!PARAMETER_TYPES.includes(t as ParameterType))
          throw new HeatError(`type must be one of ${PARAMETER_TYPES.join(', ')}`, values.get('type')!.node);
        const c = convertParameter(t as ParameterType, v);
        if ('error' in c) throw new HeatError(`value ${c.error}`, values.get('value')?.node ?? decl.node);
        v = c.value;
      }
      return plain(decl.name, { value: v });
    }
    case 'OS::Heat::RandomString': {
      known(['length', 'sequence', 'character_classes', 'character_sequences', 'salt']);
      const value = L.randomString(scope, decl, values);
      const t: Taint = { sensitive: `the random string ${decl.name}` };
      return plain(value, { value }, t);
    }
    case 'OS::Heat::CloudConfig': {
      known(['cloud_config']);
      const text = L.fn(
        'heat:cloud_config',
        [p('cloud_config') ?? {}],
        values.get('cloud_config')?.node ?? decl.node,
        'cloud_config',
      );
      return plain(text, { config: text });
    }
    case 'OS::Heat::SoftwareConfig': {
      known(['config', 'group', 'inputs', 'outputs', 'options']);
      const group = p('group') ?? 'Heat::Ungrouped';
      if (group !== 'Heat::Ungrouped' && group !== 'ungrouped' && group !== 'script')
        throw new HeatError(
          `group ${JSON.stringify(group)} needs Heat software deployments (a config tool on the guest), which are not supported; use group script or leave it out`,
          values.get('group')!.node,
        );
      for (const k of ['inputs', 'outputs', 'options']) {
        const v = p(k);
        if (
          v !== undefined &&
          !(Array.isArray(v) && v.length === 0) &&
          !(isPlainMap(v) && Object.keys(v).length === 0)
        )
          L.diags.warning(
            `ignored: ${k} need Heat software deployments, which are not supported (the config is used as user data)`,
            `${field}.properties.${k}`,
            src.pos(values.get(k)!.key),
          );
      }
      const text = p('config') ?? '';
      return plain(text, { config: text });
    }
    case 'OS::Neutron::FloatingIPAssociation': {
      known(['floatingip_id', 'port_id', 'fixed_ip_address']);
      const fip = floatingIpAssociation(L, scope, decl, values);
      return plain(fip, {});
    }
    case 'OS::Heat::MultipartMime': {
      known(['parts', 'group']);
      const text = L.fn(
        'heat:multipart',
        [p('parts') ?? []],
        values.get('parts')?.node ?? decl.node,
        'MultipartMime',
      );
      return plain(text, { config: text });
    }
  }
  throw new HeatError(`unknown Heat type ${decl.type}`, decl.node);
}

/**
 * OS::Heat::RandomString: `length` characters from the classes and sequences asked for, each at
 * least its `min` times. Heat generates it once and keeps it in the stack; here it is derived from the
 * stack's secret seed (kept in state, see {@link seedFor}), the resource's name and its properties, so
 * it is the same at every plan of an applied stack and changes when the properties (or `salt`) do.
 */
export function randomString(
  L: HeatLoader,
  scope: TemplateScope,
  decl: Decl,
  values: Map<string, { value: Value; node: unknown }>,
): string {
  const v = (k: string) => values.get(k)?.value;
  const node = (k: string) => values.get(k)?.node ?? decl.node;
  const length = v('length') ?? 32;
  if (typeof length !== 'number' || !Number.isInteger(length) || length < 1 || length > 512)
    throw new HeatError('length must be a whole number from 1 to 512', node('length'));
  const CLASSES: Record<string, string> = {
    lettersdigits: 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789',
    letters: 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz',
    lowercase: 'abcdefghijklmnopqrstuvwxyz',
    uppercase: 'ABCDEFGHIJKLMNOPQRSTUVWXYZ',
    digits: '0123456789',
    hexdigits: '0123456789abcdef',
    octdigits: '01234567',
  };
  const pools: { chars: string; min: number }[] = [];
  const seq = v('sequence');
  if (seq !== undefined) {
    if (typeof seq !== 'string' || !CLASSES[seq])
      throw new HeatError(`sequence must be one of ${Object.keys(CLASSES).join(', ')}`, node('sequence'));
    pools.push({ chars: CLASSES[seq]!, min: 0 });
  }
  const classes = v('character_classes');
  if (classes !== undefined) {
    if (!Array.isArray(classes))
      throw new HeatError('character_classes must be a list of {class, min}', node('character_classes'));
    for (const c of classes) {
      const cls = isPlainMap(c) ? (c.class ?? 'lettersdigits') : undefined;
      const min = isPlainMap(c) ? (c.min ?? 1) : undefined;
      if (typeof cls !== 'string' || !CLASSES[cls] || typeof min !== 'number')
        throw new HeatError(
          `each character class is {class: ${Object.keys(CLASSES).join('|')}, min: N}`,
          node('character_classes'),
        );
      pools.push({ chars: CLASSES[cls]!, min });
    }
  }
  const seqs = v('character_sequences');
  if (seqs !== undefined) {
    if (!Array.isArray(seqs))
      throw new HeatError(
        'character_sequences must be a list of {sequence, min}',
        node('character_sequences'),
      );
    for (const c of seqs) {
      const s = isPlainMap(c) ? c.sequence : undefined;
      const min = isPlainMap(c) ? (c.min ?? 1) : undefined;
      if (typeof s !== 'string' || s === '' || typeof min !== 'number')
        throw new HeatError(
          'each character sequence is {sequence: CHARS, min: N}',
          node('character_sequences'),
        );
      pools.push({ chars: s, min });
    }
  }
  if (pools.length === 0) pools.push({ chars: CLASSES.lettersdigits!, min: 0 });
  const mins = pools.reduce((a, p) => a + p.min, 0);
  if (mins > length)
    throw new HeatError(
      `the minimums of the character classes and sequences add up to ${mins}, more than length ${length}`,
      node('length'),
    );
  if (isSymbolic(Object.fromEntries([...values].map(([k, x]) => [k, x.value])) as Value))
    throw new HeatError('the properties of a RandomString must be known before apply', decl.node);
  // A stream of bytes from the seed: HMAC-SHA256 over the resource and a counter.
  const key = L.seedFor();
  const material = JSON.stringify([scope.prefix, decl.name, [...values].map(([k, x]) => [k, x.value])]);
  let counter = 0;
  let buf = Buffer.alloc(0);
  const byte = (): number => {
    if (buf.length === 0) buf = createHmac('sha256', key).update(`${material}\0${counter++}`).digest();
    const b = buf[0]!;
    buf = buf.subarray(1);
    return b;
  };
  // An unbiased pick of one of n (rejection sampling).
  const pick = (n: number): number => {
    const limit = 256 - (256 % n);
    for (;;) {
      const b = byte();
      if (b < limit) return b % n;
    }
  };
  const chars: string[] = [];
  for (const p of pools) for (let i = 0; i < p.min; i++) chars.push(p.chars[pick(p.chars.length)]!);
  const all = [...new Set(pools.map((p) => p.chars).join(''))].join('');
  while (chars.length < length) chars.push(all[pick(all.length)]!);
  for (let i = chars.length - 1; i > 0; i--) {
    const j = pick(i + 1);
    [chars[i], chars[j]] = [chars[j]!, chars[i]!];
  }
  return chars.join('');
}

/**
 * The stack's random seed: the one the options give (the state's, StateDoc.randomSeed), else a fresh
 * one (a stack never applied, or a load that keeps nothing, such as validate). Either way the config
 * says which (StackConfig.randomSeed), so that apply keeps it in state. Nothing is written here.
 */
export function seedFor(L: HeatLoader): Buffer {
  if (!L.seed) {
    const given = L.opts.randomSeed;
    L.seed = given && /^[0-9a-f]{64}$/.test(given) ? Buffer.from(given, 'hex') : randomBytes(32);
    L.config.randomSeed = L.seed.toString('hex');
  }
  return L.seed;
}

/**
 * OS::Neutron::FloatingIPAssociation: Stratus keeps a floating IP's association on the floating IP
 * (floating_ip `server`, changed in place), so the association sets the server of the floating IP it
 * names: `floatingip_id` must be {get_resource: FIP} of an OS::Neutron::FloatingIP of the stack that has
 * no port_id (nor another association), and `port_id` a port that is the first NIC of a server of the
 * stack (the floating IP maps to a server's first port). Returns the floating IP's reference, which is
 * also the association's id (Heat's is its own; nothing but the floating IP is made).
 */
function floatingIpAssociation(
  L: HeatLoader,
  scope: TemplateScope,
  decl: Decl,
  values: Map<string, { value: Value; node: unknown }>,
): Value {
  const fip = values.get('floatingip_id');
  const port = values.get('port_id');
  if (!fip) throw new HeatError('floatingip_id is required', decl.node);
  if (!port) throw new HeatError('port_id is required', decl.node);
  const fixed = values.get('fixed_ip_address');
  if (fixed && fixed.value !== null)
    throw new HeatError(
      "Stratus maps a floating IP to its server's first address: fixed_ip_address is not supported",
      fixed.node,
    );
  const ref = fip.value;
  const target =
    ref instanceof Ref && ref.path.length === 0 && ref.resource.startsWith(scope.prefix)
      ? scope.decls.get(ref.resource.slice(scope.prefix.length))
      : undefined;
  if (target) L.realize(scope, target);
  const rc = ref instanceof Ref ? L.config.resources.get(ref.resource) : undefined;
  if (!(ref instanceof Ref) || !rc || rc.type !== 'floating_ip')
    throw new HeatError(
      'floatingip_id must be {get_resource: FIP} of an OS::Neutron::FloatingIP of the template',
      fip.node,
    );
  if (rc.properties.server !== undefined)
    throw new HeatError(
      `the floating IP ${ref.resource} is already associated (by its port_id or another FloatingIPAssociation)`,
      fip.node,
    );
  const server = L.serverOfPort(port.value);
  if (server === undefined)
    throw new HeatError(
      'Stratus maps a floating IP to a server: port_id must be {get_resource: PORT} of a port that is the first NIC of a server of the stack',
      port.node,
    );
  rc.properties.server = server;
  return ref;
}
