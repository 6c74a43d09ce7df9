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
