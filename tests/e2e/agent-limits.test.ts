/**
 * The limits a real agent enforces are exactly the schemas': for every registered type, every numeric
 * minimum/maximum and every string or array length bound is derived from the schema, and the agent is sent
 * the boundary value and one past it. One past is a 400 `invalid_request` naming the attribute; the
 * boundary is not refused as invalid (the request fails later for another reason, e.g. a missing image, so
 * no VM is made; a network at its boundary is made and deleted again).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type AttributePath, formatPath, resourceTypes, schemas, validateResource } from '@stratus/model';
import { AgentApiError, AgentClient } from '@stratus/sdk/client';
import { type AgentEnv, agentEnv, hostObjectsFor } from './helpers.js';

type Node = {
  description?: string;
  type?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  minProperties?: number;
  pattern?: string;
  formatName?: string;
  ref?: string;
  localPath?: boolean;
  items?: Node;
  properties?: Record<string, Node>;
  patternProperties?: Record<string, Node>;
  required?: string[];
  anyOf?: Node[];
  const?: unknown;
  default?: unknown;
};

/** One bound of one attribute: the value at the boundary and the value one past it. */
interface Bound {
  path: AttributePath;
  what: string;
  boundary: unknown;
  past: unknown;
}

/**
 * A valid value of `node` (references point at resources that do not exist); `key` is the property it is
 * for, so a range's `end` comes after its `start` and a pool holds room for the DHCP port and a server;
 * `index` is its place in an array, so items whose CIDRs must differ (a subnet's host routes) do.
 */
function sample(node: Node, key?: string, index = 0): unknown {
  if (node.const !== undefined) return node.const;
  if (node.anyOf) return sample(node.anyOf[0]!, key, index);
  if (node.default !== undefined) return structuredClone(node.default);
  switch (node.type) {
    case 'integer':
    case 'number':
      return node.minimum ?? 1;
    case 'boolean':
      return false;
    case 'array':
      return Array.from({ length: node.minItems ?? 0 }, () => sample(node.items!));
    case 'object': {
      if (node.patternProperties) return {};
      const out: Record<string, unknown> = {};
      const props = Object.entries(node.properties ?? {});
      for (const [k, v] of props) if (node.required?.includes(k)) out[k] = sample(v, k, index);
      for (const [k, v] of props)
        if (Object.keys(out).length < (node.minProperties ?? 0) && !(k in out)) out[k] = sample(v, k, index);
      return out;
    }
    case 'string':
      if (node.ref) return randomUUID();
      if (node.localPath) return '/nonexistent/stratus-limits-test/disk.qcow2';
      if (node.formatName?.includes('CIDR'))
        return index === 0 ? '10.77.0.0/24' : `10.${78 + Math.floor(index / 256)}.${index % 256}.0/24`;
      if (node.formatName?.includes('IPv4')) return key === 'end' ? '10.77.0.20' : '10.77.0.10';
      if (node.formatName?.includes('hostname')) return 'limits';
      return 'a'.repeat(Math.max(node.minLength ?? 1, 1));
    default:
      throw new Error(`no sample for schema ${JSON.stringify(node)}`);
  }
}

/** A string of length `n` for `node`; fails loudly when the node's pattern would refuse it. */
function stringOf(node: Node, n: number, path: AttributePath): string {
  const s = 'a'.repeat(n);
  if (node.pattern && n > 0 && !new RegExp(node.pattern).test(s))
    throw new Error(`${formatPath(path)}: cannot derive a length-bound value that matches its pattern`);
  return s;
}

