// Issue 7, findings 4 and 15: a reference to nothing is a plan error with its location, never an empty
// string; a value derived from a sensitive attribute stays sensitive, and an output carrying one must be
// marked sensitive (as in Terraform).
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { renderPlan, renderState } from '../cli/render.js';
import { formatDiagnostic } from '../diagnostics/index.js';

const id = (s: string) => s;
const plain = { green: id, yellow: id, red: id, bold: id, dim: id };

import { removeWorlds, world } from './world.test-support.js';

after(removeWorlds);

const BASE = `
resources:
  net:
    type: network
  sub:
    type: subnet
    properties:
      network: \${net}
      cidr: 10.62.1.0/24
      allocationPools:
        - { start: 10.62.1.10, end: 10.62.1.20 }
`;

describe('references that resolve to nothing', () => {
  test('an index past the end of a known list is a plan error at the property, not "pool-"', async () => {
    const w = world();
    await w.apply(BASE);
    const yaml = `${BASE}  other:\n    type: network\n    properties:\n      name: "pool-\${sub.allocationPools[5].start}"\n`;
    const { plan } = await w.plan(yaml);
    const msgs = plan.errors.map(formatDiagnostic);
    assert.equal(msgs.length, 1, msgs.join('\n'));
    assert.match(msgs[0]!, /^\/virtual\/stack\.yaml:15:7: error: resources\.other\.properties\.name: /);
    assert.match(msgs[0]!, /sub\.allocationPools has 1 element, so index 5 does not exist/);
  });

  test('an output naming a missing index is a plan error, never "undefined"', async () => {
    const w = world();
    await w.apply(BASE);
    const { plan } = await w.plan(`${BASE}outputs:\n  first: \${sub.allocationPools[3].start}\n`);
    assert.equal(plan.errors.length, 1);
    assert.match(formatDiagnostic(plan.errors[0]!), /outputs\.first: .*index 3 does not exist/);
  });

  test('a value not known until apply is unknown in the plan, not an error', async () => {
    const w = world();
    const { plan } = await w.plan(`${BASE}outputs:\n  pool: \${sub.allocationPools[0].start}\n`);
    assert.deepEqual(plan.errors, []);
  });
});

describe('sensitive values through references', () => {
  const SERVER = `
  img:
    type: image
    properties: { source: /images/guest.qcow2 }
  web:
    type: server
    properties:
      image: \${img}
      networks: [{ network: "\${net}" }]
      adminPass: correct-horse-battery
`;
  test('an output of a sensitive attribute without sensitive: true is a plan error', async () => {
    const w = world();
    const { plan } = await w.plan(`${BASE}${SERVER}outputs:\n  pass: \${web.adminPass}\n`);
    assert.match(
      plan.errors.map(formatDiagnostic).join('\n'),
      /outputs\.pass: output pass refers to the sensitive value \$\{web\.adminPass\}; mark the output sensitive: true/,
    );
  });

  test('marked sensitive, it plans and stays sensitive; an attribute fed from a secret is sensitive in the plan', async () => {
    const w = world();
    const yaml = `${BASE}${SERVER}  peer:\n    type: server\n    properties:\n      image: \${img}\n      networks: [{ network: "\${net}" }]\n      userData: "#!/bin/sh\\necho \${web.adminPass}"\noutputs:\n  pass:\n    value: \${web.adminPass}\n    sensitive: true\n`;
    await w.apply(yaml);
    const edited = yaml.replace('correct-horse-battery', 'another-horse-battery');
    const { plan } = await w.plan(edited);
    assert.deepEqual(plan.errors, []);
    assert.equal(plan.outputs.pass?.sensitive, true);
    const peer = plan.changes.find((c) => c.name === 'peer')!;
    const userData = peer.changes.find((c) => c.name === 'userData');
    assert.equal(userData?.sensitive, true, 'user data built from adminPass is redacted like it');
    assert.deepEqual(peer.sensitive, ['userData']);
    const shown = renderPlan(plan, plain);
    assert.doesNotMatch(shown, /horse/, 'no secret, nor anything made from one, is printed');
    assert.match(shown, /~ userData = \(sensitive value\) -> \(sensitive value\)/);
    const state = (await w.backend.read())!;
    assert.deepEqual(state.resources.find((r) => r.name === 'peer')?.sensitive, ['userData']);
    assert.doesNotMatch(renderState(state, plain), /horse/);
  });
});
