import { execFile } from 'node:child_process';
import { createReadStream, existsSync, readFileSync, statSync, watch } from 'node:fs';
import { resolve, sep } from 'node:path';
import type { ApiHostInfo, DoctorCheck } from '@stratus/model';
import { type LocalAgentPaths, localAgentPaths } from '@stratus/util';
import { AgentClient } from '../../client/agent-client.js';
import { agentEntry, socketAnswers } from '../agent-launch.js';
import { CliError, usageError } from '../args.js';
import { out, say } from '../io.js';
import type { Ctx } from '../registry.js';
import { SDK_DIR } from '../version.js';

/** The quickstart's guest image, when this CLI runs from a clone of the repository. */
function repoGuestImage(): string | undefined {
  const root = resolve(SDK_DIR, '../..') + sep;
  if (!existsSync(`${root}scripts/build-guest-image.sh`)) return undefined;
  return `${root}build/images/stratus-guest.qcow2`;
}

/** The local agent's answer to `GET /v1/host`, or why there is none. */
async function agentInfo(paths: LocalAgentPaths): Promise<{ info?: ApiHostInfo; why?: string }> {
  if (!(await socketAnswers(paths.socket))) return { why: `nothing answers on ${paths.socket}` };
  const client = new AgentClient(
    { socket: paths.socket, tokenFile: paths.tokenFile },
    { maxElapsedMs: 5_000, initialDelayMs: 200, maxDelayMs: 1_000 },
  );
  try {
    return { info: await client.get<ApiHostInfo>('/v1/host') };
  } catch (e) {
    return { why: (e as Error).message };
  } finally {
    await client.close();
  }
}

/** The agent socket's check: not required, since the CLI starts an agent when none runs. */
async function agentCheck(paths: LocalAgentPaths): Promise<DoctorCheck> {
  const { info, why } = await agentInfo(paths);
  if (info)
    return {
      name: 'stratus-agent',
      status: 'ok',
      required: false,
      detail: `pid ${info.pid} answers on ${paths.socket} (guests: ${info.virtType}; state ${info.stateDir})`,
    };
  return {
    name: 'stratus-agent',
    status: 'warn',
    required: false,
    detail: `no agent: ${why}`,
    fix: `the next command that needs one starts it (its log: ${paths.logFile}); or start it yourself: stratus-agent`,
  };
}

/**
 * `stratus doctor [-json]`: every host prerequisite with what to do when it fails, and whether guests
 * run under KVM or TCG. The host checks are the agent's (`stratus-agent doctor`, run as a child: the
 * CLI runs no host command itself); the CLI adds its agent's socket. Exit 1 when a required one fails.
 */
export async function cmdDoctor(ctx: Ctx): Promise<number> {
  if (ctx.args.length) throw usageError(ctx.command, 'doctor takes no arguments');
  const paths = localAgentPaths();
  const image = repoGuestImage();
  const args = [agentEntry(), 'doctor', '--json', ...(image ? ['--guest-image', image] : [])];
  const [host, agent] = await Promise.all([
    new Promise<DoctorCheck[]>((resolve, reject) =>
      execFile(process.execPath, args, { maxBuffer: 1 << 20, timeout: 300_000 }, (err, stdout, stderr) => {
        // Exit 1 means a required check failed: the report is still on stdout.
        try {
          resolve(JSON.parse(stdout) as DoctorCheck[]);
        } catch {
          reject(new CliError(`stratus-agent doctor failed: ${(stderr || err?.message || stdout).trim()}`));
        }
      }),
    ),
    agentCheck(paths),
  ]);
  const checks = [...host, agent];
  const failed = checks.filter((c) => c.status === 'fail');
  if (ctx.flags.json) {
    out.write(`${JSON.stringify({ ok: failed.length === 0, checks }, null, 2)}\n`);
    return failed.length ? 1 : 0;
  }
  const mark = { ok: 'ok  ', warn: 'warn', fail: 'FAIL' } as const;
  for (const c of checks) {
    out.write(`[${mark[c.status]}] ${c.name}: ${c.detail}\n`);
    if (c.fix && c.status !== 'ok') out.write(`       To fix: ${c.fix}\n`);
  }
  const hv = checks.find((c) => c.name === 'hypervisor');
  const how = hv?.virtType === 'kvm' ? 'KVM' : 'TCG (no usable KVM)';
  out.write(
    failed.length
      ? `\n${failed.length} required prerequisite${failed.length === 1 ? '' : 's'} failed: ${failed.map((c) => c.name).join(', ')}. Fix ${failed.length === 1 ? 'it' : 'them'} as said above, then run stratus doctor again.\n`
      : `\nEvery required prerequisite is met; guests run under ${how}.\n`,
  );
  return failed.length ? 1 : 0;
}