/** Every numeric and length bound below `node`, at its attribute path. */
function bounds(node: Node, path: AttributePath): Bound[] {
  const out: Bound[] = [];
  const at = formatPath(path);
  if (node.type === 'integer' || node.type === 'number') {
    const step = node.type === 'integer' ? 1 : 0.5;
    if (node.minimum !== undefined)
      out.push({
        path,
        what: `${at} minimum ${node.minimum}`,
        boundary: node.minimum,
        past: node.minimum - step,
      });
    if (node.maximum !== undefined)
      out.push({
        path,
        what: `${at} maximum ${node.maximum}`,
        boundary: node.maximum,
        past: node.maximum + step,
      });
  }
  if (node.type === 'string') {
    if (node.minLength !== undefined && node.minLength > 0)
      out.push({
        path,
        what: `${at} minLength ${node.minLength}`,
        boundary: stringOf(node, node.minLength, path),
        past: stringOf(node, node.minLength - 1, path),
      });
    if (node.maxLength !== undefined)
      out.push({
        path,
        what: `${at} maxLength ${node.maxLength}`,
        boundary: stringOf(node, node.maxLength, path),
        past: stringOf(node, node.maxLength + 1, path),
      });
  }
  if (node.type === 'array') {
    const items = (n: number) => Array.from({ length: n }, (_, i) => sample(node.items!, undefined, i));
    if (node.minItems !== undefined && node.minItems > 0)
      out.push({
        path,
        what: `${at} minItems ${node.minItems}`,
        boundary: items(node.minItems),
        past: items(node.minItems - 1),
      });
    if (node.maxItems !== undefined)
      out.push({
        path,
        what: `${at} maxItems ${node.maxItems}`,
        boundary: items(node.maxItems),
        past: items(node.maxItems + 1),
      });
    if (node.items) out.push(...bounds(node.items, [...path, 0]));
  }
  if (node.type === 'object') {
    for (const [k, v] of Object.entries(node.properties ?? {})) out.push(...bounds(v, [...path, k]));
    for (const [pattern, v] of Object.entries(node.patternProperties ?? {}))
      out.push(...bounds(v, [...path, keyMatching(pattern)]));
  }
  for (const alt of node.anyOf ?? []) out.push(...bounds(alt, path));
  return out;
}

/** A key a map's key pattern admits: `k`, or `/k` for paths (a server's personality). */
function keyMatching(pattern: string): string {
  return ['k', '/k'].find((k) => new RegExp(pattern, 'u').test(k)) ?? 'k';
}

/** `body` with `value` at `path`, creating the objects and list items on the way from samples. */
function withValue(
  type: keyof typeof schemas,
  body: Record<string, unknown>,
  path: AttributePath,
  value: unknown,
) {
  const copy = structuredClone(body);
  let node = schemas[type].inputs as Node;
  let cur: Record<string | number, unknown> = copy;
  for (const [i, key] of path.entries()) {
    node = (
      typeof key === 'number'
        ? node.items
        : (node.properties?.[key] ?? Object.values(node.patternProperties ?? {})[0])
    )!;
    if (i === path.length - 1) cur[key] = value;
    else {
      if (cur[key] === undefined || (Array.isArray(cur[key]) && (cur[key] as unknown[]).length === 0))
        cur[key] = typeof path[i + 1] === 'number' ? [sample(node.items!)] : sample(node);
      cur = cur[key] as Record<string | number, unknown>;
    }
  }
  return copy;
}

/** The schema node at `path` below the type's inputs. */
function nodeAt(type: keyof typeof schemas, path: AttributePath): Node {
  let node = schemas[type].inputs as Node;
  for (const key of path)
    node = (
      typeof key === 'number'
        ? node.items
        : (node.properties?.[key] ?? Object.values(node.patternProperties ?? {})[0])
    )!;
  return node;
}

/** Values to try for an attribute that another one depends on: each alternative, the low integers. */
function candidates(node: Node): unknown[] {
  if (node.const !== undefined) return [node.const];
  if (node.anyOf) return node.anyOf.flatMap(candidates);
  if (node.type === 'boolean') return [false, true];
  if (node.type === 'integer' || node.type === 'number')
    return [...new Set([node.minimum ?? 1, (node.minimum ?? 0) + 1])];
  return [sample(node)];
}

