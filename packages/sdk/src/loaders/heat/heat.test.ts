/**
 * The HOT loader: templates written the way public Heat templates are (parameters with constraints,
 * conditions, ResourceGroups with %index%, provider templates through an environment, str_replace'd
 * user data), each compared with the stack file that says the same thing (the plan, and the applied
 * state in memory), and bad templates with their diagnostics at file:line:column.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { formatDiagnostic } from '../../diagnostics/index.js';
import { checkStack } from '../../engine/check.js';
import type { StackConfig } from '../../engine/config.js';
import { Ref } from '../../engine/expr.js';
import type { Plan } from '../../engine/plan.js';
import { MemoryHandlers } from '../../testing/memory-handlers.js';
import { applyStack, planStack } from '../../testing/plan-stack.js';
import { loadStackText } from '../stack-yaml.js';
import { type HeatLoadOptions, isHeatTemplateText, loadHeatFile } from './load.js';

const root = mkdtempSync(join(tmpdir(), 'stratus-heat-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

/** A fresh directory holding `files` (name -> text); returns its path. */
function dirWith(files: Record<string, string>): string {
  const dir = join(root, `t${n++}`);
  mkdirSync(dir);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  writeFileSync(join(dir, 'disk.qcow2'), 'not really an image');
  return dir;
}

/** Loads `template` (with other files beside it) and checks it; diagnostics as formatted lines. */
function heat(
  template: string,
  opts: HeatLoadOptions & { files?: Record<string, string> } = {},
): { config?: StackConfig; lines: string[]; errors: string[]; dir: string } {
  const dir = dirWith({ 'template.yaml': template, ...(opts.files ?? {}) });
  const r = loadHeatFile(join(dir, 'template.yaml'), {
    ...opts,
    environments: (opts.environments ?? []).map((e) => join(dir, e)),
  });
  const items = [...r.diagnostics.items];
  if (r.config && !r.diagnostics.hasErrors)
    items.push(...checkStack(r.config, new MemoryHandlers().providers).diagnostics.items);
  const lines = items.map(formatDiagnostic).map((l) => l.replace(`${dir}/`, ''));
  return {
    config: r.diagnostics.hasErrors ? undefined : r.config,
    lines,
    errors: lines.filter((l) => l.includes(': error: ')),
    dir,
  };
}

/** A stack file's config, in the same directory as a template (so relative paths agree). */
function native(yaml: string, dir: string): StackConfig {
  const r = loadStackText(yaml, join(dir, 'stack.yaml'));
  assert.deepEqual(r.diagnostics.items.map(formatDiagnostic), []);
  return r.config!;
}

/** What a plan says per resource, without what differs by front end only (texts of references). */
function shape(plan: Plan | undefined) {
  assert.ok(plan);
  return {
    changes: plan.changes
      .map((c) => ({
        name: c.name,
        type: c.type,
        action: c.action,
        after: c.after,
        dependencies: [...c.dependencies].sort(),
        sensitive: c.sensitive ?? [],
      }))
      .sort((a, b) => a.name.localeCompare(b.name)),
    outputs: Object.fromEntries(
      Object.entries(plan.outputs).map(([k, o]) => [k, { value: o.value, sensitive: o.sensitive }]),
    ),
  };
}

const V = 'heat_template_version: 2018-08-31\n';

describe('detection', () => {
  test('a top-level heat_template_version makes a template, by date or release name', () => {
    assert.ok(isHeatTemplateText('heat_template_version: 2013-05-23\nresources: {}\n'));
    assert.ok(isHeatTemplateText('# comment\nheat_template_version: rocky\n'));
    assert.ok(isHeatTemplateText('{"heat_template_version": "2016-10-14", "resources": {}}'));
    assert.ok(!isHeatTemplateText('name: x\nresources:\n  a:\n    heat_template_version: 1\n'));
    for (const v of ['2013-05-23', '2015-10-15', '2016-10-14', 'newton', 'pike', '2021-04-16', 'wallaby'])
      assert.deepEqual(heat(`heat_template_version: ${v}\nresources: {}\n`).errors, [], v);
  });

  test('an unknown version is an error at the value', () => {
    const { errors } = heat('heat_template_version: 2012-01-01\nresources: {}\n');
    assert.equal(errors.length, 1);
    assert.match(
      errors[0]!,
      /^template\.yaml:1:24: error: heat_template_version: unknown heat_template_version "2012-01-01"/,
    );
  });
});

describe('golden: a template plans as the stack file saying the same', () => {
  test('image, flavor, key pair, network, subnet, servers by name and by get_resource, a ResourceGroup', async () => {
    const template = `${V}
parameters:
  net_name: {type: string, default: private}
  web_count: {type: number, default: 2}
resources:
  img:
    type: OS::Glance::WebImage
    properties: {name: cirros, location: disk.qcow2, container_format: bare, disk_format: qcow2}
  small:
    type: OS::Nova::Flavor
    properties: {name: m1.small, vcpus: 1, ram: 512, disk: 2}
  key:
    type: OS::Nova::KeyPair
    properties: {name: deploy}
  net:
    type: OS::Neutron::Net
    properties: {name: {get_param: net_name}}
  subnet:
    type: OS::Neutron::Subnet
    properties:
      network: {get_resource: net}
      cidr: 10.30.0.0/24
      dns_nameservers: [10.30.0.1]
      allocation_pools: [{start: 10.30.0.10, end: 10.30.0.100}]
  db:
    type: OS::Nova::Server
    properties:
      image: cirros
      flavor: m1.small
      key_name: deploy
      networks: [{network: private}]
  web:
    type: OS::Heat::ResourceGroup
    properties:
      count: {get_param: web_count}
      resource_def:
        type: OS::Nova::Server
        properties:
          name: web-%index%
          image: {get_resource: img}
          flavor: {get_resource: small}
          networks: [{subnet: {get_resource: subnet}, fixed_ip: 10.30.0.5%index%}]
outputs:
  db_ip: {value: {get_attr: [db, first_address]}}
  web_ips: {value: {get_attr: [web, first_address]}}
  first_web: {value: {get_attr: [web, resource.0, first_address]}}
`;
    const h = heat(template);
    assert.deepEqual(h.errors, []);
    const stack = native(
      `name: template
resources:
  img: {type: image, properties: {name: cirros, source: disk.qcow2}}
  small: {type: flavor, properties: {name: m1.small, vcpus: 1, ramMb: 512, diskGb: 2}}
  key: {type: keypair, properties: {name: deploy}}
  net: {type: network, properties: {name: private}}
  subnet:
    type: subnet
    properties:
      network: \${net}
      cidr: 10.30.0.0/24
      dnsNameservers: [10.30.0.1]
      allocationPools: [{start: 10.30.0.10, end: 10.30.0.100}]
  db:
    type: server
    properties:
      image: \${img}
      flavor: \${small}
      keyPair: \${key}
      networks: [{network: "\${net}"}]
  web:
    type: server
    count: 2
    properties:
      name: web-\${count.index}
      image: \${img}
      flavor: \${small}
      networks: [{subnet: "\${subnet}", fixedIp: "10.30.0.5\${count.index}"}]
outputs:
  db_ip: \${db.accessIpV4}
  web_ips: ["\${web[0].accessIpV4}", "\${web[1].accessIpV4}"]
  first_web: \${web[0].accessIpV4}
`,
      h.dir,
    );
    const a = await planStack(h.config!);
    const b = await planStack(stack);
    assert.deepEqual(a.diagnostics, []);
    assert.deepEqual(shape(a.plan), shape(b.plan));
    assert.deepEqual(a.plan!.changes.map((c) => c.name).sort(), [
      'db',
      'img',
      'key',
      'net',
      'small',
      'subnet',
      'web[0]',
      'web[1]',
    ]);
  });

  test("user data from str_replace over another server's address is computed at apply, as format() is", async () => {
    const template = `${V}
resources:
  img: {type: OS::Glance::Image, properties: {location: disk.qcow2}}
  net: {type: OS::Neutron::Net}
  subnet: {type: OS::Neutron::Subnet, properties: {network: {get_resource: net}, cidr: 10.31.0.0/24}}
  db:
    type: OS::Nova::Server
    properties: {image: {get_resource: img}, flavor: tiny, networks: [{subnet: {get_resource: subnet}}]}
  tiny: {type: OS::Nova::Flavor, properties: {vcpus: 1, ram: 256}}
  web:
    type: OS::Nova::Server
    properties:
      image: {get_resource: img}
      flavor: {get_resource: tiny}
      networks: [{subnet: {get_resource: subnet}}]
      user_data_format: RAW
      user_data:
        str_replace:
          template: |
            #!/bin/sh
            echo "db at $DB_IP, name $NAME" > /etc/db
          params:
            $DB_IP: {get_attr: [db, first_address]}
            $NAME: {get_attr: [db, name]}
outputs:
  url: {value: {list_join: ['', ['http://', {get_attr: [web, first_address]}, '/']]}}
`;
    const h = heat(template);
    assert.deepEqual(h.errors, []);
    const stack = native(
      `name: template
resources:
  img: {type: image, properties: {source: disk.qcow2}}
  net: {type: network}
  subnet: {type: subnet, properties: {network: "\${net}", cidr: 10.31.0.0/24}}
  tiny: {type: flavor, properties: {vcpus: 1, ramMb: 256}}
  db:
    type: server
    properties: {image: "\${img}", flavor: "\${tiny}", networks: [{subnet: "\${subnet}"}]}
  web:
    type: server
    properties:
      image: \${img}
      flavor: \${tiny}
      networks: [{subnet: "\${subnet}"}]
      userData: \${format("#!/bin/sh\\necho \\"db at %s, name %s\\" > /etc/db\\n", db.accessIpV4, db.name)}
outputs:
  url: http://\${web.accessIpV4}/
`,
      h.dir,
    );
    const pa = await planStack(h.config!);
    const pb = await planStack(stack);
    const strip = (p: Plan | undefined) => {
      const s = shape(p);
      return s;
    };
    assert.deepEqual(strip(pa.plan), strip(pb.plan));
    const web = pa.plan!.changes.find((c) => c.name === 'web')!;
    assert.deepEqual(Object.keys(web.deferred ?? {}).includes('userData'), true);
    const a = await applyStack(h.config!);
    const b = await applyStack(stack);
    const ua = a.resource('web').attributes.userData as string;
    // The in-memory worlds make different fake addresses: compared with each one's own put back.
    const ipA = a.resource('db').attributes.accessIpV4 as string;
    const ipB = b.resource('db').attributes.accessIpV4 as string;
    assert.equal(ua.replace(ipA, 'IP'), (b.resource('web').attributes.userData as string).replace(ipB, 'IP'));
    assert.match(ua, new RegExp(`db at ${a.resource('db').attributes.accessIpV4}, name db`));
    assert.equal(a.outputs.url, `http://${a.resource('web').attributes.accessIpV4}/`);
    assert.equal(b.outputs.url, `http://${b.resource('web').attributes.accessIpV4}/`);
  });
});

