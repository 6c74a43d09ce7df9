/**
 * Helpers for end-to-end tests against a real stratus-agent, libvirt, bridges and dnsmasq. Every test
 * gets a private agent state dir and socket; `cleanup` removes what it created, also after failures.
 */

import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { type Run, run as runCommand } from '../../packages/sdk/src/cli/testing.js';
import { agentLogFile } from '../support/logs.js';

export type { Run };

import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '../..');
/** The stratus command as installed: the package's `bin`, the CLI bundled by scripts/bundle-cli.ts. */
export const CLI = join(ROOT, 'packages/sdk/dist/bundle/stratus.js');
export const AGENT = join(ROOT, 'packages/agent/dist/main.js');
export const IMAGE = join(ROOT, 'build/images/stratus-guest.qcow2');

/** Runs a command with an argument array and collects its output. */
export const run = (cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> =>
  runCommand(cmd, args, { env });

/** Synchronous command output (trimmed), or '' when it fails. */
export function sh(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : '';
}

/** A private agent environment: state dir, socket, and the env vars that point the CLI at them. */
export interface AgentEnv {
  dir: string;
  stateDir: string;
  env: NodeJS.ProcessEnv;
  stratus(...args: string[]): Promise<Run>;
  /**
   * Starts this env's own agent (with extra flags) and waits until its socket is there; cleanup stops
   * it. Its log (JSON lines and anything else it prints) goes to a file that failures name.
   */
  startAgent(...extra: string[]): Promise<ChildProcess>;
  /** The log files of the agents this env started, oldest first. */
  agentLogs: string[];
  /** The pid of the agent serving this env (from its host info), if one runs. */
  agentPid(): number | null;
  /** Destroys stacks by their state files, kills the agent, removes host objects and files. */
  cleanup(stateFiles: string[]): Promise<void>;
}

/** Creates a private agent environment under a fresh temp dir (mode 0711 so libvirt's qemu user can reach disks). */
export function agentEnv(prefix: string): AgentEnv {
  const dir = mkdtempSync(join(tmpdir(), `stratus-${prefix}-`));
  spawnSync('chmod', ['0711', dir]);
  const stateDir = join(dir, 'agent');
  const env = { STRATUS_AGENT_STATE_DIR: stateDir, STRATUS_AGENT_SOCKET: join(dir, 'agent.sock') };
  const agents: ChildProcess[] = [];
  const self: AgentEnv = {
    dir,
    stateDir,
    env,
    agentLogs: [],
    stratus: (...args) => run(process.execPath, [CLI, ...args], env),
    async startAgent(...extra) {
      // A killed agent leaves its socket file: without this, the wait below would end at once, before
      // the new agent listens (and a command run meanwhile would find no one on the socket).
      rmSync(env.STRATUS_AGENT_SOCKET, { force: true });
      const logFile = agentLogFile(prefix);
      self.agentLogs.push(logFile);
      const fd = openSync(logFile, 'a', 0o600);
      const a = spawn(
        process.execPath,
        [AGENT, '--state-dir', stateDir, '--socket', env.STRATUS_AGENT_SOCKET, ...extra],
        {
          stdio: ['ignore', fd, fd],
          env: { ...process.env, STRATUS_AGENT_LOG_FILE: logFile },
        },
      );
      closeSync(fd);
      agents.push(a);
      // Generous: a loaded 2-core host takes seconds to start node and probe the hypervisor.
      const deadline = Date.now() + 180_000;
      while (!existsSync(env.STRATUS_AGENT_SOCKET) && a.exitCode === null && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 100));
      if (!existsSync(env.STRATUS_AGENT_SOCKET))
        throw new Error(`agent did not start (exit ${a.exitCode}); its log: ${logFile}`);
      return a;
    },
    agentPid() {
      // The agent claims its state dir with a pid file (also when the CLI started it).
      try {
        const pid = Number(readFileSync(join(stateDir, 'agent.pid'), 'utf8').trim());
        return Number.isInteger(pid) && pid > 0 ? pid : null;
      } catch {
        return null;
      }
    },
    async cleanup(stateFiles) {
      for (const f of stateFiles) {
        if (!existsSync(f)) continue;
        const r = await self.stratus('destroy', '--auto-approve', '--state', f, join(dir, 'stack.yaml'));
        if (r.code !== 0) process.stderr.write(`cleanup: destroy failed: ${r.stderr}\n`);
        sweep(stateIds(f));
      }
      sweepAgentRecords(stateDir);
      for (const a of agents) a.kill('SIGKILL');
      const pid = self.agentPid();
      if (pid) {
        try {
          process.kill(pid, 'SIGTERM');
        } catch {
          // Already gone.
        }
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return self;
}

/**
 * What an agent's image cache (`<stateDir>/images`) holds: its entries, with the content-addressed
 * `blobs` folder given as `blobs/<name>` per blob (an empty one is the cache's structure, not content).
 */
export function imageCache(stateDir: string): string[] {
  const dir = join(stateDir, 'images');
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((n) =>
    n === 'blobs' ? readdirSync(join(dir, n)).map((b) => `blobs/${b}`) : [n],
  );
}

/** Ids of resources in a state file, with their types. */
export function stateIds(stateFile: string): { type: string; id: string; name: string }[] {
  try {
    const doc = JSON.parse(readFileSync(stateFile, 'utf8')) as {
      resources: { type: string; id: string; name: string }[];
    };
    return doc.resources.map((r) => ({ type: r.type, id: r.id, name: r.name }));
  } catch {
    return [];
  }
}

const short = (id: string, n: number) => id.replace(/-/g, '').slice(0, n);

/**
 * Host objects that carry one of these ids: domains, Linux and OVS bridges, OVS ports, namespaces, a
 * network's conntrack zone table, dnsmasq processes.
 */
export function hostObjectsFor(ids: string[]): string[] {
  const found: string[] = [];
  const domains = sh('virsh', ['-c', 'qemu:///system', 'list', '--all', '--name']).split('\n');
  const links = sh('ip', ['-o', 'link', 'show']);
  const netns = sh('ip', ['netns', 'list']);
  const procs = sh('ps', ['-eo', 'args']);
  const ovsBridges = sh('ovs-vsctl', ['--timeout=10', 'list-br']).split('\n');
  const nftTables = sh('nft', ['list', 'tables']);
  // Every OVS port's interface name and external_ids (Stratus tags its ports with the owner's id).
  const ovsPorts = sh('ovs-vsctl', [
    '--timeout=10',
    '--bare',
    '--columns=name,external_ids',
    'list',
    'interface',
  ]);
  for (const id of ids) {
    if (domains.includes(`stratus-${id}`)) found.push(`domain stratus-${id}`);
    if (links.includes(`brq${short(id, 11)}`)) found.push(`bridge brq${short(id, 11)}`);
    if (ovsBridges.includes(`bro${short(id, 11)}`)) found.push(`OVS bridge bro${short(id, 11)}`);
    if (links.includes(`tap${short(id, 10)}`)) found.push(`tap of ${id}`);
    if (ovsPorts.includes(id) || ovsPorts.includes(`tap${short(id, 10)}`)) found.push(`OVS port of ${id}`);
    if (netns.includes(`qdhcp-${id}`)) found.push(`netns qdhcp-${id}`);
    if (nftTables.includes(`stratus-net-${id}`)) found.push(`nft table stratus-net-${id}`);
    if (procs.split('\n').some((p) => p.includes('dnsmasq') && p.includes(id)))
      found.push(`dnsmasq of ${id}`);
  }
  return found;
}

/** Last-resort removal of host objects by id, for cleanup after a failed test. */
export function sweep(res: { id: string }[]): void {
  for (const { id } of res) {
    spawnSync('virsh', ['-c', 'qemu:///system', 'destroy', `stratus-${id}`]);
    spawnSync('virsh', ['-c', 'qemu:///system', 'undefine', '--nvram', `stratus-${id}`]);
    spawnSync('pkill', ['-f', `dnsmasq.*${id}`]);
    spawnSync('ip', ['netns', 'delete', `qdhcp-${id}`]);
    spawnSync('ip', ['link', 'delete', `brq${short(id, 11)}`]);
    spawnSync('nft', ['delete', 'table', 'inet', `stratus-net-${id}`]);
    spawnSync('ovs-vsctl', ['--timeout=10', '--if-exists', 'del-br', `bro${short(id, 11)}`]);
  }
}

/** Sweeps host objects of every record an agent state dir holds. */
export function sweepAgentRecords(stateDir: string): void {
  const ids: { id: string }[] = [];
  for (const c of ['servers', 'subnets', 'networks', 'images']) {
    const d = join(stateDir, 'records', c);
    if (!existsSync(d)) continue;
    for (const f of spawnSync('ls', [d], { encoding: 'utf8' }).stdout.split('\n'))
      if (f.endsWith('.json')) ids.push({ id: f.slice(0, -5) });
  }
  sweep(ids);
}

/** An HTTP GET made from inside a network namespace (node's fetch, so no HTTP client is assumed on the host). */
export function httpGetInNetns(ns: string, url: string): Promise<Run> {
  const script = `fetch(${JSON.stringify(url)}, { signal: AbortSignal.timeout(120000) }).then(async (r) => process.stdout.write(await r.text()))`;
  return run('ip', ['netns', 'exec', ns, process.execPath, '-e', script]);
}

/**
 * Waits for the guest's ready line in a console log; returns its fields. The default limit is far
 * above the slowest boot seen (about 20 s idle, a few minutes on a loaded 2-core TCG host): it only
 * ends a boot that hangs.
 */
export async function waitForReady(consoleLog: string, timeoutMs = 900_000): Promise<Record<string, string>> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    let text = '';
    try {
      text = readFileSync(consoleLog, 'utf8');
    } catch {
      // Not created yet.
    }
    const line = text.split(/\r?\n/).find((l) => l.startsWith('STRATUS-GUEST-READY'));
    if (line)
      return Object.fromEntries(
        line
          .split(' ')
          .slice(1)
          .map((kv) => kv.split('=') as [string, string]),
      );
    await new Promise((r) => setTimeout(r, 1000));
  }
  throw new Error(`no STRATUS-GUEST-READY line in ${consoleLog} within ${timeoutMs / 1000}s`);
}

/** Stratus's content checksum of file `f` by its definition (@stratus/util sparse.ts), from every byte. */
export function contentChecksum(f: string): string {
  const data = readFileSync(f);
  const blocks: [number, Buffer][] = [];
  for (let off = 0; off < data.length; off += 65536) blocks.push([off, data.subarray(off, off + 65536)]);
  return contentChecksumOf(data.length, blocks);
}

/**
 * Stratus's content checksum by its definition of a file of `size` bytes whose 64 KiB blocks at the given
 * offsets (increasing) hold the given bytes, and all others zeros.
 */
export function contentChecksumOf(size: number, blocks: Iterable<[number, Buffer]>): string {
  const outer = createHash('sha256');
  for (const [off, block] of blocks) {
    if (block.equals(Buffer.alloc(block.length))) continue;
    const head = Buffer.alloc(8);
    head.writeBigUInt64BE(BigInt(off));
    outer.update(head).update(createHash('sha256').update(block).digest());
  }
  const tail = Buffer.alloc(8);
  tail.writeBigUInt64BE(BigInt(size));
  return outer.update(tail).digest('hex');
}