/**
 * `body` (holding the value at `path`) made valid as the type's own checks beyond the schema want it, by
 * changing only the siblings of that value: a sibling those checks say conflicts with something (mutually
 * exclusive attributes, e.g. a NIC's `port` and the `network` a sample NIC starts with) is left out when
 * optional; then, while the body is still refused, the optional siblings take values (one, then two of
 * them) until it is not (an attribute another depends on, e.g. a rule's protocol for its ports). The
 * schema bounds are the test's subject, so the value itself is never changed, and a body that cannot be
 * made valid fails the test rather than being skipped.
 */
function fitted(type: keyof typeof schemas, body: Record<string, unknown>, path: AttributePath) {
  const problems = (b: Record<string, unknown>) => validateResource(type, structuredClone(b));
  let out = structuredClone(body);
  // The value's own siblings first; then, outward, those of each object holding it (a server's
  // `unattend` bounds need `installMedia` and `adminPass` beside `unattend`).
  for (let depth = path.length - 1; depth >= 0; depth--) {
    out = fittedAt(type, out, path.slice(0, depth), path[depth]!, path.length);
    if (problems(out).length === 0) return out;
  }
  const left = problems(out).map((p) => `${formatPath(p.path)}: ${p.message}`);
  throw new Error(`${type} ${formatPath(path)}: no valid body holds the boundary value (${left.join('; ')})`);
}

/**
 * One step of {@link fitted}: `body` with the optional siblings of `key` in the object at `parentPath`
 * left out where the type's checks say they conflict, then given values (one, then two of them) until
 * the body is valid; answers the first valid body, or the body with the conflicting siblings left out.
 */
function fittedAt(
  type: keyof typeof schemas,
  body: Record<string, unknown>,
  parentPath: AttributePath,
  key: string | number,
  valueDepth: number,
): Record<string, unknown> {
  const node = nodeAt(type, parentPath);
  const optional = Object.keys(node.properties ?? {}).filter(
    (k) => k !== key && !(node.required ?? []).includes(k),
  );
  const parentOf = (b: Record<string, unknown>) =>
    parentPath.reduce<Record<string | number, unknown>>(
      (o, k) => o[k] as Record<string | number, unknown>,
      b as Record<string | number, unknown>,
    );
  const problems = (b: Record<string, unknown>) => validateResource(type, structuredClone(b));
  const out = structuredClone(body);
  // Conflicts are named at the value's level only (where the schema's siblings are the value's own).
  const level = parentPath.length + 1;
  for (let i = 0; level === valueDepth && i < optional.length; i++) {
    const sibling = problems(out).find(
      (p) =>
        p.path.length === level &&
        parentPath.every((k, j) => p.path[j] === k) &&
        optional.includes(String(p.path[level - 1])),
    );
    if (!sibling) break;
    delete parentOf(out)[sibling.path[level - 1]!];
  }
  if (problems(out).length === 0) return out;
  const tries: Record<string, unknown>[][] = optional.map((k) =>
    candidates(node.properties![k]!).map((v) => ({ [k]: v })),
  );
  const pairs = tries.flatMap((a, i) =>
    tries.slice(i + 1).flatMap((b) => a.flatMap((x) => b.map((y) => ({ ...x, ...y })))),
  );
  for (const change of [...tries.flat(), ...pairs]) {
    const c = structuredClone(out);
    Object.assign(parentOf(c), change);
    if (problems(c).length === 0) return c;
  }
  return out;
}

/** The host's network namespaces (`ip netns list`). */
function netnsList(): string {
  return spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '';
}

let t: AgentEnv;
let client: AgentClient;
const made: { collection: string; id: string }[] = [];

before(async () => {
  t = agentEnv('limits');
  await t.startAgent();
  client = new AgentClient({ socket: t.env.STRATUS_AGENT_SOCKET!, tokenFile: join(t.stateDir, 'token') });
});

after(async () => {
  for (const m of made) await client?.delete(`/v1/${m.collection}/${m.id}`).catch(() => undefined);
  await client?.close();
  await t.cleanup([]);
});

