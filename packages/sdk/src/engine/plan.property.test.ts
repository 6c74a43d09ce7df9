// Property tests of plan and apply: random valid stacks, written as stack files, applied to an in-memory
// world with a real local state file; then random edits, whose plans must follow the schema metadata and
// whose applies must reach the edited config. fast-check prints the seed and the shrunk case on failure.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { after, describe, test } from 'node:test';
import {
  type AttributeInfo,
  attributes,
  hostnameFromName,
  hostnameProblem,
  type ResourceType,
  resourceTypes,
  schemas,
} from '@stratus/model';
import fc from 'fast-check';
import { parse, stringify } from 'yaml';
import { loadStackText } from '../loaders/stack-yaml.js';
import { providersFor } from '../protocol/index.js';
import type { ResourceIO } from '../protocol/io.js';
import { checkStateDoc } from '../state/check.js';
import { LocalBackend } from '../state/local.js';
import { type StateBackend, type StateDoc, StateError, type StateResource } from '../state/types.js';
import { MemoryHandlers } from '../testing/memory-handlers.js';
import { applyPlan } from './apply.js';
import { checkStack } from './check.js';
import type { StackConfig } from './config.js';
import type { Graph } from './graph.js';
import { type Action, emptyState, hasChanges, makePlan, type Plan, summarize } from './plan.js';
import { refresh } from './refresh.js';

const FILE = '/virtual/stack.yaml';
const DIR = '/virtual';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

// ---- The stack model the generators produce ------------------------------------------------------

/** A reference to a resource: its id, or one of its attributes. */
class R {
  constructor(
    readonly to: string,
    readonly attr?: string,
  ) {}
}

/** A string with references in it. */
class T {
  constructor(readonly parts: readonly (string | R)[]) {}
}

/** A property value: JSON with references and templates. */
type V = string | number | boolean | R | T | V[] | { [k: string]: V };

/** One resource of a generated stack. */
interface Res {
  name: string;
  type: ResourceType;
  props: Record<string, V>;
  dependsOn: string[];
}

/** A generated stack, and what edits need to stay valid: names and CIDRs never used before. */
interface Model {
  resources: Res[];
  /** Every name ever used, so an added or renamed resource never takes an old resource's address. */
  used: Set<string>;
  cidrs: number[];
  nextCidr: number;
}

const inputAttrs = new Map<ResourceType, AttributeInfo[]>(
  resourceTypes.map((t) => [t, attributes(schemas[t]).filter((a) => a.input)]),
);

const cidrOf = (k: number) => `10.${k >> 8}.${k & 255}.0/24`;

/** The names `r` refers to in its properties (not its dependsOn). */
function refsIn(v: V | undefined, out: string[] = []): string[] {
  if (v instanceof R) out.push(v.to);
  else if (v instanceof T) for (const p of v.parts) refsIn(p, out);
  else if (Array.isArray(v)) for (const x of v) refsIn(x, out);
  else if (v !== null && typeof v === 'object') for (const x of Object.values(v)) refsIn(x, out);
  return out;
}

/** Structural equality of property values, references compared by what they name. */
function sameV(a: V | undefined, b: V | undefined): boolean {
  if (a instanceof R || b instanceof R)
    return a instanceof R && b instanceof R && a.to === b.to && a.attr === b.attr;
  if (a instanceof T || b instanceof T)
    return (
      a instanceof T &&
      b instanceof T &&
      a.parts.length === b.parts.length &&
      a.parts.every((p, i) => sameV(p, b.parts[i]))
    );
  if (Array.isArray(a) || Array.isArray(b))
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => sameV(x, b[i]));
  if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object') {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => k in b && sameV(a[k], b[k]));
  }
  return a === b;
}

/** Renames references to `from` inside a value. */
function renameIn(v: V, from: string, to: string): V {
  if (v instanceof R) return v.to === from ? new R(to, v.attr) : v;
  if (v instanceof T)
    return new T(v.parts.map((p) => (typeof p === 'string' ? p : (renameIn(p, from, to) as R))));
  if (Array.isArray(v)) return v.map((x) => renameIn(x, from, to));
  if (v !== null && typeof v === 'object')
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, renameIn(x, from, to)]));
  return v;
}

// ---- Stack files ---------------------------------------------------------------------------------

/** A literal string as written in a stack file: `${` is escaped as `$${`. */
// A function replacer: in a replacement string `$$` would stand for one `$`.
const lit = (s: string) => s.replaceAll('${', () => '$${');

function raw(v: V): unknown {
  if (v instanceof R) return `\${${v.to}${v.attr ? `.${v.attr}` : ''}}`;
  if (v instanceof T) return v.parts.map((p) => (typeof p === 'string' ? lit(p) : raw(p))).join('');
  if (typeof v === 'string') return lit(v);
  if (Array.isArray(v)) return v.map(raw);
  if (v !== null && typeof v === 'object')
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, raw(x)]));
  return v;
}

