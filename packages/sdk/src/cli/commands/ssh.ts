/**
 * `stratus ssh [STACK] SERVER [-- COMMAND...]`: OpenSSH to a server that has no floating IP, through its
 * agent: ssh's ProxyCommand is this CLI (`stratus ssh -proxy`), which opens a tunnel over the agent's API;
 * the agent connects from the network's DHCP namespace. The key pair's private key is used when Stratus
 * generated it (it is in state); host keys are pinned per server id in Stratus's own known_hosts file.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentApiError } from '../../client/errors.js';
import { LOCAL_HOST } from '../../client/pool.js';
import type { StateResource } from '../../state/types.js';
import { CliError, usageError } from '../args.js';
import { err } from '../io.js';
import type { Ctx } from '../registry.js';
import { backendFor, loadChecked, localProviders } from '../session.js';

/** A word for /bin/sh (ssh runs ProxyCommand through the user's shell): single-quoted. */
const shellWord = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;

/** Where Stratus pins the host keys of servers (by `HostKeyAlias=stratus-<server id>`). */
export function knownHostsFile(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_STATE_HOME || join(env.HOME || homedir(), '.local', 'state');
  return join(base, 'stratus', 'known_hosts');
}

/** `stratus ssh -proxy -host=HOST SERVER_ID [-port=N]`: relays stdin/stdout through an agent tunnel. */
async function proxy(ctx: Ctx): Promise<number> {
  const id = ctx.args[0];
  if (!id) throw usageError(ctx.command, 'ssh -proxy takes a SERVER_ID');
  const port = Number(ctx.flags.port ?? 22);
  const { pool } = localProviders((m) => err.write(`${m}\n`));
  try {
    const client = await pool.client((ctx.flags.host as string | undefined) ?? LOCAL_HOST);
    let socket: Awaited<ReturnType<typeof client.openTunnel>>;
    try {
      socket = await client.openTunnel(id, port);
    } catch (e) {
      if (AgentApiError.isInstance(e)) {
        err.write(`stratus ssh: ${e.message}\n`);
        return 1;
      }
      throw e;
    }
    process.stdin.pipe(socket);
    socket.pipe(process.stdout);
    await new Promise<void>((resolve) => {
      socket.once('close', () => resolve());
      socket.once('error', (e) => {
        err.write(`stratus ssh: tunnel: ${e.message}\n`);
        resolve();
      });
    });
    return 0;
  } finally {
    await pool.close();
  }
}

/** Finds the server named `name` (a resource address, or a server id) in state. */
function findServer(resources: StateResource[], name: string): StateResource {
  const r = resources.find((x) => x.type === 'server' && (x.name === name || x.id === name));
  if (r) return r;
  const servers = resources.filter((x) => x.type === 'server').map((x) => x.name);
  throw new CliError(
    `no server named ${name} in state${servers.length ? ` (servers: ${servers.join(', ')})` : ''}`,
  );
}

/** `stratus ssh`: see the module comment. */
export async function cmdSsh(ctx: Ctx): Promise<number> {
  if (ctx.flags.proxy) return proxy(ctx);
  const [target, ...command] = ctx.args;
  if (!target) throw usageError(ctx.command, 'ssh takes a SERVER (its name in the stack, or its id)');
  const at = target.lastIndexOf('@');
  const user = at >= 0 ? target.slice(0, at) : (ctx.flags.user as string | undefined);
  const name = at >= 0 ? target.slice(at + 1) : target;
  const { config } = await loadChecked(ctx.stack);
  const doc = await backendFor(config, ctx.flags).read();
  const resources = doc?.resources ?? [];
  const server = findServer(resources, name);
  const host = server.host ?? LOCAL_HOST;
  const port = Number(ctx.flags.port ?? 22);
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw usageError(ctx.command, '-port must be an integer from 1 to 65535');

  const dir = mkdtempSync(join(tmpdir(), 'stratus-ssh-'));
  try {
    const args: string[] = [];
    const identity = ctx.flags.identity as string | undefined;
    const kp = resources.find((x) => x.type === 'keypair' && x.id === server.attributes.keyPair);
    const generated = kp?.attributes.privateKey;
    if (identity) args.push('-i', identity);
    else if (typeof generated === 'string' && generated) {
      const key = join(dir, 'id');
      writeFileSync(key, generated.endsWith('\n') ? generated : `${generated}\n`, { mode: 0o600 });
      args.push('-i', key, '-o', 'IdentitiesOnly=yes');
    }
    const known = knownHostsFile();
    mkdirSync(join(known, '..'), { recursive: true, mode: 0o700 });
    const self = [process.execPath, ...process.execArgv, process.argv[1]!];
    const proxyCommand = [...self, 'ssh', '-proxy', `-host=${host}`, `-port=${port}`, server.id]
      .map(shellWord)
      .join(' ');
    args.push(
      '-o',
      `ProxyCommand=${proxyCommand}`,
      '-o',
      `HostKeyAlias=stratus-${server.id}`,
      '-o',
      `UserKnownHostsFile=${known}`,
      '-o',
      'StrictHostKeyChecking=accept-new',
      ...(ctx.flags.batch ? ['-o', 'BatchMode=yes'] : []),
      ...(user ? ['-l', user] : []),
      `stratus-${server.name}`,
    );
    if (command.length) args.push('--', ...command);
    const child = spawn('ssh', args, { stdio: 'inherit' });
    return await new Promise<number>((resolve, reject) => {
      child.once('error', (e) =>
        reject(new CliError(`cannot run ssh (is OpenSSH installed?): ${e.message}`)),
      );
      child.once('close', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
