// Measures `stratus apply` of one server against `virt-install --import` and `virsh create` of the
// domain XML Stratus generated (same overlay of the cached image, config drive, NIC and serial log),
// interleaved; where a Stratus create spends its time (from the agent's debug log); 10 servers against
// 1, `-parallelism=1` against the default, the destroy of 10, a no-op plan with refresh of the 10-server
// stack, and the agent's RSS. It prints figures, medians, ranges, ratios and the targets; it asserts
// nothing about time. The machine may be shared: ratios within one run are what counts.
//
//   npx turbo run build && node --import tsx bench/apply.ts            # 5 runs per figure
//   node --import tsx bench/apply.ts --runs 10 --scale-runs 5          # more
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import {
  closeSync,
  copyFileSync,
  existsSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { AGENT_ENV, AGENT_NODE_OPTIONS } from '@stratus/util';

const ROOT = new URL('..', import.meta.url).pathname;
const CLI = join(ROOT, 'packages/sdk/dist/bundle/stratus.js');
const AGENT = join(ROOT, 'packages/agent/dist/main.js');
const IMAGE = join(ROOT, 'build/images/stratus-guest.qcow2');
const READY = 'STRATUS-GUEST-READY';
const URI = 'qemu:///system';

const { values: opts } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    'scale-runs': { type: 'string', default: '3' },
    'skip-scale': { type: 'boolean', default: false },
    'skip-side': { type: 'boolean', default: false },
  },
});
const RUNS = Number(opts.runs);
const SCALE_RUNS = Number(opts['scale-runs']);

const TARGETS = {
  minusVirsh: 300,
  vsVirtInstallCommand: 0.8,
  vsVirtInstallReady: 1.0,
  tenVsOne: 2.0,
  noopPlanMs: 300,
  rssMb: 80,
};

// ---------------------------------------------------------------------------------------------------
// Small helpers

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0 ? Number.NaN : s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const sec = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const msf = (ms: number) => `${ms.toFixed(0)} ms`;
/** `median (min–max)` of samples in seconds. */
const stats = (xs: number[], f = sec) =>
  xs.length ? `${f(median(xs))} (${f(Math.min(...xs))}–${f(Math.max(...xs))})` : 'n/a';
const verdict = (ok: boolean) => (ok ? 'met' : 'MISSED');

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
  started: number;
}

/** Runs a command (argument array), timing it from spawn to exit. */
function runTimed(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const t0 = performance.now();
    const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (code) =>
      resolve({
        code,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        ms: performance.now() - t0,
        started,
      }),
    );
  });
}

