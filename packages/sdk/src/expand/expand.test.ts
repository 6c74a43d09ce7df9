/**
 * Variables, locals, count / forEach and functions in stack files: the loader, expansion, instance
 * addresses, diagnostics with file:line:column, sensitivity, and plans/applies in memory.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { UNKNOWN } from '@stratus/model';
import { formatDiagnostic } from '../diagnostics/index.js';
import { checkStack } from '../engine/check.js';
import type { StackConfig } from '../engine/config.js';
import { callFunction } from '../engine/functions.js';
import { emptyState, makePlan } from '../engine/plan.js';
import { unrefreshed } from '../engine/refresh.js';
import { loadStackText } from '../loaders/stack-yaml.js';
import { MemoryHandlers } from '../testing/memory-handlers.js';
import { applyStack, planStack } from '../testing/plan-stack.js';
import { instanceName, parseAddress } from './address.js';
import { parseTemplate, SyntaxProblem } from './syntax.js';
import type { VariableInput } from './variables.js';

const dir = mkdtempSync(join(tmpdir(), 'stratus-expand-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const FILE = join(dir, 'stack.yaml');

const cli = (vars: Record<string, string>): Map<string, VariableInput> =>
  new Map(Object.entries(vars).map(([k, v]) => [k, { value: v, fromText: true, origin: '-var' }]));

/** Loads `yaml` with `-var` values; diagnostics as formatted lines (loader and checks). */
function load(yaml: string, vars: Record<string, string> = {}): { config?: StackConfig; lines: string[] } {
  const { config, diagnostics } = loadStackText(yaml, FILE, undefined, { variables: cli(vars) });
  const items = [...diagnostics.items];
  if (config && !diagnostics.hasErrors)
    items.push(...checkStack(config, new MemoryHandlers().providers).diagnostics.items);
  return { config: diagnostics.hasErrors ? undefined : config, lines: items.map(formatDiagnostic) };
}

const STACK = `name: t
variables:
  servers:
    type: number
    default: 3
    description: how many web servers
  password:
    type: string
    sensitive: true
  prefix:
    type: string
    default: web
    validation:
      condition: length(var.prefix) <= 8
      error_message: prefix must be at most 8 characters
locals:
  cidr: 10.30.0.0/16
  nets: { a: 0, b: 1 }
resources:
  img:
    type: image
    properties: { source: /nonexistent/guest.qcow2 }
  net:
    type: network
    forEach: \${local.nets}
  subnet:
    type: subnet
    forEach: \${local.nets}
    properties:
      network: \${net[each.key]}
      cidr: \${cidrsubnet(local.cidr, 8, each.value)}
  web:
    type: server
    count: \${var.servers}
    properties:
      name: \${format("%s-%d", var.prefix, count.index)}
      image: \${img}
      networks: [{ subnet: '\${subnet["a"]}' }]
      userData: "#!/bin/sh\\necho \${var.password} > /tmp/p\\n"
outputs:
  ip1: \${web[1].accessIpV4}
  url: \${format("http://%s/", web[0].accessIpV4)}
  first_name: \${format("%s-%d", var.prefix, 0)}
`;

