import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { type ApiRecord, image, network } from '@stratus/model';
import { Ref } from '../../engine/expr.js';
import { importFill } from '../commands/state.js';
import { classify, ownerLabel } from './owners.js';
import { renderTable } from './table.js';

const dir = mkdtempSync(join(tmpdir(), 'stratus-inventory-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const rec = (owner?: ApiRecord['owner']): ApiRecord => ({
  id: randomUUID(),
  type: 'image',
  spec: {},
  status: {},
  ...(owner ? { owner } : {}),
});

test('classify: held by its state, by another known state, orphaned (three ways), or not checked', async () => {
  const stateA = join(dir, 'a.json');
  const stateGone = join(dir, 'gone.json');
  const local = (state: string) => ({ tool: 'stratus', stack: 'a', backend: 'local', state });
  const held = rec(local(stateA));
  const heldNoOwner = rec();
  const notInState = rec(local(stateA));
  const stateMissing = rec(local(stateGone));
  const noOwner = rec();
  const pg = rec({ tool: 'stratus', stack: 'b', backend: 'postgres', state: 'postgres://db/x' });
  const tf = rec({ tool: 'terraform' });
  const doc = (ids: [string, string][]) => ({
    version: 1,
    serial: 3,
    lineage: randomUUID(),
    stack: 'a',
    resources: ids.map(([name, id]) => ({
      name,
      type: 'image',
      id,
      host: 'local',
      attributes: {},
      dependencies: [],
      status: 'ready',
    })),
    outputs: {},
  });
  writeFileSync(
    stateA,
    JSON.stringify(
      doc([
        ['img', held.id],
        ['old', heldNoOwner.id],
      ]),
    ),
  );
  const got = await classify([held, heldNoOwner, notInState, stateMissing, noOwner, pg, tf]);
  assert.deepEqual(got.get(held.id), { kind: 'owned', stack: 'a', state: stateA, address: 'img' });
  assert.equal(ownerLabel(got.get(held.id)!), 'a: img');
  assert.deepEqual(got.get(heldNoOwner.id), { kind: 'owned', stack: 'a', state: stateA, address: 'old' });
  assert.deepEqual(got.get(notInState.id), { kind: 'orphan', why: `stack a: not in its state ${stateA}` });
  assert.deepEqual(got.get(stateMissing.id), {
    kind: 'orphan',
    why: `stack a: its state ${stateGone} does not exist`,
  });
  assert.deepEqual(got.get(noOwner.id), {
    kind: 'orphan',
    why: 'no owner recorded and no known state holds it',
  });
  assert.equal(got.get(pg.id)!.kind, 'unchecked');
  assert.equal(got.get(tf.id)!.kind, 'unchecked');
  assert.equal(ownerLabel(got.get(tf.id)!), 'terraform (not checked: managed by terraform)');

  // A damaged state is never taken as empty: what its owner made is not checked, so never removed.
  writeFileSync(stateA, '{"version": 1');
  const damaged = await classify([notInState]);
  assert.equal(damaged.get(notInState.id)!.kind, 'unchecked');
});

test("importFill: the stack's literal values for in-place attributes the imported object lacks", () => {
  // An image file has no name: the stack's (or the resource name it defaults to) is set.
  assert.deepEqual(
    importFill(image, { name: 'img', source: '/x.qcow2' }, { source: '/y.qcow2', name: null }),
    {
      name: 'img',
    },
  );
  // What the host has wins; replace-forcing attributes (source) are never filled.
  assert.deepEqual(
    importFill(image, { name: 'img', source: '/x.qcow2' }, { source: '/y.qcow2', name: 'h' }),
    {},
  );
  // References are left to plan; a default that forces replacement (mtu) is not set on the object.
  assert.deepEqual(
    importFill(network, { name: new Ref('other', ['name'], '${other.name}') }, { name: null }),
    {},
  );
});

test('renderTable: borders, padding, one line per value of a multi-line cell', () => {
  assert.equal(
    renderTable(
      ['ID', 'Status'],
      [
        ['a', 'ACTIVE\nLEASED'],
        ['bb', ''],
      ],
    ),
    [
      '+----+--------+',
      '| ID | Status |',
      '+----+--------+',
      '| a  | ACTIVE |',
      '|    | LEASED |',
      '| bb |        |',
      '+----+--------+',
      '',
    ].join('\n'),
  );
});
