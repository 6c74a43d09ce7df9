/**
 * The install boot prompt (boot-prompt.ts): when the agent presses through it, and that pressing stops
 * with the domain or the abort signal.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EnsureDomainAction } from '../compute/driver.js';
import type { DomainState } from '../compute/types.js';
import { PROMPT_KEY, pressBootPrompt, pressesBootPrompt, pressWindowMs } from './boot-prompt.js';

test('keys only on the start that begins a UEFI install onto a blank disk', () => {
  const base = { installing: true, firmware: 'uefi', action: 'created', diskHasData: false } as const;
  assert.equal(pressesBootPrompt(base), true);
  assert.equal(
    pressesBootPrompt({ ...base, action: 'started' }),
    true,
    'a start before Setup wrote the disk',
  );
  // Setup wrote the disk: a start must fall through to it, as the prompt intends.
  assert.equal(pressesBootPrompt({ ...base, action: 'started', diskHasData: true }), false);
  // Setup has signalled its end (the media are detached), or the server installs nothing.
  assert.equal(pressesBootPrompt({ ...base, installing: false }), false);
  // BIOS install media boot a blank disk's install without a prompt.
  assert.equal(pressesBootPrompt({ ...base, firmware: 'bios' }), false);
  // No start: a running guest (perhaps past its own reboot) gets no keys.
  for (const action of ['unchanged', 'resumed', 'paused', 'stopped'] as EnsureDomainAction[])
    assert.equal(pressesBootPrompt({ ...base, action }), false, action);
  assert.ok(pressWindowMs('qemu') > pressWindowMs('kvm'), 'TCG gets the longer window');
});

test('pressing stops when the domain stops, and when aborted', async (t) => {
  // The presses' timers are unref'd (they never keep an agent alive); this one keeps the test's.
  const alive = setInterval(() => {}, 1000);
  t.after(() => clearInterval(alive));
  let state: DomainState = 'running';
  const pressed: string[][] = [];
  const compute = {
    domainState: async () => state,
    sendKey: async (_id: string, keys: readonly string[]) => {
      pressed.push([...keys]);
      if (pressed.length === 3) state = 'shutoff';
    },
  };
  // The window is far longer than the test: only the domain's stop ends it.
  const n = await pressBootPrompt(compute, 'id', 3_600_000, new AbortController().signal);
  assert.equal(n, 3);
  assert.deepEqual(pressed, [[PROMPT_KEY], [PROMPT_KEY], [PROMPT_KEY]]);

  state = 'running';
  const ctl = new AbortController();
  const running = pressBootPrompt(
    { ...compute, sendKey: async () => void ctl.abort() },
    'id',
    3_600_000,
    ctl.signal,
  );
  assert.equal(await running, 1);

  // A press that fails (the domain went away) ends it without throwing.
  const failing = {
    domainState: async () => 'running' as const,
    sendKey: async () => {
      throw new Error('domain is not running');
    },
  };
  assert.equal(await pressBootPrompt(failing, 'id', 3_600_000, new AbortController().signal), 0);
});