describe('expansion', () => {
  test('count and forEach make instances with addresses, values from variables, locals and functions', () => {
    const { config, lines } = load(STACK, { password: 'hunter2' });
    assert.deepEqual(lines, []);
    assert.deepEqual(
      [...config!.resources.keys()],
      ['img', 'net["a"]', 'net["b"]', 'subnet["a"]', 'subnet["b"]', 'web[0]', 'web[1]', 'web[2]'],
    );
    assert.equal(config!.resources.get('web[2]')!.properties.name, 'web-2');
    assert.equal(config!.resources.get('subnet["b"]')!.properties.cidr, '10.30.1.0/24');
    assert.equal(config!.resources.get('net["a"]')!.properties.name, 'net-a');
    // The password went into userData, so userData is sensitive; the name is not.
    assert.deepEqual(config!.resources.get('web[0]')!.sensitive, ['userData']);
  });

  test('a variable from -var changes the count; the default applies otherwise', () => {
    const { config } = load(STACK, { password: 'x', servers: '2' });
    assert.deepEqual(
      [...config!.resources.keys()].filter((n) => n.startsWith('web')),
      ['web[0]', 'web[1]'],
    );
  });

  test('a variable failing its validation rule is an error at the rule, with its message', () => {
    const { lines } = load(STACK, { password: 'x', prefix: 'muchtoolong' });
    assert.deepEqual(lines, [`${FILE}:14:18: error: variables.prefix: prefix must be at most 8 characters`]);
  });

  test('a required variable without a value is an error naming how to give one', () => {
    const { lines } = load(STACK);
    assert.equal(lines.length, 1);
    assert.match(
      lines[0]!,
      /stack\.yaml:7:3: error: variables\.password: variable password is required .*-var password=VALUE.*STRATUS_VAR_password/,
    );
  });

  test('a value of the wrong type is an error that does not repeat the value', () => {
    const { lines } = load(STACK, { password: 'x', servers: 'three' });
    assert.equal(lines.length, 1);
    assert.match(
      lines[0]!,
      /variables\.servers: the value from -var is not valid: a number is required, got a string/,
    );
    assert.doesNotMatch(lines[0]!, /three/);
  });

  test('unknown variables, locals and functions are errors at their line and column', () => {
    const yaml = `variables:\n  a: { default: 1 }\nresources:\n  n:\n    type: network\n    properties:\n      name: "x-\${var.b}"\n      mtu: \${lenght(var.a)}\n      description: \${local.zz}\n`;
    const { lines } = load(yaml);
    assert.deepEqual(lines, [
      `${FILE}:7:22: error: resources.n.properties.name: unknown variable var.b; declared: var.a`,
      `${FILE}:8:14: error: resources.n.properties.mtu: unknown function lenght(); functions: base64encode, cidrhost, cidrsubnet, contains, element, file, format, join, jsonencode, length, lookup, range, split`,
      `${FILE}:9:28: error: resources.n.properties.description: unknown local value local.zz; the stack declares no locals here`,
    ]);
  });

  test('references to instances are checked against count and forEach', () => {
    const yaml = `resources:\n  n:\n    type: network\n    count: 2\n  m:\n    type: network\n    properties: { description: "\${n[2].id}" }\n  k:\n    type: network\n    properties: { description: "\${n.id}" }\n`;
    const { lines } = load(yaml);
    assert.deepEqual(lines, [
      `${FILE}:7:37: error: resources.m.properties.description: n[2] does not exist: n has count 2`,
      `${FILE}:10:35: error: resources.k.properties.description: n has count: name one instance, e.g. n[0].id`,
    ]);
  });

  test('count must be known before apply, a whole number', () => {
    const a = load(`resources:\n  a: { type: network }\n  n:\n    type: network\n    count: \${a.mtu}\n`);
    assert.match(a.lines.join('\n'), /5:14: error: resources\.n\.count: count must be known before apply/);
    const b = load(`resources:\n  n:\n    type: network\n    count: \${1 + 0.5}\n`);
    assert.match(b.lines.join('\n'), /resources\.n\.count: count must be a whole number/);
  });

  test('a local that depends on itself is an error', () => {
    const { lines } = load(`locals:\n  a: \${local.b}\n  b: \${local.a}\nresources: {}\n`);
    assert.match(lines[0]!, /local\.a depends on itself: local\.a -> local\.b -> local\.a/);
  });

  test('unquoted ${...} in a YAML flow list is one diagnostic with a hint to quote it', () => {
    const yaml =
      'resources:\n  web:\n    type: server\n    properties:\n      networks: [{ subnet: ${subnet} }]\n      image: ${img}\n';
    const { lines } = load(yaml);
    assert.deepEqual(lines, [
      `${FILE}:5:28: error: unquoted \${subnet} inside a YAML flow collection ([...] or {...}): YAML reads { as the start of a mapping; quote it: "\${subnet}"`,
    ]);
  });

  test('file() reads relative to the stack file', () => {
    writeFileSync(join(dir, 'init.sh'), '#!/bin/sh\necho hi\n');
    const { config, lines } = load(
      'resources:\n  img: { type: image, properties: { source: /x.qcow2 } }\n  n: { type: network }\n  sub: { type: subnet, properties: { network: "${n}", cidr: 10.0.0.0/24 } }\n  s:\n    type: server\n    properties: { image: "${img}", networks: [{ network: "${n}" }], userData: "${file(\\"init.sh\\")}" }\n',
    );
    assert.deepEqual(lines, []);
    assert.equal(config!.resources.get('s')!.properties.userData, '#!/bin/sh\necho hi\n');
  });
});