/**
 * YAML text of a plain value, for stack files. No block scalars: yaml 2.9 writes ' \n' as a `|+` block
 * that reads back as '\n'. No multi-line double-quoted strings either: yaml 2.9.1 writes a double-quoted
 * string of 40 characters or more that holds line breaks over several lines, and a line that starts with
 * a space as `\\ ` (an escaped backslash) where `\ ` (an escaped space) is meant, so "aaaa\n \na" read
 * back as "aaaa\n\\\na" (seed -2119108512). The loader reads both forms as YAML says; the fault was here.
 */
function toYamlText(v: unknown): string {
  return stringify(v, {
    blockQuote: false,
    lineWidth: 0,
    doubleQuotedMinMultiLineLength: Number.POSITIVE_INFINITY,
  });
}

/** The stack file of a model. */
function toYaml(m: Model): string {
  const resources: Record<string, unknown> = {};
  for (const r of m.resources) {
    const decl: Record<string, unknown> = { type: r.type };
    if (Object.keys(r.props).length) decl.properties = raw(r.props);
    if (r.dependsOn.length) decl.dependsOn = r.dependsOn;
    resources[r.name] = decl;
  }
  return toYamlText({ name: 'prop', resources });
}

/** A resource's input attributes as the engine should record them: defaults filled, local paths made absolute. */
function withDefaults(r: Res): Record<string, V | undefined> {
  const out: Record<string, V | undefined> = {};
  for (const a of inputAttrs.get(r.type)!) {
    let v = r.props[a.name];
    if (v === undefined && a.name === 'name') v = r.name;
    if (v === undefined && a.default !== undefined) v = structuredClone(a.default) as V;
    if (a.localPath && typeof v === 'string' && !isAbsolute(v)) v = resolve(DIR, v);
    out[a.name] = v;
  }
  // Values the type derives from others (a server's machine from its firmware), as the plan does.
  schemas[r.type].plan?.(out as Record<string, unknown>);
  return out;
}

/** A value with its references resolved against applied state. */
function resolveIn(v: V | undefined, state: Map<string, StateResource>): unknown {
  const target = (ref: R) => {
    const t = state.get(ref.to);
    assert.ok(t, `${ref.to} is not in state`);
    return ref.attr ? t.attributes[ref.attr] : t.id;
  };
  if (v instanceof R) return target(v);
  if (v instanceof T) return v.parts.map((p) => (typeof p === 'string' ? p : String(target(p)))).join('');
  if (Array.isArray(v)) return v.map((x) => resolveIn(x, state));
  if (v !== null && typeof v === 'object')
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, resolveIn(x, state)]));
  return v;
}

// ---- Generators ----------------------------------------------------------------------------------

/**
 * A server display name as generated, made valid when its derived guest host name is one dnsmasq refuses
 * (`0`, `12h`): a trailing `x` always gives a usable label.
 */
const serverName = (d: string | undefined): string | undefined => {
  if (d === undefined) return d;
  const h = hostnameFromName(d);
  return h === '' || hostnameProblem(h) === undefined ? d : `${d}x`;
};

const display = fc.option(fc.string({ minLength: 1, maxLength: 12 }), { nil: undefined });
const deps = fc.array(fc.nat(), { maxLength: 2 });
/** Text free of `$`: a literal `$` just before a reference cannot be written (`$${` is an escape). */
const plain = fc.string({
  unit: fc.constantFrom('a', 'Z', '0', ' ', '\n', '#', '!', '/', '"', ':', '-', '{', '}', 'é'),
  maxLength: 16,
});
const userData = fc.oneof(
  fc.string({
    unit: fc.constantFrom('a', ' ', '\n', '$', '{', '}', '#', '!', '/', "'", '\\'),
    maxLength: 24,
  }),
  fc.array(fc.oneof(plain, fc.record({ kind: fc.constantFrom('network', 'image'), pick: fc.nat() })), {
    minLength: 1,
    maxLength: 3,
  }),
);

const stackArb = fc.record({
  networks: fc.array(
    fc.record({ mtu: fc.option(fc.integer({ min: 576, max: 9000 }), { nil: undefined }), display, deps }),
    { minLength: 1, maxLength: 3 },
  ),
  subnets: fc.array(
    fc.record({
      network: fc.nat(),
      dns: fc.option(fc.array(fc.ipV4(), { maxLength: 2 }), { nil: undefined }),
      display,
      deps,
    }),
    { maxLength: 4 },
  ),
  images: fc.array(
    fc.record({
      source: fc.constantFrom(
        '/images/cirros.qcow2',
        'guest.qcow2',
        'disks/alpine.raw',
        '/srv/img/debian.img',
      ),
      display,
      deps,
    }),
    { maxLength: 2 },
  ),
  servers: fc.array(
    fc.record({
      image: fc.nat(),
      nics: fc.array(fc.record({ subnet: fc.boolean(), pick: fc.nat() }), { minLength: 1, maxLength: 2 }),
      vcpus: fc.option(fc.integer({ min: 1, max: 64 }), { nil: undefined }),
      memoryMb: fc.option(fc.integer({ min: 64, max: 1048576 }), { nil: undefined }),
      firmware: fc.option(fc.constantFrom('bios', 'uefi'), { nil: undefined }),
      machine: fc.option(fc.constantFrom('pc', 'q35'), { nil: undefined }),
      hostname: fc.option(fc.stringMatching(/^[a-z][a-z0-9]{0,8}$/), { nil: undefined }),
      publicKeys: fc.option(
        fc.dictionary(fc.constantFrom('alice', 'ci.key'), fc.constantFrom('ssh-ed25519 AAAA a')),
        {
          nil: undefined,
        },
      ),
      userData: fc.option(userData, { nil: undefined }),
      display,
      deps,
    }),
    { maxLength: 4 },
  ),
  cidrs: fc.uniqueArray(fc.integer({ min: 0, max: 65535 }), { minLength: 16, maxLength: 16 }),
});

