// Measures storage work through `stratus apply` against a private agent (issue 12): creating a blank
// volume of 1 GiB against 100 GiB (sparse qcow2: the time should not depend on the size), a volume from
// a 1 GiB image against one from a 10 GiB image (a copy-on-write overlay: flat in the image's size),
// and creating a server (busybox test image, no wait) with its root disk left at the image's size
// against one grown to a 10 GiB flavor disk. Each measured apply creates exactly one resource on a stack
// whose other resources are applied already; each is destroyed before the next run. Runs are
// interleaved between the cases of a pair, and pairs are compared as ratios of medians (the machine is
// noisy; compare within one run). Every result is checked: the volume file's virtual size, the
// overlay's backing file, the server's root disk size.
//
//   npx turbo run build && node --import tsx bench/storage.ts [--runs N]
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = new URL('..', import.meta.url).pathname;
const CLI = join(ROOT, 'packages/sdk/dist/bundle/stratus.js');
const AGENT = join(ROOT, 'packages/agent/dist/main.js');
const GUEST = join(ROOT, 'build/images/stratus-guest.qcow2');
const arg = (name: string) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const RUNS = Number(arg('--runs') ?? 5);
const GIB = 2 ** 30;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): { out: string; ms: number } {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 1 << 24 });
  const ms = performance.now() - t0;
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stdout}\n${r.stderr}`);
  return { out: r.stdout, ms };
}

/** A qcow2 image of `gib` GiB virtual size (nearly empty: its import is quick, its size is what counts here). */
function qcow2Image(path: string, gib: number): void {
  timed('qemu-img', ['create', '-q', '-f', 'qcow2', path, `${gib}G`]);
}

const qemuInfo = (path: string) =>
  JSON.parse(timed('qemu-img', ['info', '-U', '--output=json', path]).out) as {
    'virtual-size': number;
    'backing-filename'?: string;
  };

async function main(): Promise<void> {
  for (const f of [CLI, AGENT, GUEST]) assert.ok(existsSync(f), `${f} is missing: build first`);
  const dir = mkdtempSync(join(tmpdir(), 'stratus-bench-storage-'));
  spawnSync('chmod', ['0711', dir]);
  const stateDir = join(dir, 'agent');
  const env = { STRATUS_AGENT_STATE_DIR: stateDir, STRATUS_AGENT_SOCKET: join(dir, 'agent.sock') };
  const stack = join(dir, 'stack.yaml');
  const state = join(dir, 'state.json');
  let agent: ChildProcess | undefined;
  const destroyAll = () =>
    existsSync(state) &&
    spawnSync(process.execPath, [CLI, 'destroy', '-auto-approve', '-no-color', '-state', state, stack], {
      env: { ...process.env, ...env },
    });
  for (const sig of ['SIGINT', 'SIGTERM'] as const)
    process.once(sig, () => {
      destroyAll();
      agent?.kill('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
      process.exit(1);
    });
  try {
    agent = spawn(process.execPath, [AGENT, '--state-dir', stateDir, '--socket', env.STRATUS_AGENT_SOCKET], {
      stdio: 'ignore',
    });
    const deadline = Date.now() + 120_000;
    while (!existsSync(env.STRATUS_AGENT_SOCKET) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    assert.ok(existsSync(env.STRATUS_AGENT_SOCKET), 'the private agent did not start');

    const img1 = join(dir, 'one.qcow2');
    const img10 = join(dir, 'ten.qcow2');
    qcow2Image(img1, 1);
    qcow2Image(img10, 10);
    const base = `name: bench-storage
resources:
  img1:
    type: image
    properties: { source: ${img1} }
  img10:
    type: image
    properties: { source: ${img10} }
  guest:
    type: image
    properties: { source: ${GUEST} }
  plain:
    type: flavor
    properties: { vcpus: 1, ramMb: 128, diskGb: 0 }
  grown:
    type: flavor
    properties: { vcpus: 1, ramMb: 128, diskGb: 10 }
  net:
    type: network
  sub:
    type: subnet
    properties: { network: "\${net}", cidr: 10.97.0.0/24 }
`;
    const apply = (extra: string) => {
      writeFileSync(stack, base + extra);
      return timed(
        process.execPath,
        [CLI, 'apply', '-auto-approve', '-no-color', '-state', state, stack],
        env,
      ).ms;
    };
    const res = (name: string) =>
      (
        JSON.parse(readFileSync(state, 'utf8')).resources as {
          name: string;
          id: string;
          attributes: Record<string, unknown>;
        }[]
      ).find((r) => r.name === name)!;
    console.log(`node ${process.version}; ${RUNS} interleaved runs per case; agent state in ${tmpdir()}`);
    const importMs = apply('');
    console.log(
      `setup: images (1 GiB and 10 GiB qcow2, the busybox guest), flavors, network: ${secs(importMs)}\n`,
    );

    type Case = { label: string; extra: string; check: () => void };
    const volume = (label: string, props: string, gib: number, image?: string): Case => ({
      label,
      extra: `  vol:\n    type: volume\n    properties: { ${props} }\n`,
      check: () => {
        const v = res('vol');
        const info = qemuInfo(String(v.attributes.path));
        assert.equal(info['virtual-size'], gib * GIB);
        if (image) assert.ok(info['backing-filename']?.endsWith(res(image).id), 'an overlay of the image');
      },
    });
    const server = (label: string, flavor: string, gib: number | null): Case => ({
      label,
      extra: `  srv:\n    type: server\n    properties:\n      image: \${guest}\n      flavor: \${${flavor}}\n      networks: [{ subnet: "\${sub}" }]\n`,
      check: () => {
        const disk = join(stateDir, 'instances', res('srv').id, 'disk.qcow2');
        const size = qemuInfo(disk)['virtual-size'];
        if (gib !== null) assert.equal(size, gib * GIB);
        else assert.ok(size < GIB);
      },
    });
    const pairs: [Case, Case][] = [
      [volume('blank volume, 1 GiB', 'sizeGb: 1', 1), volume('blank volume, 100 GiB', 'sizeGb: 100', 100)],
      [
        volume('volume from a 1 GiB image', 'sizeGb: 1, image: "${img1}"', 1, 'img1'),
        volume('volume from a 10 GiB image', 'sizeGb: 10, image: "${img10}"', 10, 'img10'),
      ],
      [
        server('server, root disk at the image size', 'plain', null),
        server('server, root disk grown to 10 GiB', 'grown', 10),
      ],
    ];
    const once = (c: Case) => {
      const ms = apply(c.extra);
      c.check();
      apply('');
      return ms;
    };
    for (const [x, y] of pairs) {
      const xs: number[] = [];
      const ys: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        xs.push(once(x));
        ys.push(once(y));
      }
      for (const [c, ms] of [
        [x, xs],
        [y, ys],
      ] as const)
        console.log(
          `  ${c.label.padEnd(40)} median ${secs(median(ms))}  (min ${secs(Math.min(...ms))}, max ${secs(Math.max(...ms))})`,
        );
      console.log(`  ratio ${y.label} / ${x.label}: ${(median(ys) / median(xs)).toFixed(2)}\n`);
    }
    console.log(
      "Each time is one `stratus apply` creating that one resource (CLI start, refresh, plan, the agent's work, state save).",
    );
  } finally {
    destroyAll();
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
