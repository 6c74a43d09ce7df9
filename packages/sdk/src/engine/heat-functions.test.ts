/**
 * Heat's functions as the engine runs them at apply (heat:NAME), on the values then known: the rules
 * Heat documents for each, and errors that name the function without quoting values.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { UNKNOWN } from '@stratus/model';
import { resolveDeferred, resolvePartially } from './deferred.js';
import { Call, Ref } from './expr.js';
import { FunctionError } from './function-error.js';
import { callFunction, isKnownFunction } from './functions.js';

const call = (fn: string, ...args: unknown[]) => callFunction(`heat:${fn}`, args);

describe('heat functions', () => {
  test('are known to the engine under heat:NAME only', () => {
    assert.ok(isKnownFunction('heat:str_replace'));
    assert.ok(!isKnownFunction('str_replace'));
  });

  test('str_replace: one pass, longer keys first, values as Heat writes them', () => {
    assert.equal(call('str_replace', '$a $ab', { $a: 'x', $ab: 'y' }), 'x y');
    assert.equal(call('str_replace', 'n=N', { N: 3 }), 'n=3');
    assert.equal(call('str_replace', 'v=V', { V: { k: [1] } }), 'v={"k":[1]}');
    assert.equal(call('str_replace', 'a=A', { A: null }), 'a=');
    // One pass: a value is not replaced again.
    assert.equal(call('str_replace', 'A', { A: 'B', B: 'C' }), 'B');
    assert.throws(() => call('str_replace_strict', 'abc', { x: 1 }), FunctionError);
    assert.throws(() => call('str_replace_vstr', 'abc', { a: true }), /must be a string or number/);
    assert.throws(() => call('str_replace', 1, {}), /"template" must be a string/);
  });

  test('list_join, str_split, repeat, map_merge, map_replace, digest, filter, contains, equals', () => {
    assert.equal(call('list_join', '-', ['a', 1], [true]), 'a-1-true');
    assert.throws(() => call('list_join', '-', 'a'), /argument 2 must be a list/);
    assert.deepEqual(call('str_split', ',', 'a,b'), ['a', 'b']);
    assert.equal(call('str_split', ',', 'a,b', '1'), 'b');
    assert.throws(() => call('str_split', ',', 'a,b', 2), /out of range/);
    assert.deepEqual(call('repeat', { for_each: { X: ['a', 'b'], Y: [1] }, template: { 'k-X': 'X-Y' } }), [
      { 'k-a': 'a-1' },
      { 'k-b': 'b-1' },
    ]);
    assert.deepEqual(call('map_merge', { a: 1 }, null, { a: 2, b: 3 }), { a: 2, b: 3 });
    assert.deepEqual(call('map_replace', { a: 'x', b: 'y' }, { keys: { a: 'A' }, values: { y: 'Y' } }), {
      A: 'x',
      b: 'Y',
    });
    assert.throws(() => call('map_replace', { a: 1, b: 2 }, { keys: { a: 'b' } }), /would appear twice/);
    assert.equal(call('digest', 'md5', 'abc'), '900150983cd24fb0d6963f7d28e17f72');
    assert.throws(() => call('digest', 'crc32', 'abc'), /algorithm must be one of/);
    assert.deepEqual(call('filter', [null, 'b'], ['a', null, 'b', 'c']), ['a', 'c']);
    assert.equal(call('contains', 'b', ['a', 'b']), true);
    assert.equal(call('contains', { k: 1 }, [{ k: 1 }]), true);
    assert.equal(call('equals', [1, { a: 2 }], [1, { a: 2 }]), true);
    assert.equal(call('equals', '1', 1), false);
  });

  test('cloud_config and multipart are stable texts; networks is keyed by network name and id', () => {
    assert.equal(call('cloud_config', { packages: ['nginx'] }), '#cloud-config\npackages:\n  - nginx\n');
    const a = call('multipart', [{ config: '#!/bin/sh\ntrue\n' }]) as string;
    assert.equal(call('multipart', [{ config: '#!/bin/sh\ntrue\n' }]), a);
    assert.match(a, /Content-Type: text\/x-shellscript/);
    assert.deepEqual(call('networks', [{ network: 'id-1', ip: '10.0.0.5' }], [['id-1', 'private']]), {
      'id-1': ['10.0.0.5'],
      private: ['10.0.0.5'],
    });
  });

  test('a call on a value known only after apply is kept as a marker, then made at apply', () => {
    const ip = new Ref('db', ['accessIpV4'], '{get_attr: [db, first_address]}');
    const c = new Call('heat:str_replace', ['db=$IP', { $IP: ip }], '{str_replace: ...}');
    // At plan the address is unknown: the call stays, with a marker for the reference.
    const planned = resolvePartially(
      c,
      () => ({ value: UNKNOWN }),
      () => {},
    );
    assert.deepEqual(planned, {
      $call: {
        fn: 'heat:str_replace',
        args: ['db=$IP', { $IP: { $ref: { resource: 'db', path: ['accessIpV4'] } } }],
      },
    });
    // At apply it is known.
    assert.equal(
      resolveDeferred(planned, () => ({ value: '10.0.0.9' })),
      'db=10.0.0.9',
    );
  });
});