describe('plans and applies in memory', () => {
  test('count 3 -> 2 destroys exactly web[2]; values from unknown attributes are known after apply', async () => {
    const first = load(STACK, { password: 'hunter2' }).config!;
    const applied = await applyStack(first);
    assert.deepEqual(applied.errors ?? [], []);
    assert.equal(applied.outputs.first_name, 'web-0');
    // format() of an address known only after apply was computed at apply.
    assert.equal(applied.outputs.url, `http://${applied.resource('web[0]').attributes.accessIpV4}/`);
    // -replace of one instance replaces it alone; of the resource, all its instances.
    const providers = new MemoryHandlers().providers;
    const { graph } = checkStack(first, providers);
    const replaced = (replace: string[]) =>
      makePlan(first, graph, unrefreshed(applied.state), applied.state, providers, { replace })
        .changes.filter((c) => c.action !== 'no-op')
        .map((c) => `${c.action} ${c.name}`);
    assert.deepEqual(replaced(['web[1]']), ['replace web[1]']);
    // (what references a replaced network is replaced after it, as its id changes)
    const all = replaced(['net']);
    assert.ok(all.includes('replace net["a"]') && all.includes('replace net["b"]'), all.join(', '));
    const second = load(STACK, { password: 'hunter2', servers: '2' }).config!;
    const { plan } = await planStack(second, { state: applied.state });
    const changed = plan!.changes.filter((c) => c.action !== 'no-op').map((c) => `${c.action} ${c.name}`);
    assert.deepEqual(changed, ['delete web[2]']);
  });

  test('a plan shows a call on an unknown value as unknown, and redacts what came from a sensitive variable', async () => {
    const { plan } = await planStack(load(STACK, { password: 'hunter2' }).config!);
    assert.equal(plan!.outputs.url!.value, UNKNOWN);
    const web = plan!.changes.find((c) => c.name === 'web[1]')!;
    assert.deepEqual(web.sensitive, ['userData']);
  });

  test('-target web[1] plans web[1] and what it depends on only; -target web all of web', () => {
    const config = load(STACK, { password: 'x' }).config!;
    const providers = new MemoryHandlers().providers;
    const { graph } = checkStack(config, providers);
    const planned = (targets: string[]) =>
      makePlan(config, graph, unrefreshed(emptyState('t')), null, providers, { targets })
        .changes.map((c) => c.name)
        .sort();
    assert.deepEqual(planned(['web[1]']), ['img', 'net["a"]', 'subnet["a"]', 'web[1]']);
    assert.deepEqual(planned(['web']), ['img', 'net["a"]', 'subnet["a"]', 'web[0]', 'web[1]', 'web[2]']);
  });

  test('an output from a sensitive variable must be marked sensitive', async () => {
    const yaml = `${STACK}  pw: \${var.password}\n  ud: \${web[0].userData}\n`;
    const { diagnostics } = await planStack(load(yaml, { password: 'hunter2' }).config!);
    const text = diagnostics.map(formatDiagnostic).join('\n');
    assert.match(
      text,
      /output pw refers to the sensitive value var\.password; mark the output sensitive: true/,
    );
    // Through a resource: web[0].userData was made from the password.
    assert.match(
      text,
      /output ud refers to the sensitive value \$\{web\[0\]\.userData\}; mark the output sensitive: true/,
    );
    assert.doesNotMatch(text, /hunter2/);
  });
});

