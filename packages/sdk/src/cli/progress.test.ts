import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Progress } from './progress.js';
import { styleFor } from './render.js';

/** A stand-in for stdout that records writes. */
function stream(isTTY: boolean) {
  const chunks: string[] = [];
  return { isTTY, write: (s: string) => chunks.push(s) > 0, chunks } as unknown as NodeJS.WriteStream & {
    chunks: string[];
  };
}

test('on a TTY, operations in flight are a live block redrawn in place; finished ones scroll above it', () => {
  const out = stream(true);
  const p = new Progress(out, styleFor(out));
  p.event({ kind: 'start', name: 'web', op: 'apply', action: 'create' });
  p.event({ kind: 'start', name: 'net', op: 'apply', action: 'update' });
  p.event({ kind: 'done', name: 'net', op: 'apply', action: 'update', elapsedMs: 1200 });
  p.stop();
  const text = out.chunks.join('');
  assert.match(text, /web: Creating\.\.\. \d+s elapsed/);
  assert.match(text, /\u001b\[2A\u001b\[J/, 'the two live lines are erased before redrawing');
  assert.match(text, /net: Modification complete after 1\.2s\n/);
});

test('elsewhere, one plain line per event and no escape sequences', () => {
  const out = stream(false);
  const p = new Progress(out, styleFor(out));
  p.event({ kind: 'start', name: 'web', op: 'apply', action: 'create' });
  p.event({ kind: 'failed', name: 'web', op: 'apply', action: 'create', elapsedMs: 500, error: 'boom' });
  p.event({ kind: 'skipped', name: 'dns', op: 'apply', reason: 'dependency failed' });
  p.stop();
  assert.deepEqual(out.chunks, [
    'web: Creating...\n',
    'web: Creation FAILED after 0.5s: boom\n',
    'dns: skipped (dependency failed)\n',
  ]);
});

test("an operation's progress shows in its live line, and in a plain log at most every 10 seconds", () => {
  let now = 0;
  const clock = () => now;
  const tty = stream(true);
  const live = new Progress(tty, styleFor(tty), clock);
  live.event({ kind: 'start', name: 'img', op: 'apply', action: 'create' });
  now = 3000;
  live.event({
    kind: 'progress',
    name: 'img',
    op: 'apply',
    action: 'create',
    detail: 'downloaded 1.0 MiB of 4.0 MiB',
  });
  live.event({ kind: 'start', name: 'net', op: 'apply', action: 'create' });
  live.stop();
  assert.match(tty.chunks.join(''), /img: Creating\.\.\. 3s elapsed, downloaded 1\.0 MiB of 4\.0 MiB/);

  now = 0;
  const out = stream(false);
  const plain = new Progress(out, styleFor(out), clock);
  plain.event({ kind: 'start', name: 'img', op: 'apply', action: 'create' });
  for (const [t, mib] of [
    [1000, 1],
    [9000, 2],
    [10_000, 3],
    [15_000, 4],
    [21_000, 5],
  ] as const) {
    now = t;
    plain.event({
      kind: 'progress',
      name: 'img',
      op: 'apply',
      action: 'create',
      detail: `downloaded ${mib} MiB`,
    });
  }
  // Progress of an operation not in flight (already finished) is dropped.
  plain.event({ kind: 'done', name: 'img', op: 'apply', action: 'create', elapsedMs: 22_000 });
  plain.event({ kind: 'progress', name: 'img', op: 'apply', action: 'create', detail: 'late' });
  plain.stop();
  assert.deepEqual(out.chunks, [
    'img: Creating...\n',
    'img: Still creating... [10s elapsed, downloaded 3 MiB]\n',
    'img: Still creating... [21s elapsed, downloaded 5 MiB]\n',
    'img: Creation complete after 22.0s\n',
  ]);
});