describe('intrinsic functions', () => {
  /** The value of output `o` of a template whose outputs are computed from parameters alone. */
  async function outputs(body: string, opts: HeatLoadOptions & { files?: Record<string, string> } = {}) {
    const h = heat(`${V}${body}`, opts);
    assert.deepEqual(h.errors, []);
    const p = await planStack(h.config!);
    assert.deepEqual(p.diagnostics, []);
    return Object.fromEntries(Object.entries(p.plan!.outputs).map(([k, o]) => [k, o.value])) as Record<
      string,
      unknown
    >;
  }

  test('get_param with a path, list_join of several lists, str_split, repeat, map_merge, map_replace, digest, filter, contains', async () => {
    const o = await outputs(`
parameters:
  servers: {type: json, default: {web: {port: 80}, db: {port: 5432}}}
  names: {type: comma_delimited_list, default: "a, b,c"}
  csv: {type: string, default: "x:y:z"}
resources: {}
outputs:
  port: {value: {get_param: [servers, db, port]}}
  second: {value: {get_param: [names, 1]}}
  joined: {value: {list_join: [',', {get_param: names}, [d, 1]]}}
  split: {value: {str_split: [':', {get_param: csv}]}}
  part: {value: {str_split: [':', {get_param: csv}, 2]}}
  rules:
    value:
      repeat:
        for_each: {<%port%>: [80, 443], <%cidr%>: [10.0.0.0/8]}
        template: {port_range_min: <%port%>, remote_ip_prefix: <%cidr%>}
  merged: {value: {map_merge: [{a: 1, b: 1}, {b: 2}]}}
  replaced: {value: {map_replace: [{k1: v1, k2: v2}, {keys: {k1: K1}, values: {v2: V2}}]}}
  digest: {value: {digest: [sha256, abc]}}
  filtered: {value: {filter: [[b], {get_param: names}]}}
  has: {value: {contains: [c, {get_param: names}]}}
`);
    assert.equal(o.port, 5432);
    assert.equal(o.second, 'b');
    assert.equal(o.joined, 'a,b,c,d,1');
    assert.deepEqual(o.split, ['x', 'y', 'z']);
    assert.equal(o.part, 'z');
    assert.deepEqual(o.rules, [
      { port_range_min: '80', remote_ip_prefix: '10.0.0.0/8' },
      { port_range_min: '443', remote_ip_prefix: '10.0.0.0/8' },
    ]);
    assert.deepEqual(o.merged, { a: 1, b: 2 });
    assert.deepEqual(o.replaced, { K1: 'v1', k2: 'V2' });
    assert.equal(o.digest, 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    assert.deepEqual(o.filtered, ['a', 'c']);
    assert.equal(o.has, true);
  });

  test('str_replace replaces longer keys first; _strict needs every key; _vstr needs string values', async () => {
    const o = await outputs(`
resources: {}
outputs:
  s: {value: {str_replace: {template: "$var $var1 $var", params: {$var: a, $var1: b}}}}
  n: {value: {str_replace: {template: "port=PORT", params: {PORT: 8080}}}}
`);
    assert.equal(o.s, 'a b a');
    assert.equal(o.n, 'port=8080');
    const strict = heat(
      `${V}resources: {}\noutputs:\n  s: {value: {str_replace_strict: {template: abc, params: {x: y}}}}\n`,
    );
    assert.match(
      strict.errors.join('\n'),
      /template\.yaml:4:35: error: outputs\.s\.value: str_replace_strict: the key "x" does not occur in the template/,
    );
    const vstr = heat(
      `${V}resources: {}\noutputs:\n  s: {value: {str_replace_vstr: {template: abc, params: {a: [1]}}}}\n`,
    );
    assert.match(vstr.errors.join('\n'), /str_replace_vstr: the value of "a" must be a string or number/);
  });

  test('conditions: equals, not, and, or, if (with a left-out false branch) and resources with a condition', async () => {
    const h = heat(`${V}
parameters:
  env: {type: string, default: prod, constraints: [{allowed_values: [prod, dev]}]}
  ha: {type: boolean, default: "yes"}
conditions:
  is_prod: {equals: [{get_param: env}, prod]}
  is_dev: {not: is_prod}
  prod_ha: {and: [is_prod, {get_param: ha}]}
  any: {or: [is_dev, prod_ha]}
resources:
  net: {type: OS::Neutron::Net, properties: {name: {if: [is_prod, prod-net, dev-net]}}}
  dev_net: {type: OS::Neutron::Net, condition: is_dev}
  extra:
    type: OS::Neutron::Subnet
    properties:
      network: {get_resource: net}
      cidr: 10.32.0.0/24
      gateway_ip: {if: [is_dev, 10.32.0.254]}
outputs:
  flags: {value: [{if: [prod_ha, on, off]}, {if: [any, yes-any, no-any]}]}
  dev: {value: {get_resource: dev_net}, condition: is_dev}
`);
    assert.deepEqual(h.errors, []);
    assert.deepEqual([...h.config!.resources.keys()].sort(), ['extra', 'net']);
    assert.equal(h.config!.resources.get('net')!.properties.name, 'prod-net');
    assert.equal(h.config!.resources.get('extra')!.properties.gatewayIp, undefined);
    const p = await planStack(h.config!);
    assert.deepEqual(p.plan!.outputs.flags!.value, ['on', 'yes-any']);
    assert.equal(p.plan!.outputs.dev!.value, null);
    const dev = heat(`${V}
parameters: {env: {type: string, default: dev}}
conditions: {is_dev: {equals: [{get_param: env}, dev]}}
resources:
  dev_net: {type: OS::Neutron::Net, condition: is_dev}
`);
    assert.deepEqual([...dev.config!.resources.keys()], ['dev_net']);
  });

  test('get_file reads a file relative to the template, and the file is an input of saved plans', () => {
    const h = heat(
      `${V}
resources:
  cfg: {type: OS::Heat::SoftwareConfig, properties: {config: {get_file: scripts/boot.sh}}}
outputs:
  c: {value: {get_attr: [cfg, config]}}
`,
      { files: {} },
    );
    // The file did not exist: an error at the function.
    assert.deepEqual(h.errors, [
      'template.yaml:4:73: error: resources.cfg.properties.config: get_file: cannot read scripts/boot.sh: ENOENT',
    ]);
    const dir = dirWith({
      'template.yaml': `${V}resources: {}\noutputs:\n  c: {value: {get_file: boot.sh}}\n`,
      'boot.sh': '#!/bin/sh\necho hi\n',
    });
    const r = loadHeatFile(join(dir, 'template.yaml'));
    assert.equal(r.config!.outputs.get('c')!.value, '#!/bin/sh\necho hi\n');
    assert.ok(r.config!.inputs!.includes(join(dir, 'boot.sh')));
  });

  test('a function newer than the template version is an error naming the version it needs', () => {
    const h = heat(
      'heat_template_version: 2015-04-30\nresources: {}\noutputs:\n  o: {value: {map_merge: [{a: 1}]}}\n',
    );
    assert.deepEqual(h.errors, [
      'template.yaml:4:15: error: outputs.o.value: map_merge needs heat_template_version 2016-04-08 or later (this template is 2015-04-30)',
    ]);
  });

  test('yaql, resource_facade, CloudFormation functions, update_policy and software deployments are named', () => {
    const h = heat(`${V}
resources:
  a:
    type: OS::Heat::Value
    properties: {value: {yaql: {expression: $.data.x, data: {x: 1}}}}
  b:
    type: OS::Heat::SoftwareDeployment
    properties: {config: x, server: y}
  c:
    type: OS::Neutron::Net
    update_policy: {max_batch_size: 1}
  d:
    type: OS::Heat::Value
    properties: {value: {Fn::Join: [',', [a]]}}
`);
    assert.deepEqual(h.errors, [
      'template.yaml:8:11: error: resources.b.type: OS::Heat::SoftwareDeployment: Heat software deployments (signalling a config to a server) are not supported',
      'template.yaml:12:5: error: resources.c.update_policy: update_policy is not supported: Stratus plans updates from the diff (rolling updates and batches are not done)',
      'template.yaml:6:26: error: resources.a.properties.value: yaql expressions are not supported: use the HOT functions (list_join, map_merge, repeat, if...)',
      'template.yaml:15:26: error: resources.d.properties.value: the CloudFormation function Fn::Join is not supported in HOT templates; use the HOT functions (get_resource, get_attr, list_join...)',
    ]);
  });
});

describe('parameters and environments', () => {
  const PARAMS = `${V}
parameter_groups:
  - label: size
    parameters: [count, ram]
parameters:
  count: {type: number, default: 1, constraints: [{range: {min: 1, max: 3}, description: One to three.}]}
  ram: {type: number, default: 256, constraints: [{modulo: {step: 128}}]}
  name: {type: string, default: abc, constraints: [{length: {min: 2, max: 8}}, {allowed_pattern: "[a-z]+"}]}
  mode: {type: string, default: a, constraints: [{allowed_values: [a, b]}]}
  tags: {type: comma_delimited_list, default: "x,y"}
  flag: {type: boolean, default: false}
  blob: {type: json, default: {k: v}}
  secret: {type: string, hidden: true}
resources:
  net: {type: OS::Neutron::Net, properties: {name: {get_param: name}}}
outputs:
  all: {value: [{get_param: count}, {get_param: ram}, {get_param: mode}, {get_param: tags}, {get_param: flag}, {get_param: blob}]}
  secret: {value: {get_param: secret}}
`;

  test('values from -P (text), converted to each type; a hidden parameter makes what uses it sensitive', async () => {
    const h = heat(PARAMS, {
      parameters: new Map([
        ['count', '3'],
        ['ram', '512'],
        ['tags', 'p, q'],
        ['flag', 'on'],
        ['blob', '{"a": [1]}'],
        ['secret', 'hunter22'],
      ]),
    });
    assert.deepEqual(h.errors, []);
    const p = await planStack(h.config!);
    assert.deepEqual(p.plan!.outputs.all!.value, [3, 512, 'a', ['p', 'q'], true, { a: [1] }]);
    assert.equal(p.plan!.outputs.secret!.sensitive, true);
  });

  test('every constraint fails with its description or Heat-style message, at the value', () => {
    const h = heat(PARAMS, {
      parameters: new Map([
        ['count', '4'],
        ['ram', '300'],
        ['name', 'ABC'],
        ['mode', 'c'],
        ['secret', 'x'],
      ]),
    });
    assert.deepEqual(
      h.errors.map((l) => l.replace(/^template\.yaml:\d+:\d+: error: /, '')),
      [
        'parameters.count: parameter count (from -P count=...): One to three.',
        'parameters.ram: parameter ram (from -P ram=...): the value must be 0 modulo 128',
        'parameters.name: parameter name (from -P name=...): the value must match the pattern "[a-z]+"',
        'parameters.mode: parameter mode (from -P mode=...): the value must be one of ["a","b"]',
      ],
    );
    const missing = heat(PARAMS);
    assert.deepEqual(missing.errors, [
      "template.yaml:14:3: error: parameters.secret: parameter secret has no value: give -P secret=VALUE, or set it in an environment file's parameters",
    ]);
    const typo = heat(PARAMS, {
      parameters: new Map([
        ['secret', 'abcdefgh'],
        ['cuont', '2'],
      ]),
    });
    assert.match(typo.errors.join('\n'), /parameters\.cuont: -P cuont: the template has no parameter cuont/);
  });

  test('an environment file gives parameters, parameter_defaults and a resource_registry of provider templates and None', async () => {
    const dir = dirWith({
      'template.yaml': `${V}
parameters:
  size: {type: number}
  cidr: {type: string, default: 10.1.0.0/24}
resources:
  net: {type: OS::Neutron::Net}
  tier:
    type: My::Tier
    properties: {network: {get_resource: net}, size: {get_param: size}}
  debug: {type: My::Debug, properties: {anything: 1}}
outputs:
  subnet_cidr: {value: {get_attr: [tier, cidr]}}
`,
      'env.yaml':
        'parameters: {size: 1}\nparameter_defaults: {cidr: 10.9.0.0/24, prefix: t}\nresource_registry:\n  My::Tier: lib/tier.yaml\n  My::Debug: OS::Neutron::Net\n',
      'env2.yaml': 'parameters: {size: 2}\nresource_registry:\n  My::Debug: OS::Heat::None\n',
    });
    mkdirSync(join(dir, 'lib'));
    writeFileSync(
      join(dir, 'lib/tier.yaml'),
      `${V}
parameters:
  network: {type: string}
  size: {type: number}
  prefix: {type: string, default: x}
  cidr: {type: string}
resources:
  subnet:
    type: OS::Neutron::Subnet
    properties: {network: {get_param: network}, cidr: {get_param: cidr}, name: {list_join: ['-', [{get_param: prefix}, {get_param: size}]]}}
outputs:
  cidr: {value: {get_attr: [subnet, cidr]}}
`,
    );
    const r = loadHeatFile(join(dir, 'template.yaml'), {
      environments: [join(dir, 'env.yaml'), join(dir, 'env2.yaml')],
    });
    assert.deepEqual(r.diagnostics.items.map(formatDiagnostic), []);
    const c = r.config!;
    assert.deepEqual([...c.resources.keys()].sort(), ['net', 'tier-subnet']);
    assert.equal(c.resources.get('tier-subnet')!.properties.name, 't-2');
    assert.equal(c.resources.get('tier-subnet')!.properties.cidr, '10.9.0.0/24');
    assert.ok(c.inputs!.includes(join(dir, 'lib/tier.yaml')) && c.inputs!.includes(join(dir, 'env2.yaml')));
    const a = await applyStack(c);
    assert.equal(a.outputs.subnet_cidr, '10.9.0.0/24');
    assert.equal(a.resource('tier-subnet').attributes.network, a.resource('net').id);
  });

  test('custom constraints check names against the stack; parameter_groups name declared parameters once', () => {
    const h = heat(`${V}
parameter_groups:
  - parameters: [flavor, nope]
  - parameters: [flavor]
parameters:
  flavor: {type: string, default: m1.huge, constraints: [{custom_constraint: nova.flavor}]}
  net: {type: string, default: private, constraints: [{custom_constraint: neutron.network}]}
resources:
  small: {type: OS::Nova::Flavor, properties: {name: m1.small, vcpus: 1, ram: 256}}
  private: {type: OS::Neutron::Net}
`);
    assert.deepEqual(h.errors, [
      'template.yaml:4:26: error: parameter_groups[0].parameters[1]: names no parameter of the template: nope',
      'template.yaml:5:18: error: parameter_groups[1].parameters[0]: parameter flavor is already in parameter_groups[0]: a parameter belongs to one group',
      'template.yaml:7:26: error: parameters.flavor: parameter flavor (custom constraint nova.flavor): no flavor named "m1.huge" in the template, and existing flavors were not looked up here (the CLI looks them up on the agent): declare it, or give {get_resource: NAME}',
    ]);
  });
});

describe('Heat types', () => {
  test('OS::Neutron::Subnet: gateway_ip null is noGateway, enable_dhcp and host_routes map to enableDhcp and hostRoutes', () => {
    const h = heat(`${V}
resources:
  net: {type: OS::Neutron::Net}
  a:
    type: OS::Neutron::Subnet
    properties:
      network: {get_resource: net}
      cidr: 10.40.0.0/24
      gateway_ip: null
      enable_dhcp: false
      host_routes: [{destination: 10.50.0.0/16, nexthop: 10.40.0.9}]
  b:
    type: OS::Neutron::Subnet
    properties: {network: {get_resource: net}, cidr: 10.41.0.0/24, gateway_ip: 10.41.0.254}
`);
    assert.deepEqual(h.errors, []);
    const a = h.config!.resources.get('a')!.properties;
    assert.equal(a.noGateway, true);
    assert.equal(a.gatewayIp, undefined);
    assert.equal(a.enableDhcp, false);
    assert.deepEqual(a.hostRoutes, [{ destination: '10.50.0.0/16', nexthop: '10.40.0.9' }]);
    const b = h.config!.resources.get('b')!.properties;
    assert.equal(b.gatewayIp, '10.41.0.254');
    assert.equal(b.noGateway, undefined);
  });
  test('RandomString: the same value from the same seed, its classes honoured, changed by salt; outputs of it are sensitive; nothing written', async () => {
    const t = (salt: string) => `${V}
resources:
  pw:
    type: OS::Heat::RandomString
    properties:
      length: 24
      salt: ${salt}
      character_classes: [{class: digits, min: 3}, {class: uppercase, min: 2}]
      character_sequences: [{sequence: "!@", min: 1}]
outputs:
  pw: {value: {get_attr: [pw, value]}}
  id: {value: {get_resource: pw}}
`;
    const dir = dirWith({ 'template.yaml': t('a') });
    const before = readdirSync(dir).sort();
    const fresh = loadHeatFile(join(dir, 'template.yaml')).config!;
    const seed = fresh.randomSeed!;
    assert.match(seed, /^[0-9a-f]{64}$/, 'a load without a seed makes one and says which');
    const again = loadHeatFile(join(dir, 'template.yaml')).config!;
    assert.notEqual(again.randomSeed, seed, 'each load without a seed makes its own');
    const v1 = loadHeatFile(join(dir, 'template.yaml'), { randomSeed: seed }).config!;
    assert.equal(v1.randomSeed, seed);
    const o1 = v1.outputs.get('pw')!;
    assert.equal(o1.value, fresh.outputs.get('pw')!.value, 'the same seed gives the same value');
    assert.equal(o1.sensitive, true);
    const s = o1.value as string;
    assert.equal(s.length, 24);
    assert.ok(
      (s.match(/[0-9]/g) ?? []).length >= 3 && (s.match(/[A-Z]/g) ?? []).length >= 2 && /[!@]/.test(s),
    );
    assert.deepEqual(readdirSync(dir).sort(), before, 'loading wrote nothing beside the template');
    writeFileSync(join(dir, 'template.yaml'), t('b'));
    const salted = loadHeatFile(join(dir, 'template.yaml'), { randomSeed: seed }).config!;
    assert.notEqual(salted.outputs.get('pw')!.value, s);
    // A template without random values names no seed (its state keeps none).
    assert.equal(
      loadHeatFile(join(dirWith({ 'template.yaml': `${V}resources: {}\n` }), 'template.yaml')).config!
        .randomSeed,
      undefined,
    );
  });

  test("SecurityGroup keeps Neutron's default egress rule unless its rules say something of egress", () => {
    const { config, errors } = heat(`${V}
resources:
  none:
    type: OS::Neutron::SecurityGroup
  ingress_only:
    type: OS::Neutron::SecurityGroup
    properties:
      rules: [{protocol: tcp, port_range_min: 80, port_range_max: 80}]
  with_egress:
    type: OS::Neutron::SecurityGroup
    properties:
      rules: [{protocol: tcp, port_range_min: 22, port_range_max: 22}, {direction: egress, protocol: udp}]
`);
    assert.deepEqual(errors, []);
    const rules = (n: string) => config!.resources.get(n)!.properties.rules;
    assert.deepEqual(rules('none'), [{ direction: 'egress' }]);
    assert.deepEqual(rules('ingress_only'), [
      { direction: 'ingress', protocol: 'tcp', portRangeMin: 80, portRangeMax: 80 },
      { direction: 'egress' },
    ]);
    assert.deepEqual(rules('with_egress'), [
      { direction: 'ingress', protocol: 'tcp', portRangeMin: 22, portRangeMax: 22 },
      { direction: 'egress', protocol: 'udp' },
    ]);
  });

  test('CloudConfig, SoftwareConfig, MultipartMime and Value as user data (SOFTWARE_CONFIG) and attributes', async () => {
    const h = heat(`${V}
resources:
  img: {type: OS::Glance::WebImage, properties: {location: disk.qcow2}}
  net: {type: OS::Neutron::Net}
  subnet: {type: OS::Neutron::Subnet, properties: {network: {get_resource: net}, cidr: 10.33.0.0/24}}
  f: {type: OS::Nova::Flavor, properties: {vcpus: 1, ram: 256}}
  packages:
    type: OS::Heat::CloudConfig
    properties:
      cloud_config: {packages: [nginx], runcmd: [[touch, /tmp/x]]}
  script:
    type: OS::Heat::SoftwareConfig
    properties: {group: ungrouped, config: "#!/bin/sh\\necho hi\\n"}
  all:
    type: OS::Heat::MultipartMime
    properties:
      parts:
        - config: {get_resource: packages}
        - config: {get_resource: script}
          filename: hi.sh
  port: {type: OS::Heat::Value, properties: {type: number, value: "8080"}}
  server:
    type: OS::Nova::Server
    properties:
      image: {get_resource: img}
      flavor: {get_resource: f}
      networks: [{subnet: {get_resource: subnet}}]
      user_data_format: SOFTWARE_CONFIG
      user_data: {get_resource: all}
      config_drive: true
outputs:
  port: {value: {get_attr: [port, value]}}
  cc: {value: {get_attr: [packages, config]}}
`);
    assert.deepEqual(h.errors, []);
    const ud = h.config!.resources.get('server')!.properties.userData as string;
    assert.match(ud, /^Content-Type: multipart\/mixed; boundary="/);
    assert.match(
      ud,
      /Content-Type: text\/cloud-config; charset="utf-8"[\s\S]*#cloud-config\npackages:\n {2}- nginx\n/,
    );
    assert.match(ud, /Content-Disposition: attachment; filename="hi.sh"\n\n#!\/bin\/sh\necho hi\n/);
    assert.equal(h.config!.outputs.get('port')!.value, 8080);
    const again = heat(readFileSync(join(h.dir, 'template.yaml'), 'utf8'));
    assert.equal(
      again.config!.resources.get('server')!.properties.userData,
      ud,
      'the MIME boundary is stable',
    );
  });

  test('FloatingIPAssociation sets the server of the floating IP it names; what Stratus cannot map is an error at its place', () => {
    const base = `${V}
resources:
  img: {type: OS::Glance::WebImage, properties: {location: disk.qcow2}}
  fl: {type: OS::Nova::Flavor, properties: {vcpus: 1, ram: 256}}
  ext: {type: OS::Neutron::ProviderNet, properties: {network_type: flat, physical_network: br-ext, router_external: true}}
  net: {type: OS::Neutron::Net}
  sub: {type: OS::Neutron::Subnet, properties: {network: {get_resource: net}, cidr: 10.0.0.0/24}}
  port: {type: OS::Neutron::Port, properties: {network: {get_resource: net}}}
  other: {type: OS::Neutron::Port, properties: {network: {get_resource: net}}}
  web:
    type: OS::Nova::Server
    properties: {image: {get_resource: img}, flavor: {get_resource: fl}, networks: [{port: {get_resource: port}}]}
`;
    // The association is declared before its floating IP, as templates often do.
    const ok = heat(`${base}  assoc:
    type: OS::Neutron::FloatingIPAssociation
    properties: {floatingip_id: {get_resource: fip}, port_id: {get_resource: port}}
  fip: {type: OS::Neutron::FloatingIP, properties: {floating_network: {get_resource: ext}}}
outputs:
  id: {value: {get_resource: assoc}}
`);
    assert.deepEqual(ok.errors, []);
    const server = ok.config!.resources.get('fip')!.properties.server;
    assert.ok(server instanceof Ref && server.resource === 'web' && server.path.length === 0);
    assert.ok(!ok.config!.resources.has('assoc'), 'nothing but the floating IP is made');

    const bad =
      heat(`${base}  fip: {type: OS::Neutron::FloatingIP, properties: {floating_network: {get_resource: ext}, port_id: {get_resource: port}}}
  twice:
    type: OS::Neutron::FloatingIPAssociation
    properties: {floatingip_id: {get_resource: fip}, port_id: {get_resource: port}}
  not_fip:
    type: OS::Neutron::FloatingIPAssociation
    properties: {floatingip_id: {get_resource: net}, port_id: {get_resource: port}}
  spare: {type: OS::Neutron::FloatingIP, properties: {floating_network: {get_resource: ext}}}
  not_first:
    type: OS::Neutron::FloatingIPAssociation
    properties: {floatingip_id: {get_resource: spare}, port_id: {get_resource: other}, fixed_ip_address: 10.0.0.9}
`);
    assert.deepEqual(bad.errors, [
      'template.yaml:17:33: error: resources.twice: the floating IP fip is already associated (by its port_id or another FloatingIPAssociation)',
      'template.yaml:20:33: error: resources.not_fip: floatingip_id must be {get_resource: FIP} of an OS::Neutron::FloatingIP of the template',
      "template.yaml:24:106: error: resources.not_first: Stratus maps a floating IP to its server's first address: fixed_ip_address is not supported",
    ]);
  });

  test('deletion_policy Retain becomes preventDestroy: a plan destroying it is refused', async () => {
    const t = (mtu: number) => `${V}
resources:
  net: {type: OS::Neutron::Net, deletion_policy: Retain, properties: {mtu: ${mtu}}}
  other: {type: OS::Neutron::Net, deletion_policy: Snapshot}
`;
    const h = heat(t(1500));
    assert.deepEqual(h.errors, []);
    assert.equal(h.config!.resources.get('net')!.lifecycle!.preventDestroy, true);
    assert.match(
      h.lines.join('\n'),
      /template\.yaml:5:52: warning: resources\.other\.deletion_policy: deletion_policy Snapshot is not supported/,
    );
    const a = await applyStack(h.config!);
    // A new MTU replaces the network, which Retain forbids.
    const changed = heat(t(9000));
    const p = await planStack(changed.config!, { state: a.state });
    const refused = p.diagnostics.filter((d) => d.severity === 'error').map(formatDiagnostic);
    assert.equal(refused.length, 1);
    assert.match(refused[0]!, /preventDestroy/);
  });
});

describe('bad templates: every problem at its file:line:column', () => {
  test('unknown properties, types, sections, missing required properties, bad references', () => {
    const h = heat(`${V}
description: bad
paramters: {}
resources:
  net:
    type: OS::Neutron::Net
    properties: {nmae: x}
  web:
    type: OS::Nova::Server
    properties:
      image: nosuchimage
      networks: [{network: {get_resource: net}, tag: a}]
  thing: {type: OS::Nova::Thing}
  sub:
    type: OS::Neutron::Subnet
    properties: {cidr: 10.0.0.0/24}
  ref: {type: OS::Heat::Value, properties: {value: {get_attr: [net, nosuch]}}}
  dep: {type: OS::Neutron::Net, depends_on: [nothere]}
outputs:
  o: {value: {get_resource: missing}}
`);
    assert.deepEqual(h.errors, [
      'template.yaml:4:1: error: paramters: unknown section; expected one of heat_template_version, description, parameter_groups, parameters, resources, outputs, conditions',
      'template.yaml:14:17: error: resources.thing.type: unknown resource type OS::Nova::Thing; supported: OS::Cinder::Volume, OS::Cinder::VolumeAttachment, OS::Glance::Image, OS::Glance::WebImage, OS::Heat::CloudConfig, OS::Heat::MultipartMime, OS::Heat::None, OS::Heat::RandomString, OS::Heat::ResourceGroup, OS::Heat::SoftwareConfig, OS::Heat::Value, OS::Neutron::FloatingIP, OS::Neutron::FloatingIPAssociation, OS::Neutron::Net, OS::Neutron::Port, OS::Neutron::ProviderNet, OS::Neutron::Router, OS::Neutron::RouterInterface, OS::Neutron::SecurityGroup, OS::Neutron::SecurityGroupRule, OS::Neutron::Subnet, OS::Nova::Flavor, OS::Nova::KeyPair, OS::Nova::Server, OS::Nova::ServerGroup',
      'template.yaml:8:18: error: resources.net.properties.nmae: unknown property of OS::Neutron::Net; properties: admin_state_up, dns_domain, mtu, name, port_security_enabled, shared, tags, tenant_id, value_specs',
      'template.yaml:12:7: error: resources.web.properties.image: no OS::Glance::WebImage named "nosuchimage" in the template, and existing images were not looked up here (the CLI looks them up on the agent): declare it, or give {get_resource: NAME}',
      'template.yaml:12:7: error: resources.web.properties: property flavor is required for OS::Nova::Server',
      'template.yaml:17:17: error: resources.sub.properties: property network or network_id is required for OS::Neutron::Subnet',
      'template.yaml:18:63: error: resources.ref.properties.value: OS::Neutron::Net has no attribute nosuch in Stratus (attributes: name, status, mtu)',
      'template.yaml:21:29: error: outputs.o.value: unknown resource missing (resources: dep, net, ref, sub, thing, web)',
      'template.yaml:19:46: error: resources.dep.depends_on: names no resource of the template (resources: dep, net, ref, sub, thing, web)',
    ]);
    assert.match(
      h.lines.join('\n'),
      /template\.yaml:13:49: warning: resources\.web\.properties\.networks\[0\]\.tag: ignored: Stratus has no tag on a NIC/,
    );
  });

  test('a bad property is named with its line, and what uses it is still checked', () => {
    const h = heat(`${V}
resources:
  group: {type: OS::Nova::ServerGroup, properties: {policies: [anti-affinity, affinity]}}
  net: {type: OS::Neutron::Net}
  sub:
    type: OS::Neutron::Subnet
    properties: {network: {get_resource: net}, cidr: 10.0.0.0/24, nmae: x}
`);
    assert.deepEqual(h.errors, [
      'template.yaml:4:53: error: resources.group.properties.policies: Nova takes exactly one policy: affinity, anti-affinity, soft-affinity or soft-anti-affinity',
      'template.yaml:8:67: error: resources.sub.properties.nmae: unknown property of OS::Neutron::Subnet; properties: allocation_pools, cidr, dns_nameservers, enable_dhcp, gateway_ip, host_routes, ip_version, ipv6_address_mode, ipv6_ra_mode, name and 7 more',
    ]);
  });

  test('a name several resources of the template have is ambiguous, and a name none has is not found, at its place', () => {
    const h = heat(`${V}
resources:
  img: {type: OS::Glance::WebImage, properties: {name: cirros, location: disk.qcow2}}
  fl: {type: OS::Nova::Flavor, properties: {name: small, vcpus: 1, ram: 256}}
  a: {type: OS::Neutron::Net, properties: {name: private}}
  b: {type: OS::Neutron::Net, properties: {name: private}}
  web:
    type: OS::Nova::Server
    properties: {image: cirros, flavor: tiny, networks: [{network: private}]}
`);
    assert.deepEqual(h.errors, [
      'template.yaml:10:33: error: resources.web.properties.flavor: no OS::Nova::Flavor named "tiny" in the template, and existing flavors were not looked up here (the CLI looks them up on the agent): declare it, or give {get_resource: NAME}',
      'template.yaml:10:59: error: resources.web.properties.networks[0].network: 2 OS::Neutron::Net resources are named "private" (a, b): use {get_resource: NAME}',
      // The NIC whose network could not be named is left out.
      'template.yaml:10:47: error: resources.web.properties.networks: must NOT have fewer than 1 items',
    ]);
  });

  test('networking features Stratus lacks are errors naming them at their line', () => {
    const h = heat(`${V}
resources:
  net: {type: OS::Neutron::Net}
  sub: {type: OS::Neutron::Subnet, properties: {network: {get_resource: net}, cidr: 10.0.0.0/24}}
  port:
    type: OS::Neutron::Port
    properties: {network: {get_resource: net}, fixed_ips: [{subnet: {get_resource: sub}, ip: 10.0.0.5}]}
  router: {type: OS::Neutron::Router}
  iface:
    type: OS::Neutron::RouterInterface
    properties: {router: {get_resource: router}, subnet: {get_resource: sub}, port: {get_resource: port}}
  fip:
    type: OS::Neutron::FloatingIP
    properties: {floating_network: {get_resource: net}, port_id: {get_resource: port}, fixed_ip_address: 10.0.0.5}
`);
    assert.deepEqual(h.errors, [
      'template.yaml:8:90: error: resources.port.properties.fixed_ips[0].ip: unknown key ip (known: subnet, subnet_id, ip_address)',
      'template.yaml:12:79: error: resources.iface.properties.port: a router interface on a port is not supported; give the subnet',
      "template.yaml:15:88: error: resources.fip.properties.fixed_ip_address: a Stratus floating IP maps to its server's first fixed address; leave fixed_ip_address out",
      'template.yaml:15:57: error: resources.fip.properties.port_id: Stratus maps a floating IP to a server: port_id must be {get_resource: PORT} of a port that is the first NIC of a server of the stack',
    ]);
  });

  test('YAML errors, a non-mapping template, bad parameter declarations and a bad environment file', () => {
    assert.match(heat(`${V}resources: {a: [}\n`).errors[0]!, /^template\.yaml:2:\d+: error: /);
    const h = heat(
      `${V}
parameters:
  a: {type: strnig}
  b: {type: number, default: abc}
  c: {type: string, constraints: [{range: {min: 1}}], default: x}
resources: {}
`,
      { environments: ['env.yaml'], files: { 'env.yaml': 'parameters: {a: 1}\nresource_registery: {}\n' } },
    );
    assert.deepEqual(h.errors, [
      'env.yaml:2:1: error: resource_registery: unknown key; expected one of parameters, parameter_defaults, resource_registry, encrypted_param_names, event_sinks, parameter_merge_strategies',
      'template.yaml:4:7: error: parameters.a.type: unknown parameter type "strnig"; expected one of string, number, json, comma_delimited_list, boolean',
      'template.yaml:5:21: error: parameters.b: the value of parameter b must be a number, got text that is not one',
      'template.yaml:6:55: error: parameters.c: parameter c: the range constraint applies to number parameters, not string',
      'env.yaml:1:14: error: parameters.a: the template has no parameter a (parameters: b, c)',
    ]);
  });
});

describe('names of existing objects, server groups, injected files', () => {
  const IMG = '11111111-1111-4111-8111-111111111111';
  const IMG2 = '22222222-2222-4222-8222-222222222222';
  const FLAVOR = '33333333-3333-4333-8333-333333333333';
  const NET = '44444444-4444-4444-8444-444444444444';
  const SUB = '55555555-5555-4555-8555-555555555555';
  const KEY = '66666666-6666-4666-8666-666666666666';
  const GROUP = '77777777-7777-4777-8777-777777777777';
  const DEFAULT_SG = '00000000-0000-4000-8000-00000000d0f1';
  /** What `stratus list` would show: what another stack (or `stratus` directly) made. */
  const existing: HeatLoadOptions['existing'] = new Map([
    [
      'image',
      [
        { id: IMG, name: 'debian-12' },
        { id: IMG2, name: 'cirros' },
        { id: '88888888-8888-4888-8888-888888888888', name: 'cirros' },
      ],
    ],
    ['flavor', [{ id: FLAVOR, name: 'm1.small' }]],
    ['network', [{ id: NET, name: 'public' }]],
    ['subnet', [{ id: SUB, name: 'public-v4' }]],
    ['keypair', [{ id: KEY, name: 'deploy' }]],
    ['security_group', [{ id: DEFAULT_SG, name: 'default' }]],
    ['server_group', [{ id: GROUP, name: 'spread' }]],
  ]);

  test('a name the template does not declare resolves to the existing object of that name (or id) on the agent', () => {
    const template = `${V}
parameters:
  image: {type: string, default: debian-12, constraints: [{custom_constraint: glance.image}]}
  flavor: {type: string, default: m1.small, constraints: [{custom_constraint: nova.flavor}]}
resources:
  web:
    type: OS::Nova::Server
    properties:
      image: {get_param: image}
      flavor: {get_param: flavor}
      key_name: deploy
      security_groups: [default]
      networks: [{network: public}, {subnet: ${SUB}}]
      scheduler_hints: {group: spread}
`;
    const h = heat(template, { existing });
    assert.deepEqual(h.errors, []);
    const web = h.config!.resources.get('web')!;
    assert.equal(web.properties.image, IMG);
    assert.equal(web.properties.flavor, FLAVOR);
    assert.equal(web.properties.keyPair, KEY);
    assert.deepEqual(web.properties.securityGroups, [DEFAULT_SG]);
    assert.deepEqual(web.properties.networks, [{ network: NET }, { subnet: SUB }]);
    assert.equal(web.properties.serverGroup, GROUP);
    // Without the agent's objects, the loader says which types it needs looked up.
    const dir = dirWith({ 'template.yaml': template });
    const r = loadHeatFile(join(dir, 'template.yaml'));
    assert.deepEqual(r.lookups, [
      'flavor',
      'image',
      'keypair',
      'network',
      'security_group',
      'server_group',
      'subnet',
    ]);
    assert.deepEqual(loadHeatFile(join(dir, 'template.yaml'), { existing }).lookups, []);
  });

  test('a resource of the template wins over an existing object of the same name', () => {
    const h = heat(
      `${V}
resources:
  img: {type: OS::Glance::WebImage, properties: {name: debian-12, location: disk.qcow2}}
  web:
    type: OS::Nova::Server
    properties: {image: debian-12, flavor: m1.small, networks: [{network: public}]}
`,
      { existing },
    );
    assert.deepEqual(h.errors, []);
    const web = h.config!.resources.get('web')!;
    assert.ok(web.properties.image instanceof Ref && web.properties.image.resource === 'img');
  });

  test('a name that matches no object, or several, is an error at its line and column', () => {
    const h = heat(
      `${V}
parameters:
  net: {type: string, default: nowhere, constraints: [{custom_constraint: neutron.network}]}
resources:
  web:
    type: OS::Nova::Server
    properties:
      image: cirros
      flavor: m1.huge
      networks: [{network: private}]
`,
      { existing },
    );
    assert.deepEqual(h.errors, [
      `template.yaml:9:7: error: resources.web.properties.image: 2 existing images on the agent are named "cirros" (ids ${IMG2}, 88888888-8888-4888-8888-888888888888): give the id`,
      'template.yaml:10:7: error: resources.web.properties.flavor: no OS::Nova::Flavor named "m1.huge" in the template or on the agent (flavors there: m1.small): declare it, name an existing one, or give {get_resource: NAME}',
      'template.yaml:11:19: error: resources.web.properties.networks[0].network: no OS::Neutron::Net named "private" in the template or on the agent (networks there: public): declare it, name an existing one, or give {get_resource: NAME}',
      // The NIC whose network could not be named is left out.
      'template.yaml:11:7: error: resources.web.properties.networks: must NOT have fewer than 1 items',
      'template.yaml:4:23: error: parameters.net: parameter net (custom constraint neutron.network): no network named "nowhere" in the template or on the agent (networks there: public): declare it, name an existing one, or give {get_resource: NAME}',
    ]);
  });

  test('ServerGroup with scheduler_hints: its policy and rules; anti-affinity beyond one member per host is no valid host at plan', () => {
    const base = (policy: string, rules = '') => `${V}
resources:
  img: {type: OS::Glance::WebImage, properties: {location: disk.qcow2}}
  net: {type: OS::Neutron::Net}
  sub: {type: OS::Neutron::Subnet, properties: {network: {get_resource: net}, cidr: 10.9.0.0/24}}
  grp:
    type: OS::Nova::ServerGroup
    properties: {name: web-group, policies: [${policy}]${rules}}
  web:
    type: OS::Heat::ResourceGroup
    properties:
      count: 2
      resource_def:
        type: OS::Nova::Server
        properties:
          image: {get_resource: img}
          flavor: m1.small
          networks: [{subnet: {get_resource: sub}}]
          scheduler_hints: {group: {get_resource: grp}, same_host: x}
`;
    const soft = heat(base('soft-anti-affinity'), { existing });
    assert.deepEqual(soft.errors, []);
    assert.deepEqual(soft.config!.resources.get('grp')!.properties, {
      name: 'web-group',
      policy: 'soft-anti-affinity',
    });
    const member = soft.config!.resources.get('web[1]')!.properties.serverGroup;
    assert.ok(member instanceof Ref && member.resource === 'grp');
    assert.ok(soft.lines.some((l) => /scheduler_hints\.same_host: ignored: Stratus places servers/.test(l)));

    const hard = heat(base('anti-affinity'), { existing });
    assert.equal(hard.errors.length, 1, hard.errors.join('\n'));
    assert.match(
      hard.errors[0]!,
      /^template\.yaml:20:29: error: resources\.web\[1\]\.properties\.scheduler_hints\.group: no valid host for this server \(Nova's "No valid host was found"\): server group grp is anti-affinity with at most 1 member per host, and web\[0\] already is on host local/,
    );
    // Two per host are allowed by the rule.
    assert.deepEqual(
      heat(base('anti-affinity', ', rules: {max_server_per_host: 2}'), { existing }).errors,
      [],
    );
    // The rule belongs to anti-affinity only, as in Nova.
    assert.match(
      heat(base('affinity', ', rules: {max_server_per_host: 2}'), { existing }).errors.join('\n'),
      /template\.yaml:9:65: error: resources\.grp\.properties\.rules\.max_server_per_host: applies to policy anti-affinity only/,
    );
  });

  test("the engine's checks name the template's property, not the Stratus field: a NIC's fixed_ip, a subnet's cidr", () => {
    const h = heat(
      `${V}
resources:
  img: {type: OS::Glance::WebImage, properties: {location: disk.qcow2}}
  net: {type: OS::Neutron::Net}
  sub: {type: OS::Neutron::Subnet, properties: {network: {get_resource: net}, cidr: 10.9.0.0/24}}
  sub2: {type: OS::Neutron::Subnet, properties: {network: {get_resource: net}, cidr: 10.9.0.128/25}}
  web:
    type: OS::Nova::Server
    properties:
      image: {get_resource: img}
      flavor: m1.small
      networks: [{subnet: {get_resource: sub}, fixed_ip: 10.99.0.5}]
`,
      { existing },
    );
    assert.deepEqual(h.errors, [
      'template.yaml:13:48: error: resources.web.properties.networks[0].fixed_ip: 10.99.0.5 is not in subnet sub (10.9.0.0/24)',
      'template.yaml:7:80: error: resources.sub2.properties.cidr: 10.9.0.128/25 overlaps subnet sub (10.9.0.0/24) on the same network net',
    ]);
  });

  test('personality becomes the injected files; bad paths and too many files are errors at their place', () => {
    const t = (files: string) => `${V}
resources:
  web:
    type: OS::Nova::Server
    properties:
      image: debian-12
      flavor: m1.small
      networks: [{network: public}]
      personality: ${files}
`;
    const ok = heat(t('{/etc/motd: "hello\\n", /root/.ssh/note: x}'), { existing });
    assert.deepEqual(ok.errors, []);
    assert.deepEqual(ok.config!.resources.get('web')!.properties.personality, {
      '/etc/motd': 'hello\n',
      '/root/.ssh/note': 'x',
    });
    assert.match(
      heat(t('{etc/motd: x}'), { existing }).errors.join('\n'),
      /^template\.yaml:10:21: error: resources\.web\.properties\.personality\.etc\/motd: is not a valid key: must be an absolute guest path such as \/etc\/motd \(Nova's injected file path/,
    );
    assert.match(
      heat(t('{/a: x, /b: x, /c: x, /d: x, /e: x, /f: x}'), { existing }).errors.join('\n'),
      /resources\.web\.properties\.personality: has 6 files; at most 5 can be injected/,
    );
  });
});

describe('server properties and rules as real templates write them', () => {
  test('SecurityGroupRule by group name, a port with a fixed IP as a NIC, metadata, config_drive false, OS::Glance::Image', async () => {
    const h = heat(`${V}
resources:
  img: {type: OS::Glance::Image, properties: {name: img, location: disk.qcow2, is_public: true}}
  net: {type: OS::Neutron::Net, properties: {name: private}}
  sub: {type: OS::Neutron::Subnet, properties: {network: private, cidr: 10.8.0.0/24}}
  web_sg: {type: OS::Neutron::SecurityGroup, properties: {name: web, rules: [{protocol: icmp}]}}
  ssh:
    type: OS::Neutron::SecurityGroupRule
    properties: {security_group: web, protocol: tcp, port_range_min: 22, port_range_max: 22, remote_ip_prefix: 10.0.0.0/8}
  vip:
    type: OS::Neutron::Port
    properties:
      network: {get_resource: net}
      fixed_ips: [{subnet: {get_resource: sub}, ip_address: 10.8.0.50}]
      security_groups: [web]
  web:
    type: OS::Nova::Server
    properties:
      image: img
      networks: [{port: {get_resource: vip}}, {network: private, fixed_ip: 10.8.0.60}]
      metadata: {role: web, tier: front}
      config_drive: false
      flavor: {get_resource: small}
  small: {type: OS::Nova::Flavor, properties: {vcpus: 1, ram: 256}}
`);
    assert.deepEqual(h.errors, []);
    const p = (n: string) => h.config!.resources.get(n)!.properties;
    const ref = (v: unknown) => (v instanceof Ref ? v.resource : v);
    assert.equal(ref(p('ssh').securityGroup), 'web_sg');
    assert.equal(p('ssh').direction, 'ingress', "Heat's default direction");
    assert.equal(p('ssh').portRangeMin, 22);
    assert.deepEqual((p('vip').securityGroups as unknown[]).map(ref), ['web_sg']);
    const nics = p('web').networks as Record<string, unknown>[];
    assert.equal(ref(nics[0]!.port), 'vip');
    assert.equal(ref(nics[1]!.network), 'net');
    assert.equal(nics[1]!.fixedIp, '10.8.0.60');
    assert.deepEqual(p('web').metadata, { role: 'web', tier: 'front' });
    assert.equal(p('web').configDrive, false);
    assert.equal(ref(p('web').image), 'img');
    const plan = await planStack(h.config!);
    assert.deepEqual(plan.diagnostics.filter((d) => d.severity === 'error').map(formatDiagnostic), []);
  });
});

describe('block_device_mapping_v2 and block_device_mapping: boot from volume', () => {
  test('a volume by get_resource, a new volume from an image (also in a ResourceGroup), data volumes and the legacy syntax plan as the stack file saying the same', async () => {
    const template = `${V}
parameters:
  root_gb: {type: number, default: 2}
resources:
  img: {type: OS::Glance::Image, properties: {name: cirros, location: disk.qcow2}}
  small: {type: OS::Nova::Flavor, properties: {vcpus: 1, ram: 256, disk: 1}}
  net: {type: OS::Neutron::Net, properties: {name: private}}
  sub: {type: OS::Neutron::Subnet, properties: {network: private, cidr: 10.34.0.0/24}}
  root:
    type: OS::Cinder::Volume
    properties: {size: 3, image: cirros}
  data:
    type: OS::Cinder::Volume
    properties: {size: 1}
  logs:
    type: OS::Cinder::Volume
    properties: {size: 1}
  db:
    type: OS::Nova::Server
    properties:
      flavor: {get_resource: small}
      networks: [{network: private}]
      block_device_mapping_v2:
        - {device_name: vda, volume_id: {get_resource: root}, boot_index: 0, delete_on_termination: false}
        - {volume_id: {get_resource: data}, boot_index: -1}
  app:
    type: OS::Nova::Server
    properties:
      flavor: {get_resource: small}
      networks: [{network: private}]
      block_device_mapping_v2:
        - image: cirros
          volume_size: {get_param: root_gb}
          boot_index: 0
          delete_on_termination: true
  web:
    type: OS::Heat::ResourceGroup
    properties:
      count: 2
      resource_def:
        type: OS::Nova::Server
        properties:
          name: web-%index%
          flavor: {get_resource: small}
          networks: [{network: private}]
          block_device_mapping_v2: [{image: {get_resource: img}, volume_size: 1, boot_index: "0"}]
  old:
    type: OS::Nova::Server
    properties:
      image: cirros
      flavor: {get_resource: small}
      networks: [{network: private}]
      block_device_mapping: [{device_name: /dev/vdd, volume_id: {get_resource: logs}}]
`;
    const h = heat(template);
    assert.deepEqual(h.errors, []);
    assert.deepEqual(h.lines, []);
    const stack = native(
      `name: template
resources:
  img: {type: image, properties: {name: cirros, source: disk.qcow2}}
  small: {type: flavor, properties: {vcpus: 1, ramMb: 256, diskGb: 1}}
  net: {type: network, properties: {name: private}}
  sub: {type: subnet, properties: {network: "\${net}", cidr: 10.34.0.0/24}}
  root: {type: volume, properties: {sizeGb: 3, image: "\${img}"}}
  data: {type: volume, properties: {sizeGb: 1}}
  logs: {type: volume, properties: {sizeGb: 1}}
  db:
    type: server
    properties:
      flavor: \${small}
      networks: [{network: "\${net}"}]
      bootVolume: \${root}
  db_bdm_1:
    type: volume_attachment
    properties: {server: "\${db}", volume: "\${data}"}
  app_boot_volume:
    type: volume
    properties: {name: app-boot-volume, sizeGb: 2, image: "\${img}"}
  app:
    type: server
    properties:
      flavor: \${small}
      networks: [{network: "\${net}"}]
      bootVolume: \${app_boot_volume}
  web_boot_volume:
    type: volume
    count: 2
    properties: {name: "web-\${count.index}-boot-volume", sizeGb: 1, image: "\${img}"}
  web:
    type: server
    count: 2
    properties:
      name: web-\${count.index}
      flavor: \${small}
      networks: [{network: "\${net}"}]
      bootVolume: \${web_boot_volume[count.index]}
  old:
    type: server
    properties:
      image: \${img}
      flavor: \${small}
      networks: [{network: "\${net}"}]
  old_bdm_0:
    type: volume_attachment
    properties: {server: "\${old}", volume: "\${logs}", device: vdd}
`,
      h.dir,
    );
    const a = await planStack(h.config!);
    const b = await planStack(stack);
    assert.deepEqual(a.diagnostics, []);
    assert.deepEqual(b.diagnostics, []);
    assert.deepEqual(shape(a.plan), shape(b.plan));
    // Applied in memory: the servers boot from their volumes, which outlive the servers' removal.
    const applied = await applyStack(h.config!);
    assert.equal(applied.ok, true);
  });

  test('what Stratus cannot map is an error naming the key, at its line and column', () => {
    const h = heat(`${V}
resources:
  img: {type: OS::Glance::Image, properties: {location: disk.qcow2}}
  f: {type: OS::Nova::Flavor, properties: {vcpus: 1, ram: 256}}
  net: {type: OS::Neutron::Net}
  sub: {type: OS::Neutron::Subnet, properties: {network: {get_resource: net}, cidr: 10.35.0.0/24}}
  vol: {type: OS::Cinder::Volume, properties: {size: 1}}
  a:
    type: OS::Nova::Server
    properties:
      flavor: {get_resource: f}
      networks: [{network: {get_resource: net}}]
      block_device_mapping_v2:
        - {snapshot_id: abc, boot_index: 0}
        - {swap_size: 512}
        - {ephemeral_size: 1, ephemeral_format: ext4}
        - {volume_id: {get_resource: vol}, device_type: cdrom}
        - {volume_id: {get_resource: vol}, source_type: volume}
  b:
    type: OS::Nova::Server
    properties:
      flavor: {get_resource: f}
      networks: [{network: {get_resource: net}}]
      block_device_mapping_v2:
        - {image: {get_resource: img}, boot_index: 0}
        - {image: {get_resource: img}, volume_size: 1}
        - {boot_index: 1}
  d:
    type: OS::Nova::Server
    properties:
      flavor: {get_resource: f}
      networks: [{network: {get_resource: net}}]
      block_device_mapping: [{device_name: vda, snapshot_id: xyz}]
`);
    assert.deepEqual(h.errors, [
      'template.yaml:15:12: error: resources.a.properties.block_device_mapping_v2[0].snapshot_id: snapshot_id: booting from or attaching a volume snapshot is not supported: Stratus has no snapshots',
      'template.yaml:16:12: error: resources.a.properties.block_device_mapping_v2[1].swap_size: swap_size: Stratus servers have no swap disk',
      'template.yaml:17:12: error: resources.a.properties.block_device_mapping_v2[2].ephemeral_size: ephemeral_size: Stratus servers have no ephemeral disk',
      'template.yaml:17:31: error: resources.a.properties.block_device_mapping_v2[2].ephemeral_format: ephemeral_format: Stratus servers have no ephemeral disk',
      'template.yaml:18:44: error: resources.a.properties.block_device_mapping_v2[3].device_type: device_type cdrom is not supported: Stratus maps volumes as disks',
      'template.yaml:19:44: error: resources.a.properties.block_device_mapping_v2[4].source_type: unknown key source_type of a block device mapping (known: boot_index, volume_id, image, image_id, volume_size, delete_on_termination, device_name, device_type, disk_bus, snapshot_id, swap_size, ephemeral_size, ephemeral_format)',
      "template.yaml:26:12: error: resources.b.properties.block_device_mapping_v2[0].image: needs volume_size: the size in GiB of the volume made from the image (Nova's source image, destination volume)",
      'template.yaml:27:12: error: resources.b.properties.block_device_mapping_v2[1].image: an image is only a boot device here (boot_index 0): for a data volume made from an image, declare an OS::Cinder::Volume with image and give its volume_id',
      'template.yaml:28:11: error: resources.b.properties.block_device_mapping_v2[2]: a data volume needs volume_id: blank volumes are not made here; declare an OS::Cinder::Volume and give its volume_id',
      'template.yaml:34:49: error: resources.d.properties.block_device_mapping[0].snapshot_id: snapshot_id: booting from or attaching a volume snapshot is not supported: Stratus has no snapshots',
    ]);
  });

  test('delete_on_termination false on a volume made from an image warns that the stack owns it; a boot volume attached again, or beside an image, is an error', () => {
    const h = heat(`${V}
resources:
  img: {type: OS::Glance::Image, properties: {location: disk.qcow2}}
  f: {type: OS::Nova::Flavor, properties: {vcpus: 1, ram: 256}}
  net: {type: OS::Neutron::Net}
  sub: {type: OS::Neutron::Subnet, properties: {network: {get_resource: net}, cidr: 10.36.0.0/24}}
  vol: {type: OS::Cinder::Volume, properties: {size: 1, image: {get_resource: img}}}
  a:
    type: OS::Nova::Server
    properties:
      flavor: {get_resource: f}
      networks: [{network: {get_resource: net}}]
      block_device_mapping_v2:
        - {image: {get_resource: img}, volume_size: 1, boot_index: 0, delete_on_termination: false}
  b:
    type: OS::Nova::Server
    properties:
      flavor: {get_resource: f}
      networks: [{network: {get_resource: net}}]
      block_device_mapping_v2: [{volume_id: {get_resource: vol}, boot_index: 0}]
  again:
    type: OS::Cinder::VolumeAttachment
    properties: {instance_uuid: {get_resource: a}, volume_id: {get_resource: vol}}
  c:
    type: OS::Nova::Server
    properties:
      image: {get_resource: img}
      flavor: {get_resource: f}
      networks: [{network: {get_resource: net}}]
      block_device_mapping_v2: [{volume_id: {get_resource: other}, boot_index: 0}]
  other: {type: OS::Cinder::Volume, properties: {size: 1}}
`);
    assert.deepEqual(h.lines, [
      'template.yaml:15:71: warning: resources.a.properties.block_device_mapping_v2[0].delete_on_termination: the volume made from the image is a resource of this stack (a_boot_volume): it outlives a replacement of the server, and is deleted when the server leaves the template or the stack is destroyed. To keep it, declare an OS::Cinder::Volume with deletion_policy: Retain and boot from its volume_id',
      // Found by the engine's checks: named in the template's words, at the template's place.
      'template.yaml:31:7: error: resources.c.properties.block_device_mapping_v2: conflicts with image: a server boots from an image (an overlay of it) or from a volume; set one of them',
      "template.yaml:24:52: error: resources.again.properties.volume_id: volume vol is attached already (as server b's boot volume) and has no multiattach: a volume attaches to one server unless it sets multiattach: true",
    ]);
  });
});
