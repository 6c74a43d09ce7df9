// Measures image import against copying the file by hand, in the same run: `stratus apply` of a stack
// holding one raw image (the CLI sends the file's data extents to a private agent, which writes them to
// its cache, computes the content checksum and checks it with qemu-img) against `cp` + `sync` +
// `sha256sum` of the same file on the same filesystem. Two files: a dense one (random data all through
// it) and a sparse one (20 GiB apparent, 20 MiB of data in 20 extents). Runs are interleaved; each
// import's recorded content checksum is checked against one computed here by reading the whole file,
// and the image is destroyed again before the next run.
//
//   npx turbo run build && node --import tsx bench/image-import.ts [--runs N] [--dense-mib N] [--sparse-gib N] [--no-sparse]
//
// Targets (issue 8): the dense import within 1.1x of cp + sync + sha256sum; the sparse one under 5 s.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AGENT_ENV, AGENT_NODE_OPTIONS } from '@stratus/util';

const ROOT = new URL('..', import.meta.url).pathname;
const CLI = join(ROOT, 'packages/sdk/dist/bundle/stratus.js');
const AGENT = join(ROOT, 'packages/agent/dist/main.js');
const arg = (name: string) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const RUNS = Number(arg('--runs') ?? 3);
const DENSE_MIB = Number(arg('--dense-mib') ?? 512);
const SPARSE_GIB = Number(arg('--sparse-gib') ?? 20);
const SPARSE = !process.argv.includes('--no-sparse');
const TARGET_DENSE_RATIO = 1.1;
const TARGET_SPARSE_MS = 5000;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