type StackSeed = typeof stackArb extends fc.Arbitrary<infer S> ? S : never;

const pick = <X>(xs: readonly X[], n: number): X | undefined => (xs.length ? xs[n % xs.length] : undefined);
const ofType = (m: Model, t: ResourceType) => m.resources.filter((r) => r.type === t);

/** Builds a valid stack from generated choices: every reference names an existing resource of its type. */
function buildStack(s: StackSeed): Model {
  const m: Model = { resources: [], used: new Set(), cidrs: s.cidrs, nextCidr: 0 };
  const add = (
    name: string,
    type: ResourceType,
    props: Record<string, V | undefined>,
    depPicks: number[],
  ) => {
    // Explicit dependencies on earlier resources only, so the graph stays acyclic; never on servers
    // from a subnet (a server on a network depends on that network's subnets).
    const earlier = m.resources.filter((r) => !(type === 'subnet' && r.type === 'server')).map((r) => r.name);
    const dependsOn = [...new Set(depPicks.flatMap((p) => pick(earlier, p) ?? []))];
    const clean = Object.fromEntries(Object.entries(props).filter(([, v]) => v !== undefined)) as Record<
      string,
      V
    >;
    m.resources.push({ name, type, props: clean, dependsOn });
    m.used.add(name);
  };
  s.networks.forEach((n, i) => {
    add(`net${i}`, 'network', { mtu: n.mtu, name: n.display }, n.deps);
  });
  const nets = ofType(m, 'network').map((r) => r.name);
  s.subnets.forEach((n, i) => {
    add(
      `sub${i}`,
      'subnet',
      {
        network: new R(pick(nets, n.network)!),
        cidr: cidrOf(m.cidrs[m.nextCidr++]!),
        dnsNameservers: n.dns,
        name: n.display,
      },
      n.deps,
    );
  });
  s.images.forEach((n, i) => {
    add(`img${i}`, 'image', { source: n.source, name: n.display }, n.deps);
  });
  const images = ofType(m, 'image').map((r) => r.name);
  const subnets = ofType(m, 'subnet').map((r) => r.name);
  if (images.length)
    s.servers.forEach((n, i) => {
      const ud = n.userData;
      let userDataV: V | undefined;
      if (typeof ud === 'string') userDataV = ud;
      else if (ud) {
        const parts = ud.map((p) => {
          if (typeof p === 'string') return p;
          const to = pick(p.kind === 'network' ? nets : images, p.pick)!;
          return new R(to, p.kind === 'network' ? 'bridge' : 'checksum');
        });
        userDataV = new T(parts);
      }
      add(
        `vm${i}`,
        'server',
        {
          image: new R(pick(images, n.image)!),
          networks: n.nics.map((nic) =>
            nic.subnet && subnets.length
              ? nicOf('subnet', pick(subnets, nic.pick)!)
              : nicOf('network', pick(nets, nic.pick)!),
          ),
          vcpus: n.vcpus,
          memoryMb: n.memoryMb,
          firmware: n.firmware,
          // UEFI runs on q35 only (a plan error otherwise, tested elsewhere).
          machine: n.firmware === 'uefi' && n.machine === 'pc' ? 'q35' : n.machine,
          hostname: n.hostname,
          publicKeys: n.publicKeys,
          userData: userDataV,
          name: serverName(n.display),
        },
        n.deps,
      );
    });
  ensureSubnets(m);
  return m;
}