async function must(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Ran> {
  const r = await runTimed(cmd, args, env);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}:\n${r.stdout}\n${r.stderr}`);
  return r;
}

/** Epoch ms when `file` first holds `needle`, polled every 25 ms, or NaN after `limitMs`. */
async function waitForText(file: string, needle: string, limitMs = 180_000): Promise<number> {
  const deadline = Date.now() + limitMs;
  while (Date.now() < deadline) {
    try {
      if (readFileSync(file, 'latin1').includes(needle)) return Date.now();
    } catch {
      // Not there yet.
    }
    await sleep(25);
  }
  return Number.NaN;
}

/**
 * The agent's own account of its memory (`GET /v1/host`, from process.memoryUsage()): V8 heap in use
 * and reserved and memory outside the heap, in MB, to set beside the resident set.
 */
async function agentMemory(): Promise<string> {
  const token = readFileSync(join(stateDir, 'token'), 'utf8').trim();
  const body = await new Promise<string>((resolve, reject) => {
    const req = request(
      { socketPath: socket, path: '/v1/host', headers: { authorization: `Bearer ${token}` } },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (b: Buffer) => parts.push(b));
        res.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
      },
    );
    req.on('error', reject);
    req.end();
  });
  const m = (JSON.parse(body) as { memory?: Record<string, number> }).memory;
  if (!m) return 'heap n/a';
  const mb = (k: string) => `${(m[k]! / 2 ** 20).toFixed(0)}`;
  return `heap ${mb('heapUsed')}/${mb('heapTotal')} MB used/reserved, external ${mb('external')} MB`;
}

const rssMb = (pid: number): number => {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : Number.NaN;
};

// ---------------------------------------------------------------------------------------------------
// The world: a private agent, a stack file and its state

const dir = mkdtempSync(join(tmpdir(), 'stratus-bench-apply-'));
// libvirt's qemu user must reach the overlays and logs below it.
await must('chmod', ['0711', dir]);
const stateDir = join(dir, 'agent');
const socket = join(dir, 'agent.sock');
const agentLog = join(dir, 'agent.log');
const stackFile = join(dir, 'stack.yaml');
const stateFile = join(dir, 'state.json');
const env = { STRATUS_AGENT_STATE_DIR: stateDir, STRATUS_AGENT_SOCKET: socket };
const domains = new Set<string>(); // bench-made domains, removed at the end
let agent: ChildProcess | undefined;

const stratus = (...args: string[]) =>
  runTimed(process.execPath, [CLI, ...args, '--state', stateFile, stackFile], env);
async function stratusOk(...args: string[]): Promise<Ran> {
  const r = await stratus(...args);
  if (r.code !== 0) throw new Error(`stratus ${args.join(' ')} exited ${r.code}:\n${r.stdout}\n${r.stderr}`);
  return r;
}
const virsh = (...args: string[]) => runTimed('virsh', ['-c', URI, ...args]);

/** The stack: image, network, subnet and `servers` servers named web-0... (`web` alone for one). */
function writeStack(servers: number, name = (i: number) => `web-${i}`): void {
  const lines = [
    'name: bench-apply',
    'resources:',
    '  img:',
    '    type: image',
    '    properties:',
    `      source: ${IMAGE}`,
    '  net:',
    '    type: network',
    '  sub:',
    '    type: subnet',
    '    properties:',
    '      network: ${net}',
    '      cidr: 10.231.0.0/24',
  ];
  for (let i = 0; i < servers; i++)
    lines.push(
      `  ${name(i)}:`,
      '    type: server',
      '    properties:',
      '      image: ${img}',
      '      memoryMb: 256',
      '      networks:',
      '        - subnet: ${sub}',
    );
  writeFileSync(stackFile, `${lines.join('\n')}\n`);
}

interface StateRes {
  name: string;
  type: string;
  id: string;
  attributes: Record<string, unknown>;
}
const stateResources = (): StateRes[] =>
  (JSON.parse(readFileSync(stateFile, 'utf8')) as { resources: StateRes[] }).resources;

async function startAgent(): Promise<ChildProcess> {
  const fd = openSync(agentLog, 'a', 0o600);
  // With the Node options the CLI and the stratus-agent command start it with.
  const a = spawn(
    process.execPath,
    [...AGENT_NODE_OPTIONS, AGENT, '--state-dir', stateDir, '--socket', socket, '--log-level', 'debug'],
    {
      stdio: ['ignore', fd, fd],
      env: { ...process.env, ...AGENT_ENV, STRATUS_AGENT_LOG_FILE: agentLog },
    },
  );
  closeSync(fd);
  const deadline = Date.now() + 120_000;
  while (!existsSync(socket) && a.exitCode === null && Date.now() < deadline) await sleep(50);
  assert.ok(existsSync(socket), `the agent did not start; see ${agentLog}`);
  return a;
}

// ---------------------------------------------------------------------------------------------------
// The agent's log: where a create's time goes

interface LogLine {
  time: string;
  msg: string;
  [k: string]: unknown;
}
function agentLines(sinceMs: number): LogLine[] {
  return readFileSync(agentLog, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogLine)
    .filter((l) => Date.parse(l.time) >= sinceMs);
}

// Once the ports are allocated (records only), the overlay, the ports' DHCP update, the config drive
// and the firewall are made at the same time, so those four are shown as "done at" offsets from the
// request's arrival; the domain is defined after the last of them.
const PHASES = [
  'CLI start, refresh, plan, state write',
  'ports, address allocation, DHCP update done at +',
  'overlay done at +',
  'config drive done at +',
  'firewall done at +',
  'define (after the last of those)',
  'libvirt start',
  'record saved, reply',
  'reply to CLI exit (state write)',
] as const;

interface Breakdown {
  phases: number[];
  ipCommands: number;
  dnsmasqRestarts: number;
  dnsmasqReloads: number;
  leaseReleases: number;
}

/** Phases of the create of server `id` in a stratus run that started at `started` and took `ms`. */
function breakdown(id: string, started: number, ms: number): Breakdown | null {
  const lines = agentLines(started - 5);
  const at = (pred: (l: LogLine) => boolean) => {
    const l = lines.find(pred);
    return l ? Date.parse(l.time) : Number.NaN;
  };
  const url = `/v1/servers/${id}`;
  const received = at(
    (l) => l.msg === 'request received' && l.method === 'PUT' && String(l.url).startsWith(url),
  );
  const replied = at((l) => l.msg === 'request' && l.method === 'PUT' && String(l.url).startsWith(url));
  const phase = (p: string) => at((l) => l.msg === 'server phase done' && l.id === id && l.phase === p);
  const defined = at((l) => l.msg === 'domain defined' && l.serverId === id);
  const startedDom = at((l) => l.msg === 'domain started' && l.serverId === id);
  const ports = phase('ports');
  const overlay = phase('overlay');
  const drive = phase('config drive');
  const firewall = phase('firewall');
  const prepared = Math.max(ports, overlay, drive, firewall);
  const marks = [
    started,
    received,
    ports,
    overlay,
    drive,
    firewall,
    defined,
    startedDom,
    replied,
    started + ms,
  ];
  if (marks.some((m) => Number.isNaN(m))) return null;
  const phases = [
    received - started,
    ports - received,
    overlay - received,
    drive - received,
    firewall - received,
    defined - prepared,
    startedDom - defined,
    replied - startedDom,
    started + ms - replied,
  ];
  const during = lines.filter((l) => {
    const t = Date.parse(l.time);
    return t >= received && t <= replied;
  });
  return {
    phases,
    ipCommands: during.filter((l) => l.msg === 'run' && l.command === 'ip').length,
    dnsmasqRestarts: during.filter((l) => /^restarting dnsmasq/.test(l.msg)).length,
    dnsmasqReloads: during.filter((l) => l.msg === 'dnsmasq reloaded hosts and options').length,
    leaseReleases: during.filter((l) => l.msg === 'released stale DHCP lease').length,
  };
}

// ---------------------------------------------------------------------------------------------------
// Side by side: stratus apply, virsh create, virt-install --import

interface Side {
  command: number[];
  ready: number[];
}

/** Makes a private overlay of the image Stratus' disk `disk` is an overlay of. */
async function overlayLike(disk: string, path: string): Promise<void> {
  const info = JSON.parse((await must('qemu-img', ['info', '--output=json', '-U', disk])).stdout) as {
    'full-backing-filename'?: string;
    'backing-filename'?: string;
  };
  const backing = info['full-backing-filename'] ?? info['backing-filename'];
  assert.ok(backing, `${disk} has no backing file`);
  await must('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', backing, path]);
}

/** The pieces of a server's domain XML that a raw copy of it replaces. */
function domainPieces(xml: string): { disk: string; iso: string } {
  return {
    disk: /<source file='([^']+disk\.qcow2)'/.exec(xml)![1]!,
    iso: /<source file='([^']+config\.iso)'/.exec(xml)![1]!,
  };
}

/**
 * Prepares a transient copy of a Stratus domain for `virsh create`: its own overlay of the same image, a
 * copy of the config drive, its own serial log, a new UUID and name `name` (the NIC, MAC included, is
 * the server's: run it while that server's domain is stopped). Returns the XML file and the log path.
 */
async function rawCopy(xml: string, name: string): Promise<{ xmlFile: string; log: string }> {
  const { disk, iso } = domainPieces(xml);
  const vDisk = join(dir, `${name}.qcow2`);
  const vIso = join(dir, `${name}.iso`);
  const log = join(dir, `${name}.log`);
  await overlayLike(disk, vDisk);
  copyFileSync(iso, vIso);
  const uuid = /<uuid>([^<]+)<\/uuid>/.exec(xml)![1]!;
  const vXml = xml
    .replace(disk, vDisk)
    .replace(iso, vIso)
    .replace(/<log file='[^']+'/, `<log file='${log}'`)
    .replaceAll(uuid, randomUUID())
    .replace(/<name>[^<]+<\/name>/, `<name>${name}</name>`);
  const xmlFile = join(dir, `${name}.xml`);
  writeFileSync(xmlFile, vXml);
  domains.add(name);
  return { xmlFile, log };
}

async function sideBySide(): Promise<void> {
  const s: Side = { command: [], ready: [] };
  const v: Side = { command: [], ready: [] };
  const vi: Side = { command: [], ready: [] };
  const parts: Breakdown[] = [];
  let lastXml = '';
  writeStack(1, () => 'web');
  await stratusOk('apply', '-auto-approve');
  for (let run = 0; run < RUNS + 1; run++) {
    const warmup = run === 0;
    // 1. stratus apply of one server (image cached, network existing).
    await stratusOk('destroy', '-auto-approve', '-target=web');
    const a = await stratusOk('apply', '-auto-approve');
    const web = stateResources().find((r) => r.name === 'web')!;
    const consoleLog = String(web.attributes.consoleLog);
    const readyAt = await waitForText(consoleLog, READY);
    const b = breakdown(web.id, a.started, a.ms);
    // What the other two boot: the same overlay, config drive and NIC (MAC, so DHCP knows it).
    const domain = String(web.attributes.domain);
    const xml = (await virsh('dumpxml', '--inactive', domain)).stdout;
    const mac = (web.attributes.addresses as { mac: string }[])[0]!.mac;
    const bridge = /<source bridge='([^']+)'/.exec(xml)![1]!;
    const { disk, iso } = domainPieces(xml);
    lastXml = xml;
    await virsh('destroy', domain);

    // 2. virsh create of that XML (a transient domain), with its own overlay, drive copy and log.
    const vName = `bench-virsh-${run}-${randomUUID().slice(0, 6)}`;
    const { xmlFile, log: vLog } = await rawCopy(xml, vName);
    const vc = await virsh('create', xmlFile);
    assert.equal(vc.code, 0, vc.stderr);
    const vReady = await waitForText(vLog, READY);
    await virsh('destroy', vName);

    // 3. virt-install --import with the same pieces.
    const iName = `bench-vi-${run}-${randomUUID().slice(0, 6)}`;
    const iDisk = join(dir, `${iName}.qcow2`);
    const iIso = join(dir, `${iName}.iso`);
    const iLog = join(dir, `${iName}.log`);
    await overlayLike(disk, iDisk);
    copyFileSync(iso, iIso);
    domains.add(iName);
    const vic = await runTimed('virt-install', [
      '--connect',
      URI,
      '--name',
      iName,
      '--import',
      '--virt-type',
      'qemu',
      '--machine',
      'pc',
      '--memory',
      '256',
      '--vcpus',
      '1',
      '--osinfo',
      'detect=on,require=off',
      '--disk',
      `path=${iDisk},format=qcow2,bus=virtio`,
      '--disk',
      `path=${iIso},format=raw,bus=virtio,readonly=on`,
      '--network',
      `bridge=${bridge},mac=${mac},model=virtio`,
      '--serial',
      `pty,log.file=${iLog}`,
      '--graphics',
      'none',
      '--noautoconsole',
      '--check',
      'mac_in_use=off',
    ]);
    assert.equal(vic.code, 0, vic.stderr);
    const iReady = await waitForText(iLog, READY);
    await virsh('destroy', iName);
    await virsh('undefine', iName);

    const line = `  run ${warmup ? 'w' : run}: stratus ${sec(a.ms)} / ready ${sec(readyAt - a.started)}; virsh create ${sec(vc.ms)} / ${sec(vReady - vc.started)}; virt-install ${sec(vic.ms)} / ${sec(iReady - vic.started)}`;
    console.log(line + (warmup ? ' (warm-up, not counted)' : ''));
    if (warmup) continue;
    s.command.push(a.ms);
    s.ready.push(readyAt - a.started);
    v.command.push(vc.ms);
    v.ready.push(vReady - vc.started);
    vi.command.push(vic.ms);
    vi.ready.push(iReady - vic.started);
    if (b) parts.push(b);
  }
  // While the server's domain is stopped and its disk still there (raw copies are overlays of its base).
  const phases = lastXml ? await libvirtPhases(lastXml) : '';
  await stratusOk('destroy', '-auto-approve', '-target=web');

  console.log(`\nOne server, ${RUNS} interleaved runs (median (min–max)):\n`);
  console.log('| | command returns | guest ready line |');
  console.log('|---|---|---|');
  console.log(`| stratus apply | ${stats(s.command)} | ${stats(s.ready)} |`);
  console.log(`| virt-install --import | ${stats(vi.command)} | ${stats(vi.ready)} |`);
  console.log(`| virsh create (Stratus' XML) | ${stats(v.command)} | ${stats(v.ready)} |`);
  const ratio = (a: number[], b: number[]) => median(a.map((x, i) => x / b[i]!));
  const minus = median(s.command) - median(v.command);
  console.log('');
  console.log(
    `stratus/virt-install per run (median): command ${ratio(s.command, vi.command).toFixed(2)} (target <= ${TARGETS.vsVirtInstallCommand}: ${verdict(ratio(s.command, vi.command) <= TARGETS.vsVirtInstallCommand)}), ready ${ratio(s.ready, vi.ready).toFixed(2)} (target <= ${TARGETS.vsVirtInstallReady}: ${verdict(ratio(s.ready, vi.ready) <= TARGETS.vsVirtInstallReady)})`,
  );
  console.log(
    `stratus/virsh create per run (median): command ${ratio(s.command, v.command).toFixed(2)}, ready ${ratio(s.ready, v.ready).toFixed(2)}`,
  );
  console.log(
    `stratus apply minus virsh create (medians): ${msf(minus)} (target <= ${TARGETS.minusVirsh} ms: ${verdict(minus <= TARGETS.minusVirsh)})`,
  );
  if (parts.length) {
    console.log(
      `\nWhere a stratus apply of one server goes (agent debug log, median (min–max) of ${parts.length}):`,
    );
    PHASES.forEach((p, i) => {
      console.log(
        `  ${p.padEnd(40)} ${stats(
          parts.map((b) => b.phases[i]!),
          msf,
        )}`,
      );
    });
    const per = (k: keyof Omit<Breakdown, 'phases'>) => parts.map((b) => b[k]).join(' ');
    console.log(
      `  ip commands per create: ${per('ipCommands')}; dnsmasq restarts: ${per('dnsmasqRestarts')}; SIGHUP reloads: ${per('dnsmasqReloads')}; stale leases released: ${per('leaseReleases')}`,
    );
  }
  if (phases) console.log(`\n${phases}`);
}

/** libvirtd's current log filters or outputs (`virt-admin daemon-log-filters` prints ` Logging filters: X`). */
async function virtAdminLog(what: 'filters' | 'outputs', set?: string): Promise<string> {
  const r = await must('virt-admin', [`daemon-log-${what}`, ...(set === undefined ? [] : [set])]);
  return r.stdout.replace(/^\s*Logging \w+:\s*/, '').trim();
}

/**
 * Where libvirt's own start of a server's domain goes (the floor under every control plane here, and the
 * larger part of `virsh create`): raw copies of `xml` started with `virsh create`, {@link RUNS} times,
 * with libvirtd logging its process-start steps (filter `1:qemu.qemu_process`, set at run time with
 * virt-admin and put back after). The steps: until QEMU is launched, until its monitor answers, reading
 * the guest CPU's features back (libvirt 9.0 asks QEMU for each CPU property with its own `qom-get`), and
 * the rest. One more start with the monitor's traffic logged counts the QMP commands of the read-back.
 * Returns the line to print.
 */
async function libvirtPhases(xml: string): Promise<string> {
  const filters = await virtAdminLog('filters');
  const outputs = await virtAdminLog('outputs');
  const logFile = join(dir, 'libvirtd-start.log');
  const starts: number[][] = [];
  let qomGets = Number.NaN;
  try {
    await virtAdminLog('outputs', `1:file:${logFile}`);
    for (const [i, monitor] of [...Array(RUNS).fill(false), true].entries()) {
      await virtAdminLog(
        'filters',
        monitor ? '1:qemu.qemu_process 1:qemu.qemu_monitor' : '1:qemu.qemu_process',
      );
      writeFileSync(logFile, '');
      const name = `bench-phases-${i}-${randomUUID().slice(0, 6)}`;
      const { xmlFile } = await rawCopy(xml, name);
      const r = await virsh('create', xmlFile);
      assert.equal(r.code, 0, r.stderr);
      await virsh('destroy', name);
      const log = readFileSync(logFile, 'utf8');
      const at = (needle: string) => {
        const line = log.split('\n').find((l) => l.includes(needle));
        return line ? Date.parse(`${line.slice(0, 23).replace(' ', 'T')}Z`) : Number.NaN;
      };
      const marks = [
        at('qemuProcessStart:'),
        at('Waiting for monitor to show up'),
        at('Verifying and updating provided guest CPU'),
        at('Detecting IOThread PIDs'),
        at('Writing domain status to disk'),
      ];
      if (monitor) {
        const from = log.indexOf('Verifying and updating provided guest CPU');
        const to = log.indexOf('Detecting IOThread PIDs');
        qomGets =
          from < 0 || to < 0
            ? Number.NaN
            : (log.slice(from, to).match(/QEMU_MONITOR_SEND_MSG.*"execute":"qom-get"/g) ?? []).length;
      } else starts.push(marks.slice(1).map((m, k) => m - marks[k]!));
    }
  } finally {
    await virtAdminLog('filters', filters);
    await virtAdminLog('outputs', outputs);
  }
  if (starts.some((p) => p.some((x) => Number.isNaN(x))))
    return "libvirt's start: its steps were not found in libvirtd's log (another libvirt version?)";
  const col = (k: number) => starts.map((p) => p[k]!);
  return (
    `libvirt's start of the same XML by virsh create (libvirtd's log, median (min–max) of ${starts.length}): ` +
    `${stats(
      starts.map((p) => p.reduce((a, b) => a + b, 0)),
      msf,
    )}; QEMU launched after ${stats(col(0), msf)}, ` +
    `its monitor up after ${stats(col(1), msf)} more, the guest CPU's features read back in ${stats(col(2), msf)} ` +
    `(${qomGets} qom-get commands, one per property), the rest ${stats(col(3), msf)}`
  );
}

// ---------------------------------------------------------------------------------------------------
// Scale: 10 servers against 1, parallelism, destroy of 10, no-op plan, RSS

/**
 * The host's own scaling, the baseline of the 10/1 ratio: the ten servers' domains are stopped, then
 * raw copies of their XML (see {@link rawCopy}) are started with `virsh create`, first one alone (then
 * destroyed), then all ten at once, then all ten at once paused; each is timed from spawn until every
 * `virsh create` has returned. The copies are destroyed; the servers stay stopped (the next apply
 * removes them).
 */
async function rawScale(run: number): Promise<{ one: number; ten: number; tenPaused: number }> {
  const servers = stateResources().filter((r) => r.type === 'server');
  assert.equal(servers.length, 10);
  const xmls: string[] = [];
  for (const srv of servers) {
    const domain = String(srv.attributes.domain);
    xmls.push((await virsh('dumpxml', '--inactive', domain)).stdout);
    await virsh('destroy', domain);
  }
  const copies = await Promise.all(
    xmls.map((x, i) => rawCopy(x, `bench-scale-${run}-${i}-${randomUUID().slice(0, 6)}`)),
  );
  const names = copies.map((c) => basename(c.xmlFile, '.xml'));
  const started = performance.now();
  const a = await virsh('create', copies[0]!.xmlFile);
  assert.equal(a.code, 0, a.stderr);
  const one = performance.now() - started;
  await virsh('destroy', names[0]!);
  const t0 = performance.now();
  const all = await Promise.all(copies.map((c) => virsh('create', c.xmlFile)));
  const ten = performance.now() - t0;
  for (const r of all) assert.equal(r.code, 0, r.stderr);
  for (const n of names) await virsh('destroy', n);
  // Again, paused: no guest runs (under TCG, boots take the CPUs) while the others start.
  const t1 = performance.now();
  const paused = await Promise.all(copies.map((c) => virsh('create', '--paused', c.xmlFile)));
  const tenPaused = performance.now() - t1;
  for (const r of paused) assert.equal(r.code, 0, r.stderr);
  for (const n of names) await virsh('destroy', n);
  return { one, ten, tenPaused };
}

async function scale(agentPid: number): Promise<void> {
  const one: number[] = [];
  const ten: number[] = [];
  const tenP1: number[] = [];
  const destroyTen: number[] = [];
  const planRefresh: number[] = [];
  const planBooting: number[] = [];
  const planNoRefresh: number[] = [];
  const rssAfter: number[] = [];
  const heapAfter: string[] = [];
  const rawOne: number[] = [];
  const rawTen: number[] = [];
  const rawTenPaused: number[] = [];
  for (let run = 0; run < SCALE_RUNS; run++) {
    writeStack(0);
    await stratusOk('apply', '-auto-approve');
    writeStack(1);
    one.push((await stratusOk('apply', '-auto-approve')).ms);
    writeStack(0);
    await stratusOk('apply', '-auto-approve');
    writeStack(10);
    ten.push((await stratusOk('apply', '-auto-approve')).ms);
    rssAfter.push(rssMb(agentPid));
    heapAfter.push(await agentMemory());
    const noOpPlan = async (into: number[]) => {
      const p = await stratus('plan', '-detailed-exitcode');
      assert.equal(p.code, 0, `the plan after apply is not empty:\n${p.stdout}\n${p.stderr}`);
      into.push(p.ms);
    };
    // Right after the apply the ten guests boot under TCG and take both cores; once they are up, the
    // plans measure Stratus' own cost.
    for (let i = 0; i < 3; i++) await noOpPlan(planBooting);
    const consoles = stateResources()
      .filter((x) => x.type === 'server')
      .map((x) => String(x.attributes.consoleLog));
    await Promise.all(consoles.map((c) => waitForText(c, READY, 600_000)));
    for (let i = 0; i < 3; i++) await noOpPlan(planRefresh);
    const q = await stratus('plan', '-detailed-exitcode', '-refresh=false');
    assert.equal(q.code, 0, q.stderr);
    planNoRefresh.push(q.ms);
    const raw = await rawScale(run);
    rawOne.push(raw.one);
    rawTen.push(raw.ten);
    rawTenPaused.push(raw.tenPaused);
    writeStack(0);
    destroyTen.push((await stratusOk('apply', '-auto-approve')).ms);
    writeStack(10);
    tenP1.push((await stratusOk('apply', '-auto-approve', '-parallelism=1')).ms);
    writeStack(0);
    await stratusOk('apply', '-auto-approve');
    console.log(
      `  round ${run}: 1 server ${sec(one.at(-1)!)}, 10 servers ${sec(ten.at(-1)!)}, 10 at -parallelism=1 ${sec(tenP1.at(-1)!)}, removing 10 ${sec(destroyTen.at(-1)!)}, no-op plan ${msf(median(planRefresh.slice(-3)))} (${msf(median(planBooting.slice(-3)))} while the guests boot), agent RSS ${rssAfter.at(-1)!.toFixed(0)} MB (${heapAfter.at(-1)})`,
    );
  }
  const r = median(ten.map((t, i) => t / one[i]!));
  console.log(`\nScale, ${SCALE_RUNS} rounds (median (min–max)):\n`);
  console.log('| | time | target |');
  console.log('|---|---|---|');
  console.log(`| apply 1 server | ${stats(one)} | |`);
  console.log(`| apply 10 servers (parallelism 10) | ${stats(ten)} | |`);
  console.log(
    `| ratio 10/1 per round | ${r.toFixed(2)} | <= ${TARGETS.tenVsOne}: ${verdict(r <= TARGETS.tenVsOne)} |`,
  );
  const rr = median(rawTen.map((t, i) => t / rawOne[i]!));
  console.log(
    `| virsh create of 1 / of 10 at once (the servers' XML) | ${stats(rawOne)} / ${stats(rawTen)} | ratio 10/1 ${rr.toFixed(2)}: the host's own limit; stratus' 10/1 over it ${(r / rr).toFixed(2)} |`,
  );
  console.log(
    `| virsh create --paused of 10 at once (no guest boots meanwhile) | ${stats(rawTenPaused)} | ratio to 1 started ${median(rawTenPaused.map((t, i) => t / rawOne[i]!)).toFixed(2)} |`,
  );
  console.log(
    `| apply 10 servers -parallelism=1 | ${stats(tenP1)} | ratio to default ${median(tenP1.map((t, i) => t / ten[i]!)).toFixed(2)} |`,
  );
  console.log(`| remove the 10 servers (apply) | ${stats(destroyTen)} | |`);
  console.log(
    `| no-op plan, refresh of 10 servers (guests up) | ${stats(planRefresh, msf)} | <= ${TARGETS.noopPlanMs} ms: ${verdict(median(planRefresh) <= TARGETS.noopPlanMs)} |`,
  );
  console.log(
    `| the same while the ten guests boot | ${stats(planBooting, msf)} | (both cores busy with TCG) |`,
  );
  console.log(
    `| no-op plan -refresh=false (guests up) | ${stats(planNoRefresh, msf)} | (refresh costs ${msf(median(planRefresh) - median(planNoRefresh))}) |`,
  );
  console.log(
    `| agent RSS after the 10-server apply | ${stats(rssAfter, (x) => `${x.toFixed(0)} MB`)} | <= ${TARGETS.rssMb} MB: ${verdict(Math.max(...rssAfter) <= TARGETS.rssMb)} |`,
  );
}

// ---------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  assert.ok(existsSync(CLI) && existsSync(AGENT), 'build first: npx turbo run build');
  assert.ok(existsSync(IMAGE), 'build the guest image first: bash scripts/build-guest-image.sh');
  agent = await startAgent();
  await sleep(2000);
  const idle = rssMb(agent.pid!);
  console.log(
    `node ${process.version}; ${RUNS} runs side by side, ${SCALE_RUNS} scale rounds; shared machine: compare ratios within this run`,
  );
  console.log(
    `agent RSS idle after start: ${idle.toFixed(0)} MB (target <= ${TARGETS.rssMb} MB: ${verdict(idle <= TARGETS.rssMb)}); ${await agentMemory()}\n`,
  );
  if (!opts['skip-side']) await sideBySide();
  if (!opts['skip-scale']) {
    console.log('');
    await scale(agent.pid!);
  }
  await sleep(2000);
  console.log(
    `\nagent RSS at the end (stack holds no servers): ${rssMb(agent.pid!).toFixed(0)} MB; ${await agentMemory()}`,
  );
}