/** Runs a command to its end, failing on a non-zero exit; its stdout and wall time in ms. */
function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): { out: string; ms: number } {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 1 << 24 });
  const ms = performance.now() - t0;
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stderr}`);
  return { out: r.stdout, ms };
}

/** A raw file of `size` bytes with random data in `extents` extents of `extentBytes`, spread evenly. */
function makeRaw(path: string, size: number, extents: number, extentBytes: number): void {
  const fd = openSync(path, 'w', 0o644);
  try {
    const step = Math.floor(size / extents);
    for (let i = 0; i < extents; i++) {
      const at = i * step;
      for (let off = 0; off < extentBytes; off += 1 << 20)
        writeSync(fd, randomBytes(Math.min(1 << 20, extentBytes - off)), 0, undefined, at + off);
    }
  } finally {
    closeSync(fd);
  }
  spawnSync('truncate', ['-s', String(size), path]);
}

/**
 * Stratus's content checksum of `path` computed here on its own, by reading every byte (holes too) in
 * 64 KiB blocks: SHA-256 over (8-byte big-endian offset, SHA-256 of the block) of each block that is not
 * all zeros, then the 8-byte big-endian size. Written apart from @stratus/util so the bench checks the
 * definition, not the code against itself.
 */
function referenceContentChecksum(path: string): string {
  const B = 64 * 1024;
  const zero = Buffer.alloc(B);
  const buf = Buffer.alloc(B);
  const outer = createHash('sha256');
  const fd = openSync(path, 'r');
  let pos = 0;
  try {
    for (;;) {
      const n = readSync(fd, buf, 0, B, pos);
      if (n === 0) break;
      const block = buf.subarray(0, n);
      if (!block.equals(zero.subarray(0, n))) {
        const head = Buffer.alloc(8);
        head.writeBigUInt64BE(BigInt(pos));
        outer.update(head).update(createHash('sha256').update(block).digest());
      }
      pos += n;
    }
  } finally {
    closeSync(fd);
  }
  const tail = Buffer.alloc(8);
  tail.writeBigUInt64BE(BigInt(pos));
  return outer.update(tail).digest('hex');
}

/** cp + sync + sha256sum of `src` to a file in `dir`: the by-hand baseline. */
function byHand(src: string, dir: string): { ms: number; sum: string } {
  const dst = join(dir, 'copy.raw');
  rmSync(dst, { force: true });
  const t0 = performance.now();
  timed('cp', ['--sparse=auto', src, dst]);
  timed('sync', [dst]);
  const sum = timed('sha256sum', [dst]).out.split(' ')[0]!;
  const ms = performance.now() - t0;
  rmSync(dst, { force: true });
  return { ms, sum };
}

async function main(): Promise<void> {
  for (const f of [CLI, AGENT]) assert.ok(existsSync(f), `${f} is missing: run npx turbo run build first`);
  // The agent's cache, the copies and the sources share one filesystem, as cp's baseline assumes.
  const dir = mkdtempSync(join(tmpdir(), 'stratus-bench-img-'));
  spawnSync('chmod', ['0711', dir]);
  const env = { STRATUS_AGENT_STATE_DIR: join(dir, 'agent'), STRATUS_AGENT_SOCKET: join(dir, 'agent.sock') };
  let agent: ChildProcess | undefined;
  // Interrupted (Ctrl-C, a timeout): the agent and the files (a 20 GiB sparse one) go all the same.
  for (const sig of ['SIGINT', 'SIGTERM'] as const)
    process.once(sig, () => {
      agent?.kill('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
      process.exit(1);
    });
  try {
    // Launched as the CLI launches it: the same node options and environment.
    agent = spawn(
      process.execPath,
      [
        ...AGENT_NODE_OPTIONS,
        AGENT,
        '--state-dir',
        env.STRATUS_AGENT_STATE_DIR,
        '--socket',
        env.STRATUS_AGENT_SOCKET,
      ],
      { stdio: 'ignore', env: { ...process.env, ...AGENT_ENV } },
    );
    const deadline = Date.now() + 120_000;
    while (!existsSync(env.STRATUS_AGENT_SOCKET) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    assert.ok(existsSync(env.STRATUS_AGENT_SOCKET), 'the private agent did not start');

    const cases = [
      {
        label: `dense raw, ${DENSE_MIB} MiB`,
        file: join(dir, 'dense.raw'),
        size: DENSE_MIB << 20,
        extents: 1,
        data: DENSE_MIB << 20,
      },
      ...(SPARSE
        ? [
            {
              label: `sparse raw, ${SPARSE_GIB} GiB with 20 MiB of data`,
              file: join(dir, 'sparse.raw'),
              size: SPARSE_GIB * 2 ** 30,
              extents: 20,
              data: 1 << 20,
            },
          ]
        : []),
    ];
    for (const c of cases) makeRaw(c.file, c.size, c.extents, c.data);

    /**
     * `stratus apply` of a stack holding `file` as its one image; checks the recorded content checksum
     * against {@link referenceContentChecksum}.
     */
    const importOnce = (file: string, want: string): number => {
      const stack = join(dir, 'stack.yaml');
      const state = join(dir, 'state.json');
      writeFileSync(
        stack,
        `name: bench-image\nresources:\n  img:\n    type: image\n    properties:\n      source: ${file}\n    timeouts:\n      create: 60m\n`,
      );
      const ms = timed(
        process.execPath,
        [CLI, 'apply', '-auto-approve', '-no-color', '-state', state, stack],
        env,
      ).ms;
      const img = JSON.parse(readFileSync(state, 'utf8')).resources[0];
      assert.equal(
        img.attributes.contentChecksum,
        want,
        'the recorded content checksum is the reference one',
      );
      timed(process.execPath, [CLI, 'destroy', '-auto-approve', '-no-color', '-state', state, stack], env);
      return ms;
    };

    console.log(`node ${process.version}; ${RUNS} interleaved runs per file; files in ${tmpdir()}\n`);
    const ratios: { label: string; dense: boolean; imp: number; hand: number }[] = [];
    for (const c of cases) {
      const sha = timed('sha256sum', [c.file]).out.split(' ')[0]!;
      const want = referenceContentChecksum(c.file);
      const imp: number[] = [];
      const hand: number[] = [];
      const runs = c.extents === 1 ? RUNS : Math.min(RUNS, 2);
      for (let i = 0; i < runs; i++) {
        const h = byHand(c.file, dir);
        assert.equal(h.sum, sha);
        hand.push(h.ms);
        imp.push(importOnce(c.file, want));
      }
      const a = median(imp);
      const b = median(hand);
      console.log(`${c.label}: ${runs} runs`);
      console.log(
        `  stratus apply (import)     median ${secs(a)}  (min ${secs(Math.min(...imp))}, max ${secs(Math.max(...imp))})`,
      );
      console.log(
        `  cp + sync + sha256sum      median ${secs(b)}  (min ${secs(Math.min(...hand))}, max ${secs(Math.max(...hand))})`,
      );
      console.log(`  ratio import / by hand     ${(a / b).toFixed(2)}\n`);
      ratios.push({ label: c.label, dense: c.extents === 1, imp: a, hand: b });
    }
    for (const r of ratios)
      console.log(
        r.dense
          ? `target: ${r.label} within ${TARGET_DENSE_RATIO}x of by hand: ${(r.imp / r.hand).toFixed(2)} ${r.imp / r.hand <= TARGET_DENSE_RATIO ? 'PASS' : 'FAIL'}`
          : `target: ${r.label} under ${secs(TARGET_SPARSE_MS)}: ${secs(r.imp)} ${r.imp < TARGET_SPARSE_MS ? 'PASS' : 'FAIL'}`,
      );
  } finally {
    if (agent && agent.exitCode === null) {
      const exited = new Promise((r) => agent!.once('exit', r));
      agent.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
