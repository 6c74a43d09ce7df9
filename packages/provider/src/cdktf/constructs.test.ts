import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Type } from '@sinclair/typebox';
import { defineResource, registry } from '@stratus/model';
import { TerraformDataSource, TerraformOutput, TerraformResource, TerraformStack, Testing } from 'cdktf';
import { resourceBlocks } from '../terraform/schema.js';
import * as cdk from './index.js';
import { resourceClass } from './index.js';

const pascal = (t: string) => t.replace(/(^|_)([a-z])/g, (_m, _s, c: string) => c.toUpperCase());

type Doc = {
  resource: Record<string, Record<string, Record<string, unknown>>>;
  data?: Record<string, Record<string, Record<string, unknown>>>;
  provider: Record<string, Record<string, unknown>[]>;
  output: Record<string, { value: unknown }>;
  terraform: { required_providers: Record<string, { source: string }> };
};
const synth = (stack: TerraformStack) => JSON.parse(Testing.synth(stack)) as Doc;

test('every registered type has a construct class extending TerraformResource, named exports included', () => {
  for (const type of Object.keys(registry)) {
    const cls = (cdk as unknown as Record<string, unknown>)[pascal(type)] as { tfResourceType: string };
    assert.ok(cls, `no class exported for ${type}`);
    assert.equal(cls.tfResourceType, `stratus_${type}`);
    assert.ok(
      Object.prototype.isPrototypeOf.call(TerraformResource, cls),
      `${type} extends TerraformResource`,
    );
  }
  assert.ok(Object.prototype.isPrototypeOf.call(TerraformDataSource, cdk.DataImage));
  assert.ok(Object.prototype.isPrototypeOf.call(TerraformDataSource, cdk.DataHost));
});

test('props synthesize under Terraform names (nested too), attributes are references, the provider is required', () => {
  const stack = new TerraformStack(Testing.app(), 's');
  new cdk.StratusProvider(stack, 'stratus', { agentSocket: '/run/a.sock', tokenFile: '/etc/t' });
  const net = new cdk.Network(stack, 'net', { mtu: 1400 });
  const sub = new cdk.Subnet(stack, 'sub', {
    network: net.id,
    cidr: '10.9.0.0/24',
    allocationPools: [{ start: '10.9.0.10', end: '10.9.0.20' }],
  });
  const img = new cdk.DataImage(stack, 'img', { name: 'guest' });
  const web = new cdk.Server(stack, 'web', {
    image: img.id,
    memoryMb: 512,
    networks: [{ subnet: sub.id, fixedIp: '10.9.0.12' }],
    wait: { for: 'dhcp', timeout: '2m' },
    dependsOn: [net],
  });
  new TerraformOutput(stack, 'ip', { value: web.accessIpV4 });
  new TerraformOutput(stack, 'hypervisor', { value: new cdk.DataHost(stack, 'here').hypervisorType });
  const doc = synth(stack);
  assert.equal(doc.terraform.required_providers.stratus?.source, 'stratus/stratus');
  assert.deepEqual(doc.provider.stratus, [{ agent_socket: '/run/a.sock', token_file: '/etc/t' }]);
  const s = doc.resource.stratus_server!.web!;
  assert.equal(s.memory_mb, 512);
  assert.equal(s.image, '${data.stratus_image.img.id}');
  assert.deepEqual(s.networks, [{ subnet: '${stratus_subnet.sub.id}', fixed_ip: '10.9.0.12' }]);
  assert.deepEqual(s.wait, { for: 'dhcp', timeout: '2m' });
  assert.deepEqual(s.depends_on, ['stratus_network.net']);
  assert.deepEqual(doc.resource.stratus_subnet!.sub!.allocation_pools, [
    { start: '10.9.0.10', end: '10.9.0.20' },
  ]);
  assert.equal(doc.resource.stratus_network!.net!.mtu, 1400);
  assert.equal('name' in doc.resource.stratus_network!.net!, false, 'unset attributes are left out');
  assert.equal(doc.data?.stratus_image?.img?.name, 'guest');
  assert.equal(doc.output.ip!.value, '${stratus_server.web.access_ip_v4}');
  assert.equal(doc.output.hypervisor!.value, '${data.stratus_host.here.hypervisor_type}');
});

test('a type added to the registry gets a class from its schema alone', () => {
  const gadget = defineResource({
    type: 'gadget',
    collection: 'gadgets',
    description: 'A test-only type.',
    inputs: Type.Object({ sizeGb: Type.Integer({ minimum: 1 }), labelText: Type.Optional(Type.String()) }),
    outputs: Type.Object({ serialNumber: Type.String() }),
  });
  const Gadget = resourceClass('stratus_gadget', resourceBlocks({ gadget }).get('stratus_gadget')!);
  const stack = new TerraformStack(Testing.app(), 's');
  const g = new Gadget(stack, 'g', { sizeGb: 3, labelText: 'x' }) as TerraformResource & {
    serialNumber: string;
  };
  new TerraformOutput(stack, 'serial', { value: g.serialNumber });
  const doc = synth(stack);
  assert.deepEqual(
    Object.fromEntries(Object.entries(doc.resource.stratus_gadget!.g!).filter(([k]) => k !== '//')),
    { size_gb: 3, label_text: 'x' },
  );
  assert.equal(doc.output.serial!.value, '${stratus_gadget.g.serial_number}');
});

test('an attribute named like a cdktf property is refused when its class is made, not at synth', () => {
  const odd = defineResource({
    type: 'odd',
    collection: 'odds',
    description: 'A test-only type.',
    inputs: Type.Object({ count: Type.Optional(Type.Integer()) }),
    outputs: Type.Object({}),
  });
  assert.throws(
    () => resourceClass('stratus_odd', resourceBlocks({ odd }).get('stratus_odd')!),
    /attribute count of .* clashes with cdktf's count/,
  );
});