describe('functions', () => {
  const f = callFunction;
  test('as Terraform computes them', () => {
    assert.equal(f('format', ['%s-%03d', 'web', 7]), 'web-007');
    assert.equal(f('join', [',', ['a', 'b']]), 'a,b');
    assert.deepEqual(f('split', [',', 'a,b']), ['a', 'b']);
    assert.equal(f('cidrhost', ['10.0.0.0/24', 5]), '10.0.0.5');
    assert.equal(f('cidrhost', ['10.0.0.0/24', -2]), '10.0.0.254');
    assert.equal(f('cidrsubnet', ['10.0.0.0/16', 8, 3]), '10.0.3.0/24');
    assert.equal(f('cidrsubnet', ['172.16.0.0/12', 4, 15]), '172.31.0.0/16');
    assert.equal(f('base64encode', ['héllo']), 'aMOpbGxv');
    assert.equal(f('jsonencode', [{ a: [1, true] }]), '{"a":[1,true]}');
    assert.equal(f('lookup', [{ a: 1 }, 'b', 2]), 2);
    assert.equal(f('length', ['héllo']), 5);
    assert.equal(f('element', [['a', 'b'], 3]), 'b');
    assert.deepEqual(f('range', [3]), [0, 1, 2]);
    assert.deepEqual(f('range', [1, 7, 2]), [1, 3, 5]);
  });
  test('bad arguments are errors that say why', () => {
    assert.throws(() => f('cidrsubnet', ['10.0.0.0/30', 8, 0]), /a \/30 cannot be extended by 8 bits/);
    assert.throws(() => f('cidrhost', ['10.0.0.0/24', 256]), /does not fit in a \/24/);
    assert.throws(() => f('format', ['%s %s', 'a']), /not enough arguments/);
    assert.throws(() => f('lookup', [{}, 'k']), /no key "k"/);
  });
});

describe('syntax and addresses', () => {
  test('templates, escapes and errors with their offset', () => {
    assert.deepEqual(parseTemplate('a $${b}'), { k: 'lit', value: 'a ${b}', at: 0, end: 7 });
    assert.equal(parseTemplate('${1 + 2 * 3}').k, 'op');
    assert.throws(
      () => parseTemplate('x ${format("a", }'),
      (e: unknown) => e instanceof SyntaxProblem && e.at === 16,
    );
    assert.throws(() => parseTemplate('${var.a'), /unterminated \$\{/);
  });
  test('instance addresses round-trip', () => {
    assert.equal(instanceName('web', 1), 'web[1]');
    assert.equal(instanceName('net', 'a"b'), 'net["a\\"b"]');
    assert.deepEqual(parseAddress('net["a\\"b"]'), { name: 'net', key: 'a"b' });
    assert.deepEqual(parseAddress('web[2]'), { name: 'web', key: 2 });
    assert.deepEqual(parseAddress('web'), { name: 'web' });
    assert.equal(parseAddress('web[x]'), undefined);
  });
});

describe('the sensitive value in errors', () => {
  test('a failing function on a sensitive value does not quote it', () => {
    const yaml = `variables:\n  k: { sensitive: true }\nresources:\n  n:\n    type: network\n    properties: { name: '\${lookup({a = "x"}, var.k)}' }\n`;
    const { lines } = load(yaml, { k: 'hunter2' });
    assert.equal(lines.length, 1);
    assert.match(
      lines[0]!,
      /stack\.yaml:6:\d+: error: resources\.n\.properties\.name: this expression uses the sensitive value var\.k and fails/,
    );
    assert.doesNotMatch(lines[0]!, /hunter2/);
  });

  test('a schema error on a value from a sensitive variable says where, not what', () => {
    const yaml = `variables:\n  k: { sensitive: true }\nresources:\n  n:\n    type: subnet\n    properties: { network: n, cidr: '\${var.k}' }\n`;
    const { lines } = load(yaml, { k: 'hunter2/99' });
    assert.ok(
      lines.some((l) => /resources\.n\.properties\.cidr: the value \(sensitive\) is not valid here/.test(l)),
      lines.join('\n'),
    );
    assert.ok(
      lines.every((l) => !l.includes('hunter2')),
      lines.join('\n'),
    );
  });
});
