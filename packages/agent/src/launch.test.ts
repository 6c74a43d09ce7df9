import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { AGENT_ENV, AGENT_NODE_OPTIONS } from '@stratus/util';

test("the stratus-agent command's shebang runs node with the environment and options the CLI launches it with", () => {
  const first = readFileSync(new URL('./main.ts', import.meta.url), 'utf8').split('\n')[0]!;
  const env = Object.entries(AGENT_ENV).map(([k, v]) => `${k}=${v}`);
  assert.equal(first, `#!/usr/bin/env -S ${[...env, 'node', ...AGENT_NODE_OPTIONS].join(' ')}`);
});
