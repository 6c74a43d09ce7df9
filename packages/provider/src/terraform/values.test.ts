import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encode } from '@msgpack/msgpack';
import { isUnknown, server, subnet, UNKNOWN } from '@stratus/model';
import { resourceBlock } from './schema.js';
import { decodeDynamic, encodeDynamic, fromTf, tfPath, toTf } from './values.js';

const block = resourceBlock(server);

test('unknown values: extension 0 and refined (12) decode to UNKNOWN; UNKNOWN encodes as extension 0', () => {
  // Hand-made MessagePack: {"a": ext0, "b": ext12 {1: false}} (fixmap 2, fixstr, fixext1/ext8).
  const bytes = Buffer.concat([
    Buffer.from([0x82, 0xa1, 0x61, 0xd4, 0x00, 0x00]),
    Buffer.from([0xa1, 0x62, 0xc7, 0x03, 0x0c, 0x81, 0x01, 0xc2]),
  ]);
  const v = decodeDynamic({ msgpack: bytes }) as Record<string, unknown>;
  assert.ok(isUnknown(v.a) && isUnknown(v.b));
  const out = Buffer.from(encodeDynamic({ x: UNKNOWN }).msgpack!);
  // fixmap 1, "x", ext8 with length 0 and type 0.
  assert.deepEqual([...out], [0x81, 0xa1, 0x78, 0xc7, 0x00, 0x00]);
});

test('values: snake_case names, every attribute present as null, nested lists and maps keep their keys', () => {
  const model = {
    image: 'img',
    memoryMb: 256,
    networks: [{ subnet: 's1' }],
    publicKeys: { my_key: 'ssh-ed25519 AAAA' },
    accessIpV4: UNKNOWN,
  };
  const wire = toTf(model, block.shape) as Record<string, unknown>;
  assert.equal(wire.memory_mb, 256);
  assert.equal(wire.user_data, null, 'unset attributes are null');
  assert.deepEqual(wire.networks, [{ network: null, subnet: 's1', fixed_ip: null, port: null }]);
  assert.deepEqual(wire.public_keys, { my_key: 'ssh-ed25519 AAAA' }, 'map keys are data, not names');
  assert.ok(isUnknown(wire.access_ip_v4));
  const back = fromTf(decodeDynamic(encodeDynamic(wire)), block.shape);
  assert.deepEqual({ ...(back as object), accessIpV4: 'x' }, { ...model, accessIpV4: 'x' });
  assert.ok(isUnknown((back as Record<string, unknown>).accessIpV4));
  // Numbers Terraform sends as strings (beyond float64) are read as numbers.
  assert.equal(
    (fromTf(decodeDynamic({ msgpack: encode({ memory_mb: '512' }) }), block.shape) as { memoryMb: number })
      .memoryMb,
    512,
  );
  // JSON DynamicValues (older senders) are read too.
  assert.deepEqual(decodeDynamic({ json: Buffer.from('{"a":1}') }), { a: 1 });
});

test('attribute paths: model paths become Terraform steps with names mapped along the schema', () => {
  assert.deepEqual(tfPath(['allocationPools', 0, 'start'], resourceBlock(subnet).shape), [
    { attribute_name: 'allocation_pools' },
    { element_key_int: 0 },
    { attribute_name: 'start' },
  ]);
  assert.deepEqual(tfPath(['publicKeys', 'myKey'], block.shape), [
    { attribute_name: 'public_keys' },
    { element_key_string: 'myKey' },
  ]);
});
