/**
 * The install boot prompt (boot-prompt.ts): when the agent presses through it, and that pressing stops
 * with the domain, the abort signal, or the installer's first write to the disk.
 */
import assert from 'node:assert/strict';
import { appendFile, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { EnsureDomainAction } from '../compute/driver.js';
import type { DomainState } from '../compute/types.js';
import {
  firmwareBootSeen,
  PROMPT_KEY,
  pressBootPrompt,
  pressesBootPrompt,
  pressWindow,
} from './boot-prompt.js';

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
  assert.ok(pressWindow('qemu').afterBootMs > pressWindow('kvm').afterBootMs, 'TCG gets the longer window');
});

/** A console log that never shows the firmware's boot line, and a window longer than any test. */
const quiet = { path: '/nonexistent/console.log', offset: 0 };
const LONG = { afterBootMs: 3_600_000, maxMs: 3_600_000 };
/** A root disk the installer has not written. */
const blank = async () => false;

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
  const n = await pressBootPrompt(compute, 'id', quiet, LONG, blank, new AbortController().signal);
  assert.equal(n, 3);
  assert.deepEqual(pressed, [[PROMPT_KEY], [PROMPT_KEY], [PROMPT_KEY]]);

  state = 'running';
  const ctl = new AbortController();
  const running = pressBootPrompt(
    { ...compute, sendKey: async () => void ctl.abort() },
    'id',
    quiet,
    LONG,
    blank,
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
  assert.equal(await pressBootPrompt(failing, 'id', quiet, LONG, blank, new AbortController().signal), 0);
});

test("the window closes after the firmware's boot line of this start (not of an earlier one)", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'stratus-boot-prompt-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const log = join(dir, 'console.log');
  const line =
    'BdsDxe: starting Boot0001 "UEFI QEMU DVD-ROM QM00043 " from PciRoot(0x0)/Sata(0x3,0xFFFF,0x0)\r\n';
  assert.equal(await firmwareBootSeen(log, 0), false, 'no log yet');
  await writeFile(log, `an earlier boot\r\n${line}`);
  const offset = (await stat(log)).size;
  assert.equal(await firmwareBootSeen(log, 0), true);
  assert.equal(await firmwareBootSeen(log, offset), false, 'a line from before the start');
  await appendFile(log, `\x1b[2J\x1b[01;01H${line}`);
  assert.equal(await firmwareBootSeen(log, offset), true);
  // With the line there and no time after it, one press and done, though the domain keeps running.
  let presses = 0;
  const compute = { domainState: async () => 'running' as const, sendKey: async () => void presses++ };
  const n = await pressBootPrompt(
    compute,
    'id',
    { path: log, offset },
    { afterBootMs: 0, maxMs: 3_600_000 },
    blank,
    new AbortController().signal,
  );
  assert.equal(n, 1);
  assert.equal(presses, 1);
});

test('the window closes when the installer has written the disk, asked only after the boot line', async (t) => {
  // The presses' timers are unref'd (they never keep an agent alive); this one keeps the test's.
  const alive = setInterval(() => {}, 1000);
  t.after(() => clearInterval(alive));
  const dir = await mkdtemp(join(tmpdir(), 'stratus-boot-prompt-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const log = join(dir, 'console.log');
  await writeFile(log, '');
  let presses = 0;
  let asked = 0;
  let written = false;
  const compute = {
    domainState: async () => 'running' as const,
    sendKey: async () => {
      presses++;
      // The firmware reaches the media after the second press; the installer writes the disk after the fourth.
      if (presses === 2) await appendFile(log, 'BdsDxe: starting Boot0001 "UEFI QEMU DVD-ROM"\r\n');
      if (presses === 4) written = true;
    },
  };
  const diskHasData = async () => {
    asked++;
    return written;
  };
  // The window is far longer than the test: only the disk's data ends it.
  const n = await pressBootPrompt(
    compute,
    'id',
    { path: log, offset: 0 },
    LONG,
    diskHasData,
    new AbortController().signal,
  );
  assert.equal(n, 4);
  assert.equal(asked, 3, 'asked before each press from the one after the boot line on');

  // A disk check that fails counts as no data: pressing goes on (here until the domain stops).
  let state: DomainState = 'running';
  presses = 0;
  const stopping = {
    domainState: async () => state,
    sendKey: async () => {
      if (++presses === 2) state = 'shutoff';
    },
  };
  const failingCheck = async (): Promise<boolean> => {
    throw new Error('qemu-img map failed');
  };
  assert.equal(
    await pressBootPrompt(
      stopping,
      'id',
      { path: log, offset: 0 },
      LONG,
      failingCheck,
      new AbortController().signal,
    ),
    2,
  );
});