async function cleanup(): Promise<void> {
  for (const d of domains) {
    await virsh('destroy', d);
    await virsh('undefine', d);
  }
  if (existsSync(stateFile) && agent && agent.exitCode === null) {
    // An apply this run started may still hold the state lock (interrupted mid-apply): wait for it.
    const r = await stratus('destroy', '-auto-approve', '-lock-timeout=600s');
    if (r.code !== 0) console.error(`cleanup: destroy failed:\n${r.stderr}`);
  }
  if (agent && agent.exitCode === null) {
    const exited = new Promise((r) => agent!.once('exit', r));
    agent.kill('SIGTERM');
    await exited;
  }
  if (process.env.BENCH_KEEP) console.error(`kept ${dir}`);
  else rmSync(dir, { recursive: true, force: true });
}

// Interrupted (Ctrl-C, a timeout): the domains, the stack and the agent go all the same, once.
let interrupted = false;
for (const sig of ['SIGINT', 'SIGTERM'] as const)
  process.once(sig, () => {
    if (interrupted) return;
    interrupted = true;
    console.error(`${sig}: cleaning up`);
    cleanup().finally(() => process.exit(1));
  });

try {
  await main();
} catch (e) {
  console.error(e);
  process.exitCode = 1;
} finally {
  await cleanup();
}