/** The agent's answer to a PUT: `ok` or the error's status, code and field. */
async function put(collection: string, id: string, body: unknown) {
  try {
    await client.put(`/v1/${collection}/${id}`, body);
    made.push({ collection, id });
    return { ok: true as const };
  } catch (e) {
    if (!AgentApiError.isInstance(e)) throw e;
    return { ok: false as const, status: e.status, code: e.code, field: e.field, message: e.message };
  }
}

test('every schema bound is derived, and one past it is refused with the attribute named', async (ctx) => {
  let checked = 0;
  for (const type of resourceTypes) {
    const s = schemas[type];
    const base = sample(s.inputs as Node) as Record<string, unknown>;
    for (const b of bounds(s.inputs as Node, [])) {
      // The boundary's body, valid beside the schema too; one past it differs only in the value.
      const atBody = fitted(type, withValue(type, base, b.path, b.boundary), b.path);
      const past = await put(s.collection, randomUUID(), withValue(type, atBody, b.path, b.past));
      assert.ok(!past.ok, `${type} ${b.what}: ${JSON.stringify(b.past).slice(0, 40)} was accepted`);
      assert.equal(past.status, 400, `${type} ${b.what}: ${past.message}`);
      assert.equal(past.code, 'invalid_request', `${type} ${b.what}: ${past.message}`);
      assert.equal(past.field, formatPath(b.path), `${type} ${b.what}: ${past.message}`);

      const id = randomUUID();
      const at = await put(s.collection, id, atBody);
      if (!at.ok)
        assert.notEqual(
          at.code,
          'invalid_request',
          `${type} ${b.what}: the boundary was refused: ${at.message}`,
        );
      // Only what boots nothing may be made by these requests: a network (a bridge), a blank volume (a
      // disk file), a security group or a router (a namespace), a record with no host object (a flavor,
      // a key pair, a server group). Deleting it leaves nothing behind.
      if (at.ok) {
        assert.ok(
          ['network', 'flavor', 'keypair', 'volume', 'security_group', 'router', 'server_group'].includes(
            type,
          ),
          `${type} ${b.what}: a ${type} was created`,
        );
        await client.delete(`/v1/${s.collection}/${id}`);
        assert.deepEqual(hostObjectsFor([id]), []);
        assert.ok(!existsSync(join(t.stateDir, 'volumes', `${id}.qcow2`)), `${type} ${b.what}: disk left`);
        assert.ok(!netnsList().includes(`qrouter-${id}`), `${type} ${b.what}: namespace left`);
      }
      checked++;
      ctx.diagnostic(
        `${type} ${b.what}: ${past.code} at ${past.field}; boundary: ${at.ok ? 'made' : at.code}`,
      );
    }
  }
  // The schemas do carry bounds (vCPUs, memory, MTU, names, NIC count, ...): an empty walk proves nothing.
  assert.ok(checked >= 15, `only ${checked} bounds found`);
  const servers = join(t.stateDir, 'records', 'servers');
  assert.deepEqual(existsSync(servers) ? readdirSync(servers) : [], [], 'no server was recorded');
});

test('the server limits the issue names are the schema ones: 64 vCPUs, 64 MiB', async () => {
  // An image no agent has: a value within the limits gets as far as the image reference.
  const base = { ...(sample(schemas.server.inputs as Node) as Record<string, unknown>), image: randomUUID() };
  for (const [field, value, refused] of [
    ['vcpus', 64, false],
    ['vcpus', 65, true],
    ['vcpus', 255, true],
    ['memoryMb', 64, false],
    ['memoryMb', 63, true],
    ['memoryMb', 16, true],
  ] as const) {
    const r = await put('servers', randomUUID(), { ...base, [field]: value });
    assert.ok(!r.ok);
    if (refused) assert.deepEqual([r.code, r.field], ['invalid_request', field]);
    else assert.deepEqual([r.code, r.field], ['invalid_reference', 'image']);
  }
});