/** The local agent's pid from its pid file, when that process is alive. */
function livePid(paths: LocalAgentPaths): number | undefined {
  let pid: number;
  try {
    pid = Number(readFileSync(`${paths.stateDir}/agent.pid`, 'utf8').trim());
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined;
  }
}

/** `stratus agent status [-json]`: whether the local agent runs, its pid, socket, log and guest type. */
export async function cmdAgentStatus(ctx: Ctx): Promise<number> {
  if (ctx.args.length) throw usageError(ctx.command, 'agent status takes no arguments');
  const paths = localAgentPaths();
  const { info, why } = await agentInfo(paths);
  const pid = info?.pid ?? livePid(paths);
  if (ctx.flags.json) {
    out.write(
      `${JSON.stringify({ running: info !== undefined, pid: pid ?? null, socket: paths.socket, stateDir: paths.stateDir, log: paths.logFile, host: info ?? null, error: info ? null : why }, null, 2)}\n`,
    );
    return info ? 0 : 1;
  }
  if (info)
    out.write(
      `stratus-agent is running (pid ${info.pid}).\n  Socket:    ${paths.socket}\n  State dir: ${info.stateDir}\n` +
        `  Log:       ${paths.logFile}\n  Guests:    ${info.virtType === 'kvm' ? 'KVM' : 'TCG (qemu)'}: ${info.virtReason}\n`,
    );
  else
    out.write(
      `stratus-agent is not running${pid ? ` (pid ${pid} is alive but does not answer: ${why})` : ` (${why})`}.\n` +
        '  The next command that needs it starts it, or start it yourself: stratus-agent\n',
    );
  return info ? 0 : 1;
}

/**
 * `stratus agent stop`: stops the local agent (SIGTERM) and waits until it is gone. Guests keep running:
 * they are libvirt's; the next command starts an agent again, which takes them up where they are.
 */
export async function cmdAgentStop(ctx: Ctx): Promise<number> {
  if (ctx.args.length) throw usageError(ctx.command, 'agent stop takes no arguments');
  const paths = localAgentPaths();
  const pid = livePid(paths);
  if (pid === undefined) {
    out.write(`stratus-agent is not running (no live pid in ${paths.stateDir}/agent.pid).\n`);
    return 0;
  }
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    try {
      process.kill(pid, 0);
    } catch {
      out.write(
        `Stopped stratus-agent (pid ${pid}). Servers keep running; the next command starts it again.\n`,
      );
      return 0;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new CliError(`stratus-agent (pid ${pid}) did not stop within 60 s of SIGTERM; see ${paths.logFile}`);
}

/** `stratus agent logs [-tail=N] [-follow]`: the local agent's log (JSON lines), as it writes it. */
export async function cmdAgentLogs(ctx: Ctx): Promise<number> {
  if (ctx.args.length) throw usageError(ctx.command, 'agent logs takes no arguments');
  const paths = localAgentPaths();
  const tail = ctx.flags.tail === undefined ? undefined : Number(ctx.flags.tail);
  if (tail !== undefined && (!Number.isInteger(tail) || tail < 0))
    throw usageError(ctx.command, '-tail must be a whole number of lines');
  if (!existsSync(paths.logFile))
    throw new CliError(
      `no agent log at ${paths.logFile}: an agent the CLI starts writes there (one started by hand logs to its stderr, or to STRATUS_AGENT_LOG_FILE)`,
    );
  const text = readFileSync(paths.logFile, 'utf8');
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  const shown = tail === undefined ? lines : tail === 0 ? [] : lines.slice(-tail);
  if (shown.length) out.write(`${shown.join('\n')}\n`);
  if (!ctx.flags.follow) return 0;
  // Follows appends until interrupted, as `tail -f` does.
  let pos = statSync(paths.logFile).size;
  await new Promise<void>((resolve) => {
    const w = watch(paths.logFile, () => {
      const size = statSync(paths.logFile, { throwIfNoEntry: false })?.size ?? 0;
      if (size < pos) pos = 0;
      if (size === pos) return;
      const from = pos;
      pos = size;
      createReadStream(paths.logFile, { start: from, end: size - 1 }).pipe(out, { end: false });
    });
    process.once('SIGINT', () => {
      w.close();
      resolve();
    });
  });
  say('');
  return 0;
}