const editArb = fc.oneof(
  fc.record({
    kind: fc.constant('display' as const),
    pick: fc.nat(),
    value: fc.option(fc.string({ minLength: 1, maxLength: 8 }), { nil: undefined }),
  }),
  fc.record({
    kind: fc.constant('dns' as const),
    pick: fc.nat(),
    value: fc.array(fc.ipV4(), { maxLength: 2 }),
  }),
  fc.record({ kind: fc.constant('replace-attr' as const), pick: fc.nat(), variant: fc.nat(), n: fc.nat() }),
  fc.record({
    kind: fc.constant('add' as const),
    type: fc.constantFrom(...resourceTypes),
    pick: fc.nat(),
    pick2: fc.nat(),
  }),
  fc.record({ kind: fc.constant('remove' as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant('rename' as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant('reref' as const), pick: fc.nat(), pick2: fc.nat() }),
);
type Edit = typeof editArb extends fc.Arbitrary<infer E> ? E : never;

/** A NIC: on a subnet, or on a network. */
const nicOf = (key: 'subnet' | 'network', to: string): Record<string, V> => ({ [key]: new R(to) });

/** A name not used before in this model. */
function freshName(m: Model, base: string): string {
  let k = 0;
  while (m.used.has(`${base}-${k}`)) k++;
  m.used.add(`${base}-${k}`);
  return `${base}-${k}`;
}

/** Applies one edit to a copy of the model; an edit with nothing to act on leaves it as it is. */
function applyEdit(m0: Model, e: Edit): Model {
  const m: Model = {
    resources: m0.resources.map((r) => ({ ...r, props: { ...r.props }, dependsOn: [...r.dependsOn] })),
    used: new Set(m0.used),
    cidrs: m0.cidrs,
    nextCidr: m0.nextCidr,
  };
  const rs = m.resources;
  switch (e.kind) {
    case 'display': {
      const r = pick(rs, e.pick);
      if (!r) break;
      if (e.value === undefined) delete r.props.name;
      else r.props.name = r.type === 'server' ? serverName(e.value)! : e.value;
      break;
    }
    case 'dns': {
      const r = pick(ofType(m, 'subnet'), e.pick);
      if (r) r.props.dnsNameservers = e.value;
      break;
    }
    case 'replace-attr': {
      const r = pick(rs, e.pick);
      if (!r) break;
      const cur = withDefaults(r);
      if (r.type === 'network') {
        const mtu = cur.mtu as number;
        r.props.mtu = mtu === 9000 ? 576 : mtu + 1 + (e.n % (9000 - mtu));
      } else if (r.type === 'subnet') r.props.cidr = cidrOf(m.cidrs[m.nextCidr++]!);
      else if (r.type === 'image') r.props.source = `/images/${freshName(m, 'src')}.qcow2`;
      else {
        const variant = e.variant % 5;
        if (variant === 0) r.props.vcpus = ((cur.vcpus as number) % 64) + 1;
        else if (variant === 1) {
          const mb = cur.memoryMb as number;
          r.props.memoryMb = mb + 64 <= 1048576 ? mb + 64 : 64;
        } else if (variant === 2) {
          r.props.firmware = cur.firmware === 'bios' ? 'uefi' : 'bios';
          if (r.props.firmware === 'uefi' && cur.machine === 'pc') r.props.machine = 'q35';
        } else if (variant === 3) {
          r.props.machine = cur.machine === 'q35' ? 'pc' : 'q35';
          if (r.props.machine === 'pc' && cur.firmware === 'uefi') r.props.firmware = 'bios';
        } else r.props.userData = `#!/bin/sh\necho ${freshName(m, 'boot')}`;
      }
      break;
    }
    case 'add': {
      const nets = ofType(m, 'network').map((r) => r.name);
      const images = ofType(m, 'image').map((r) => r.name);
      const subnets = ofType(m, 'subnet').map((r) => r.name);
      // Explicit dependencies of new resources only on networks and images: never a cycle.
      const dependsOn = [pick([...nets, ...images], e.pick2)].filter(
        (d): d is string => d !== undefined && e.pick2 % 3 === 0,
      );
      const name = freshName(m, e.type);
      if (e.type === 'network')
        rs.push({ name, type: 'network', props: { mtu: 1400 + (e.pick % 100) }, dependsOn });
      else if (e.type === 'image')
        rs.push({ name, type: 'image', props: { source: `/images/${name}.qcow2` }, dependsOn });
      else if (e.type === 'subnet' && nets.length)
        rs.push({
          name,
          type: 'subnet',
          props: { network: new R(pick(nets, e.pick)!), cidr: cidrOf(m.cidrs[m.nextCidr++]!) },
          dependsOn,
        });
      else if (e.type === 'server' && images.length && nets.length) {
        const nic =
          subnets.length && e.pick % 2
            ? nicOf('subnet', pick(subnets, e.pick)!)
            : nicOf('network', pick(nets, e.pick)!);
        rs.push({
          name,
          type: 'server',
          props: { image: new R(pick(images, e.pick2)!), networks: [nic] },
          dependsOn,
        });
      }
      break;
    }
    case 'remove': {
      const needed = new Set(rs.flatMap((r) => [...refsIn(r.props), ...r.dependsOn]));
      const free = rs.filter((r) => !needed.has(r.name));
      const r = pick(free, e.pick);
      if (r) m.resources = rs.filter((x) => x !== r);
      break;
    }
    case 'rename': {
      const r = pick(rs, e.pick);
      if (!r) break;
      const from = r.name;
      const to = freshName(m, from);
      for (const x of rs) {
        x.props = renameIn(x.props, from, to) as Record<string, V>;
        x.dependsOn = x.dependsOn.map((d) => (d === from ? to : d));
      }
      r.name = to;
      break;
    }
    case 'reref': {
      // The reference slots: a subnet's network, a server's image and each NIC's subnet or network.
      const slots: { get: () => R; set: (to: R) => void; type: ResourceType }[] = [];
      for (const r of rs) {
        if (r.type === 'subnet')
          slots.push({ get: () => r.props.network as R, set: (v) => (r.props.network = v), type: 'network' });
        if (r.type === 'server') {
          slots.push({ get: () => r.props.image as R, set: (v) => (r.props.image = v), type: 'image' });
          const nics = r.props.networks as Record<string, V>[];
          nics.forEach((nic, i) => {
            const key = 'subnet' in nic ? 'subnet' : 'network';
            slots.push({
              get: () => nic[key] as R,
              set: (v) => {
                r.props.networks = nics.map((n, j) => (j === i ? { [key]: v } : n));
              },
              type: key,
            });
          });
        }
      }
      const slot = pick(slots, e.pick);
      if (!slot) break;
      const others = ofType(m, slot.type).filter((x) => x.name !== slot.get().to);
      const to = pick(others, e.pick2);
      if (to) slot.set(new R(to.name));
      break;
    }
  }
  ensureSubnets(m);
  return m;
}

/**
 * Gives each network a server NIC names a subnet of its own where it has none (a plan error otherwise,
 * tested elsewhere): generated stacks and edits (removing a subnet, re-pointing a reference) may leave
 * one without. The new subnet's CIDR is outside the seeds' 10/8 ones.
 */
function ensureSubnets(m: Model): void {
  const served = new Set(ofType(m, 'subnet').map((r) => (r.props.network as R).to));
  for (const srv of ofType(m, 'server'))
    for (const nic of srv.props.networks as Record<string, V>[]) {
      const net = nic.network;
      if (!(net instanceof R) || served.has(net.to)) continue;
      const k = m.used.size;
      m.resources.push({
        name: freshName(m, 'fixsub'),
        type: 'subnet',
        props: { network: new R(net.to), cidr: `172.${16 + (k >> 8)}.${k & 255}.0/24` },
        dependsOn: [],
      });
      served.add(net.to);
    }
}

// ---- What a plan must say, from the schema metadata alone ----------------------------------------

interface Expected {
  action: Action;
  changed: string[];
}

/** Resources ordered so that each comes after what it references. */
function refOrder(rs: Res[]): Res[] {
  const byName = new Map(rs.map((r) => [r.name, r]));
  const out: Res[] = [];
  const seen = new Set<string>();
  const visit = (r: Res) => {
    if (seen.has(r.name)) return;
    seen.add(r.name);
    for (const t of refsIn(r.props)) visit(byName.get(t)!);
    out.push(r);
  };
  rs.forEach(visit);
  return out;
}

/**
 * The plan from `before` (applied) to `after`: new resources are created and gone ones deleted; for the
 * others an input that changed — in value, or because it references a resource that is created or
 * replaced, whose id is known only after apply — forces a replace when its schema says
 * `requiresReplace`, else an update.
 */
function expectedPlan(before: Model, after: Model): Map<string, Expected> {
  const prior = new Map(before.resources.map((r) => [r.name, r]));
  const fresh = new Set<string>();
  const out = new Map<string, Expected>();
  for (const r of refOrder(after.resources)) {
    const p = prior.get(r.name);
    if (!p) {
      out.set(r.name, { action: 'create', changed: [] });
      fresh.add(r.name);
      continue;
    }
    const want = withDefaults(r);
    const had = withDefaults(p);
    const changed: string[] = [];
    let replace = false;
    for (const a of inputAttrs.get(r.type)!) {
      const w = want[a.name];
      if (w === undefined && a.computed) continue;
      if (sameV(w, had[a.name]) && !refsIn(w).some((t) => fresh.has(t))) continue;
      changed.push(a.name);
      replace ||= a.requiresReplace === true;
    }
    const action: Action = replace ? 'replace' : changed.length ? 'update' : 'no-op';
    if (replace) fresh.add(r.name);
    out.set(r.name, { action, changed });
  }
  for (const p of before.resources) if (!out.has(p.name)) out.set(p.name, { action: 'delete', changed: [] });
  return out;
}

// ---- Running stacks ------------------------------------------------------------------------------

/** One event of a handler call: its start or end, in the order they happened. */
interface CallEvent {
  op: 'create' | 'update' | 'delete';
  edge: 'start' | 'end';
  id: string;
}

/** A plan with what it was made from. */
interface Planned {
  plan: Plan;
  /** The refreshed state the plan was made against. */
  state: StateDoc;
  graph: Graph;
  config: StackConfig;
}

/**
 * State in memory for the many runs of a property: each write is stored as JSON text and each read parses
 * it, as with a file, and a write from another lineage or with a serial not newer than the stored one is
 * refused, as LocalBackend does. What it leaves out is the file system (temp file, fsync, rename, backup),
 * which a few runs per property still exercise with a real LocalBackend.
 */
class JsonMemoryBackend implements StateBackend {
  readonly where = 'memory';
  private text: string | null = null;
  async read(): Promise<StateDoc | null> {
    return this.text === null ? null : checkStateDoc(JSON.parse(this.text), 'memory', '');
  }
  async write(doc: StateDoc): Promise<void> {
    const cur = await this.read();
    if (cur && cur.lineage !== doc.lineage) throw new StateError('lineage_mismatch', 'another lineage');
    if (cur && doc.serial <= cur.serial)
      throw new StateError('stale_serial', `serial ${doc.serial} <= ${cur.serial}`);
    this.text = JSON.stringify(doc);
  }
  async lock(): Promise<() => Promise<void>> {
    return async () => {};
  }
  async forceUnlock(): Promise<void> {}
}

/**
 * An in-memory world whose operations take `delayMs`, state (in a local file when `durable`, else in
 * {@link JsonMemoryBackend}) and a log of handler calls.
 */
function harness(delayMs = 2, durable = true) {
  // Operations take a little time, so that those apply runs in parallel overlap as on hosts.
  const world = new MemoryHandlers({ delayMs });
  let backend: StateBackend;
  if (durable) {
    const dir = mkdtempSync(join(tmpdir(), 'stratus-prop-'));
    dirs.push(dir);
    backend = new LocalBackend(join(dir, 'state.json'));
  } else backend = new JsonMemoryBackend();
  const log: CallEvent[] = [];
  const logged =
    <A extends unknown[], R>(op: CallEvent['op'], fn: (c: never, id: string, ...rest: A) => Promise<R>) =>
    async (c: never, id: string, ...rest: A): Promise<R> => {
      log.push({ op, edge: 'start', id });
      try {
        return await fn(c, id, ...rest);
      } finally {
        log.push({ op, edge: 'end', id });
      }
    };
  const providers = providersFor((schema): ResourceIO => {
    const io = world.io(schema.type as ResourceType);
    return {
      ...io,
      create: logged('create', io.create),
      update: logged('update', io.update),
      delete: logged('delete', io.delete),
    };
  });
  return {
    world,
    backend,
    log,
    providers,
    async plan(yaml: string): Promise<Planned> {
      const { config, diagnostics } = loadStackText(yaml, FILE);
      assert.ok(config, diagnostics.items.map((d) => d.message).join('\n'));
      const checked = checkStack(config, providers);
      const problems = [...diagnostics.items, ...checked.diagnostics.items];
      assert.deepEqual(problems, [], `the generated stack is not valid:\n${yaml}`);
      const prior = await backend.read();
      const refreshed = await refresh(prior ?? emptyState(config.name), providers);
      const plan = makePlan(config, checked.graph, refreshed, prior, providers);
      assert.deepEqual(plan.errors, []);
      return { plan, state: refreshed.state, graph: checked.graph, config };
    },
    async apply(p: Planned) {
      log.length = 0;
      const result = await applyPlan({ plan: p.plan, state: p.state, backend, providers });
      assert.deepEqual(result.errors, []);
      assert.equal(result.ok, true);
      return result;
    },
  };
}

type Harness = ReturnType<typeof harness>;

/** Applies a model from an empty state and checks that planning it again changes nothing. */
async function applyFresh(h: Harness, m: Model): Promise<void> {
  const first = await h.plan(toYaml(m));
  assert.ok(first.plan.changes.every((c) => c.action === 'create'));
  const result = await h.apply(first);
  assertOrder(h, explicitDeps(m), first.state, result.state);
  await assertConverged(h, m);
}

/**
 * Checks that state, world and config agree: state holds exactly the config's resources with its
 * inputs (defaults filled, references resolved), the world holds exactly what state records (no leaked
 * or duplicated objects), and a new plan is empty.
 */
async function assertConverged(h: Harness, m: Model): Promise<void> {
  const yaml = toYaml(m);
  const state = (await h.backend.read())!;
  const byName = new Map(state.resources.map((r) => [r.name, r]));
  assert.deepEqual([...byName.keys()].sort(), m.resources.map((r) => r.name).sort());
  for (const r of m.resources) {
    const s = byName.get(r.name)!;
    assert.equal(s.type, r.type);
    assert.equal(s.status, 'ready');
    const want = withDefaults(r);
    for (const a of inputAttrs.get(r.type)!) {
      if (want[a.name] === undefined && a.computed) continue;
      assert.deepEqual(s.attributes[a.name], resolveIn(want[a.name], byName), `${r.name}.${a.name}`);
    }
  }
  assert.equal(h.world.objects.size, state.resources.length, 'the world holds objects state does not know');
  for (const s of state.resources) {
    const o = h.world.objects.get(s.id);
    assert.ok(o, `${s.name} (${s.id}) is in state but not in the world`);
    assert.equal(o.type, s.type);
    assert.deepEqual(o.attributes, s.attributes);
  }
  const again = await h.plan(yaml);
  assert.equal(
    hasChanges(again.plan),
    false,
    JSON.stringify(
      again.plan.changes.filter((c) => c.action !== 'no-op').map((c) => [c.name, c.action, c.changes]),
    ),
  );
}

/** What each resource of a model depends on explicitly: by reference or `dependsOn`. */
function explicitDeps(m: Model): Map<string, string[]> {
  return new Map(m.resources.map((r) => [r.name, [...new Set([...refsIn(r.props), ...r.dependsOn])]]));
}

/** What each resource depends on in a checked graph, implied dependencies included. */
const graphDeps = (g: Graph) => new Map(g.nodes.map((n) => [n, g.dependencies(n)]));

/**
 * Checks apply's order against dependencies (`deps`: resource -> what it depends on): whatever a
 * resource depends on and was created or updated in the same apply finished first; a resource being
 * deleted goes only after what depended on it when it was applied.
 */
function assertOrder(h: Harness, deps: Map<string, string[]>, before: StateDoc, after: StateDoc): void {
  const nameOf = new Map<string, string>();
  for (const r of [...before.resources, ...after.resources]) nameOf.set(r.id, r.name);
  const at = (op: 'apply' | 'destroy', edge: CallEvent['edge'], name: string): number[] =>
    h.log
      .map((e, i) => ({ e, i }))
      .filter(
        ({ e }) => (op === 'destroy') === (e.op === 'delete') && e.edge === edge && nameOf.get(e.id) === name,
      )
      .map(({ i }) => i);
  for (const [name, needs] of deps) {
    const starts = at('apply', 'start', name);
    if (!starts.length) continue;
    for (const dep of needs) {
      const ends = at('apply', 'end', dep);
      if (ends.length)
        assert.ok(
          Math.max(...ends) < Math.min(...starts),
          `${name} was created or updated before its dependency ${dep}`,
        );
    }
  }
  for (const r of before.resources) {
    const gone = at('destroy', 'start', r.name);
    if (!gone.length) continue;
    for (const user of before.resources.filter((x) => x.dependencies.includes(r.name))) {
      const userGone = at('destroy', 'end', user.name);
      if (userGone.length)
        assert.ok(
          Math.max(...userGone) < Math.min(...gone),
          `${r.name} was deleted before ${user.name}, which used it`,
        );
    }
  }
}

/** A cycle in the operations apply would walk for a plan, as the plan reports it. */
function operationCycle(p: Planned): string | undefined {
  return p.plan.errors.find((e) => e.message.includes('cycle'))?.message;
}

// ---- Properties ----------------------------------------------------------------------------------

describe('plan and apply, property-based', () => {
  // Found by the order check below with implied dependencies included. checkStack makes a server on a
  // network depend on that network's subnets (`refIncludes`), and plans in that order, but applyPlan
  // builds its own graph from references and dependsOn only, so it creates the server alongside the
  // subnet it should wait for (and records no dependency on it for later destroys).
  test('apply waits for implied dependencies (a server on a network, for its subnets)', async () => {
    const m = buildStack({
      networks: [{ mtu: undefined, display: undefined, deps: [] }],
      subnets: [{ network: 0, dns: undefined, display: undefined, deps: [] }],
      images: [{ source: '/images/cirros.qcow2', display: undefined, deps: [] }],
      servers: [
        {
          image: 0,
          nics: [{ subnet: false, pick: 0 }],
          vcpus: undefined,
          memoryMb: undefined,
          firmware: undefined,
          machine: undefined,
          hostname: undefined,
          publicKeys: undefined,
          userData: undefined,
          display: undefined,
          deps: [],
        },
      ],
      cidrs: [0],
    });
    // Slow operations, so that the server's create surely starts while the subnet's runs.
    const h = harness(50);
    const first = await h.plan(toYaml(m));
    assert.deepEqual(first.graph.dependencies('vm0').sort(), ['img0', 'net0', 'sub0']);
    const result = await h.apply(first);
    assertOrder(h, graphDeps(first.graph), first.state, result.state);
  });

  // Found by the edit property (seed 447946037 before the walk refused cycles, when apply reported
  // success having destroyed four resources and created none). A resource that stays (here unchanged)
  // depended on one that goes (a rename), which depended on one that is replaced. operationGraph orders
  // destroy:sub0 after apply:img1 ("updated away from it first") although img1's apply is a no-op, and
  // the replace closes the loop: apply:img1 -> apply:sub1 -> apply:net0 -> destroy:net0 -> destroy:sub0
  // -> apply:img1. walk now refuses the cycle before doing anything; the fix belongs in apply.ts.
  test('apply handles a rename of what a staying resource depended on, next to a replace', async () => {
    const h = harness();
    await h.apply(
      await h.plan(`resources:
  net0: {type: network}
  sub0: {type: subnet, properties: {network: "\${net0}", cidr: 10.0.0.0/24}}
  img1: {type: image, properties: {source: /b.qcow2}, dependsOn: [sub0]}
`),
    );
    const next = await h.plan(`resources:
  net0: {type: network, properties: {mtu: 1501}}
  sub1: {type: subnet, properties: {network: "\${net0}", cidr: 10.0.0.0/24}}
  img1: {type: image, properties: {source: /b.qcow2}, dependsOn: [sub1]}
`);
    assert.deepEqual(
      next.plan.changes.filter((c) => c.action !== 'no-op').map((c) => [c.name, c.action]),
      [
        ['net0', 'replace'],
        ['sub1', 'create'],
        ['sub0', 'delete'],
      ],
    );
    assert.equal(operationCycle(next), undefined);
    await h.apply(next);
    assert.equal(h.world.objects.size, 3);
  });

  // Found by the edit property (seed -2119108512): userData "aaaa\n \na" after two references came back
  // as "aaaa\n\\\na". The fault was this test's serializer: yaml 2.9.1 folds a long double-quoted string
  // and writes the escaped space that starts the folded line as `\\ ` (an escaped backslash and a space
  // that folding then drops). The loader reads the correctly escaped text right, as checked here; the
  // serializer no longer folds (see toYamlText).
  test('userData "aaaa\\n \\na" survives the stack file (seed -2119108512)', async () => {
    const ud = 'aaaa\n \na';
    // Escaped on one line, and folded over lines with the leading space escaped as `\ `.
    const text = [
      'resources:',
      '  n: {type: network, properties: {name: "aaaa\\n\\ \\na"}}',
      '  m:',
      '    type: network',
      '    properties:',
      '      name: "aaaa',
      '',
      '        \\ ',
      '',
      '        a"',
      '',
    ].join('\n');
    // (A name with a line break is a schema error; the loader still reads the value.)
    const { config } = loadStackText(text, FILE);
    assert.equal(config?.resources.get('n')?.properties.name, ud);
    assert.equal(config?.resources.get('m')?.properties.name, ud);
    const m = buildStack({
      networks: [{ mtu: undefined, display: undefined, deps: [] }],
      subnets: [],
      images: [{ source: '/images/cirros.qcow2', display: undefined, deps: [] }],
      servers: [
        {
          image: 0,
          nics: [{ subnet: false, pick: 0 }],
          vcpus: undefined,
          memoryMb: undefined,
          firmware: undefined,
          machine: undefined,
          hostname: undefined,
          publicKeys: undefined,
          userData: [{ kind: 'network', pick: 0 }, { kind: 'network', pick: 0 }, ud],
          display: undefined,
          deps: [],
        },
      ],
      cidrs: [0, 6, 1, 2, 10, 11, 3, 12, 4, 13, 7, 14, 15, 5, 16, 17],
    });
    const h = harness();
    await applyFresh(h, m);
    const vm = (await h.backend.read())!.resources.find((r) => r.name === 'vm0')!;
    assert.match(vm.attributes.userData as string, /aaaa\n \na$/);
  });

  test('the stack file serializer round-trips any text', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ unit: 'binary', maxLength: 200 }),
          fc.string({
            unit: fc.constantFrom('a', ' ', '\n', '\t', '\\', '"', "'", '#', ':', '-', '$', '{'),
            maxLength: 200,
          }),
        ),
        fc.nat(120),
        (text, pad) => {
          // Padding moves the text across yaml's fold points.
          const v = `${'x'.repeat(pad)}${text}`;
          // The loader parses with the same yaml parser (parseDocument); here only the text round trip.
          assert.equal((parse(toYamlText({ v })) as { v: string }).v, v);
        },
      ),
      { numRuns: 2000, seed: 825 },
    );
  });

  // Each property runs many times with state in memory and a few times with a real state file: the
  // file system is the slow part and adds no cases of its own beyond the first few runs.
  for (const [durable, numRuns] of [
    [false, 50],
    [true, 5],
  ] as const)
    test(`the plan of an applied stack, unchanged, is empty (state ${durable ? 'in a file' : 'in memory'})`, async () => {
      await fc.assert(
        fc.asyncProperty(stackArb, async (seed) => {
          const m = buildStack(seed);
          await applyFresh(harness(2, durable), m);
        }),
        { numRuns, includeErrorInReport: true },
      );
    });

  for (const [durable, numRuns] of [
    [false, 100],
    [true, 10],
  ] as const)
    test(`edits plan the actions the schema implies, and apply reaches the edited stack (state ${durable ? 'in a file' : 'in memory'})`, async () => {
      await fc.assert(
        fc.asyncProperty(stackArb, fc.array(editArb, { minLength: 1, maxLength: 3 }), async (seed, edits) => {
          const m0 = buildStack(seed);
          const h = harness(2, durable);
          await applyFresh(h, m0);
          const m1 = edits.reduce(applyEdit, m0);
          const p = await h.plan(toYaml(m1));
          const expected = expectedPlan(m0, m1);
          const actual = new Map(p.plan.changes.map((c) => [c.name, c]));
          assert.deepEqual([...actual.keys()].sort(), [...expected.keys()].sort());
          for (const [name, want] of expected) {
            const c = actual.get(name)!;
            assert.equal(c.action, want.action, `${name}: ${JSON.stringify(c.changes)}`);
            assert.deepEqual(c.changes.map((x) => x.name).sort(), [...want.changed].sort(), name);
            for (const x of c.changes) {
              const meta = inputAttrs.get(c.type)!.find((a) => a.name === x.name)!;
              assert.equal(x.forcesReplace, meta.requiresReplace === true, `${name}.${x.name}`);
            }
          }
          // Set aside: edits whose operations truly cannot be ordered (the plan says so; apply refuses them).
          fc.pre(operationCycle(p) === undefined);
          const before = (await h.backend.read())!;
          const result = await h.apply(p);
          const counts = summarize(p.plan);
          assert.deepEqual({ add: result.added, change: result.changed, destroy: result.destroyed }, counts);
          assertOrder(h, explicitDeps(m1), before, result.state);
          await assertConverged(h, m1);
        }),
        { numRuns, includeErrorInReport: true },
      );
    });
});
